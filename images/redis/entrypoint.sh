#!/bin/sh
# Start Redis as the redis user with the configuration the supervisor copied in (root-only
# at /etc/redis/commonscloud.conf: it holds the password), moved to a private copy the redis
# user can read.
set -eu
mkdir -p /run/redis /var/lib/redis
chown redis:redis /run/redis /var/lib/redis
install -o redis -g redis -m 0600 /etc/redis/commonscloud.conf /run/redis/redis.conf
exec setpriv --reuid redis --regid redis --init-groups redis-server /run/redis/redis.conf
