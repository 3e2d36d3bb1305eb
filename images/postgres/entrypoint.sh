#!/bin/sh
# Start PostgreSQL: initialise the data volume on first start (UTF-8, scram-sha-256), size
# its memory from CC_MEMORY_MB (the container's limit, set by the supervisor from the host),
# then serve in the foreground as the postgres user.
set -eu
data=/var/lib/postgresql/data
mem=${CC_MEMORY_MB:-512}
mkdir -p /run/postgresql "$data" /var/lib/postgresql/dumps
chown postgres:postgres /run/postgresql "$data" /var/lib/postgresql/dumps
chmod 0700 /var/lib/postgresql/dumps
chmod 0700 "$data"
as_pg() { setpriv --reuid postgres --regid postgres --init-groups "$@"; }

if [ ! -s "$data/PG_VERSION" ]; then
  echo "postgres: initialising $data" >&2
  as_pg initdb -D "$data" --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=peer --auth-host=scram-sha-256 >/dev/null
fi
# Our settings live in their own file, rewritten at every start; postgresql.conf includes it.
grep -q "^include_if_exists = 'commonscloud.conf'" "$data/postgresql.conf" \
  || echo "include_if_exists = 'commonscloud.conf'" >> "$data/postgresql.conf"
cat > "$data/commonscloud.conf" <<CONF
listen_addresses = '*'
password_encryption = scram-sha-256
shared_buffers = $((mem / 4))MB
effective_cache_size = $((mem / 2))MB
work_mem = $((mem / 64 > 4 ? mem / 64 : 4))MB
maintenance_work_mem = $((mem / 16))MB
max_connections = 200
log_destination = 'stderr'
log_min_duration_statement = 2000
CONF
# Local socket: peer (the supervisor, as postgres). Network: passwords, each role only into
# the databases it may connect to (CONNECT is revoked from PUBLIC per database).
cat > "$data/pg_hba.conf" <<HBA
local all postgres peer
local all all scram-sha-256
host  all all 0.0.0.0/0 scram-sha-256
host  all all ::/0 scram-sha-256
HBA
chown postgres:postgres "$data/commonscloud.conf" "$data/pg_hba.conf"
exec setpriv --reuid postgres --regid postgres --init-groups postgres -D "$data"
