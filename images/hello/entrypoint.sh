#!/bin/sh
# Record the start in the data volume, then serve in the foreground.
set -eu
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) started" >> /data/starts.log
echo "hello: serving on :8080 (start $(wc -l < /data/starts.log))"
exec busybox httpd -f -v -p 8080 -h /srv/www
