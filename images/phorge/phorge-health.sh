#!/bin/sh
# Health of either role: the web role answers php-fpm's ping through nginx (no database, no
# Phorge: the web component must be healthy before the configure hook creates the schema);
# the daemons role is healthy while its foreground process runs.
case "$(cat /run/phorge/role 2>/dev/null)" in
    daemons) exec pgrep -f /usr/local/bin/phorge-daemons >/dev/null ;;
    *) exec curl -fsS -o /dev/null --max-time 4 http://127.0.0.1:8080/healthz ;;
esac
