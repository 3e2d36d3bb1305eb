#!/bin/sh
# edge-reload NAME: check the configuration staged in /etc/commonscloud/edge/staged/NAME
# with `nginx -t`; only when it passes, point `live` at it and reload nginx gracefully (old
# workers finish their requests). A configuration that fails the check never goes live: the
# running one keeps serving and this script exits 1 with nginx's message.
set -eu
edge=/etc/commonscloud/edge
name="$1"
case "$name" in
    ''|*/*|.*) echo "edge-reload: bad configuration name '$name'" >&2; exit 2 ;;
esac
dir="$edge/staged/$name"
[ -f "$dir/nginx.conf" ] || { echo "edge-reload: $dir/nginx.conf is missing" >&2; exit 2; }
if ! nginx -t -q -c "$dir/nginx.conf"; then
    rm -rf "$dir"
    exit 1
fi
old="$(basename "$(readlink "$edge/live")")"
ln -sfn "staged/$name" "$edge/live.next"
mv -T "$edge/live.next" "$edge/live"
kill -HUP "$(cat /run/nginx.pid)"
# A reload is asynchronous: the master starts new workers, then tells the old ones to finish.
# Wait until the new workers answer (three times in a row), so that the caller knows the new
# configuration serves when this returns.
seen=0
for _ in $(seq 1 200); do
    if [ "$(curl -fsS --max-time 1 http://127.0.0.1:8081/config 2>/dev/null)" = "$name" ]; then
        seen=$((seen + 1))
        [ "$seen" -ge 3 ] && break
    else
        seen=0
    fi
    sleep 0.05
done
if [ "$seen" -lt 3 ]; then
    echo "edge-reload: nginx did not take up $name within 10 s; see the edge's logs" >&2
    exit 1
fi
# Keep the live configuration and the one before it (for a look after a bad reload).
for d in "$edge"/staged/*; do
    b="$(basename "$d")"
    [ "$b" = "$name" ] || [ "$b" = "$old" ] || rm -rf "$d"
done
echo "edge-reload: $name is live"
