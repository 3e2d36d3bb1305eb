#!/bin/sh
# Start MariaDB: initialise the data volume on first start (root only through the local
# socket), size the buffer pool from CC_MEMORY_MB (the container's limit), then serve in the
# foreground as the mysql user on every address of the addon's network.
set -eu
data=/var/lib/mysql
mem=${CC_MEMORY_MB:-512}
mkdir -p /run/mysqld "$data" /var/lib/mysql-dumps
chown mysql:mysql /run/mysqld "$data"
chmod 0700 /var/lib/mysql-dumps
if [ ! -d "$data/mysql" ]; then
  echo "mariadb: initialising $data" >&2
  mariadb-install-db --user=mysql --datadir="$data" --auth-root-authentication-method=socket \
    --skip-test-db >/dev/null
fi
cat > /etc/mysql/mariadb.conf.d/90-commonscloud.cnf <<CNF
[mariadbd]
bind-address = 0.0.0.0
skip-name-resolve
character-set-server = utf8mb4
collation-server = utf8mb4_unicode_ci
innodb_buffer_pool_size = $((mem / 2))M
max_connections = 200
max_allowed_packet = 64M
sql_mode = STRICT_ALL_TABLES
CNF
exec mariadbd --user=mysql --datadir="$data"
