#!/bin/sh
# The configure hook of Phorge ({{ app.fqdn }}): runs as the phorge user in the web container
# after each (re)start, and is idempotent. See docs/apps/phorge.md.
#   1. wait for MariaDB (a platform service shared by the node's apps);
#   2. create or upgrade Phorge's databases (<namespace>_*);
#   3. write the directory login (Phorge's LDAP auth provider) and turn password logins off;
#   4. make the administrators named in the `admins` setting ($1) who have an account;
#   5. lock the auth provider configuration, then read everything back.
set -euf  # -f: no globbing of the names in `admins`
phorge=${PHORGE_ROOT:-/opt/phorge/phorge}
lib=${PHORGE_LIB:-/usr/local/lib/phorge}
here=${PHORGE_CONF:-/etc/phorge}
admins=${1:-}

tries=0
until php "$lib/db-ready.php"; do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then
        echo "configure: MariaDB did not accept Phorge's credentials in 5 minutes" >&2
        exit 1
    fi
    sleep 5
done

"$phorge/bin/storage" upgrade --force

php "$here/ldap-provider.php" apply "$here/ldap-provider.json"

# Names are split on commas and blanks; ldap-provider.php prints those that are valid,
# have an account and are not administrators yet.
names=$(printf '%s\n' "$admins" | tr ',' ' ')
if [ -n "$(printf '%s' "$names" | tr -d ' \t\n')" ]; then
    # shellcheck disable=SC2086 # one argument a name
    promote=$(php "$here/ldap-provider.php" admins $names)
    for name in $promote; do
        "$phorge/bin/user" empower --user "$name"
    done
fi

"$phorge/bin/auth" lock
php "$here/ldap-provider.php" verify "$here/ldap-provider.json"
