#!/bin/sh
# As root: hand the password files (copied in by the supervisor, 0600 root) to the portal's
# user on a private tmpfs folder, own the state volume; then run the portal as that user.
set -eu
install -d -o portal -g portal -m 0700 /run/portal
for f in /run/commonscloud/*.password; do
    [ -e "$f" ] && install -o portal -g portal -m 0400 "$f" "/run/portal/$(basename "$f")"
done
chown portal:portal /var/lib/portal
exec setpriv --reuid=portal --regid=portal --init-groups \
    /usr/local/bin/commonscloud portal --config /etc/commonscloud/portal.yaml
