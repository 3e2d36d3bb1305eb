#!/bin/sh
# As root: let the phorge user read the configuration the supervisor copied in (root's) and
# own its data folders; then run the role as phorge.
#   entrypoint web       nginx in front of php-fpm on :8080 (the web and cdn components)
#   entrypoint daemons   Phorge's daemons in the foreground
#   entrypoint CMD...    anything else, as phorge
set -eu
local_json=/opt/phorge/phorge/conf/local/local.json
if [ -e "$local_json" ]; then
    chown root:phorge "$local_json"
    chmod 0640 "$local_json"
fi
chown -R root:phorge /etc/phorge
chmod -R u=rwX,g=rX,o= /etc/phorge
install -d -o phorge -g phorge -m 0750 /run/phorge /var/tmp/phd /var/tmp/phd/log
for dir in /var/lib/phorge /var/lib/phorge/files /var/lib/phorge/dump /var/repo; do
    if [ -d "$dir" ]; then chown phorge:phorge "$dir"; fi
done

role=${1:-web}
echo "$role" > /run/phorge/role
case "$role" in
    web) set -- /usr/local/bin/phorge-web ;;
    daemons) set -- /usr/local/bin/phorge-daemons ;;
esac
exec setpriv --reuid=phorge --regid=phorge --init-groups \
    env HOME=/var/lib/phorge USER=phorge LOGNAME=phorge "$@"
