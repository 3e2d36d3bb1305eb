#!/bin/sh
# Start nginx on the live configuration: the boot one until the supervisor pushes the node's.
# `live` is a symbolic link, swapped atomically by edge-reload; nginx resolves the relative
# paths of a configuration (includes, certificates) against the folder of its nginx.conf.
set -eu
edge=/etc/commonscloud/edge
if [ ! -e "$edge/live/nginx.conf" ]; then
    ln -sfn boot "$edge/live"
fi
# Access logs are per route under /var/log/commonscloud: rotate them hourly when they grow.
(
    while sleep 3600; do
        logrotate -s /var/log/commonscloud/.logrotate.status "$edge/logrotate.conf" || true
    done
) &
exec nginx -c "$edge/live/nginx.conf" -g 'daemon off;'
