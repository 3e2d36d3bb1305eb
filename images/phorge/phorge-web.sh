#!/bin/bash
# Phorge's web server: php-fpm and nginx (configured by the recipe in /etc/phorge), both in
# the foreground and logging to this process's stderr (-O, `-e stderr`, `error_log stderr`:
# a user that is not root may not reopen the container's stderr by path). When either stops,
# stop the other and exit non-zero, so Docker restarts the container; SIGTERM stops both
# gracefully (SIGQUIT lets requests in progress finish) and exits 0.
set -u
php-fpm --nodaemonize --force-stderr --fpm-config /etc/phorge/php-fpm.conf &
fpm=$!
nginx -e stderr -c /etc/phorge/nginx.conf -g 'daemon off;' &
web=$!

signalled=0
on_signal() {
    signalled=1
    kill -QUIT "$fpm" "$web" 2>/dev/null || true
}
trap on_signal TERM INT

# Returns when one of them exits, or when a trapped signal arrives.
wait -n "$fpm" "$web"
if [ "$signalled" = 0 ]; then
    echo "phorge-web: php-fpm or nginx stopped; stopping the other" >&2
    kill -QUIT "$fpm" "$web" 2>/dev/null || true
fi
wait "$fpm" "$web" 2>/dev/null || true
if [ "$signalled" = 1 ]; then
    exit 0
fi
exit 1
