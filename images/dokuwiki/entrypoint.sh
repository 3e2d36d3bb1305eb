#!/bin/sh
# Start DokuWiki: the configuration the supervisor copied in (root-only: it holds the
# directory password) becomes readable by Apache's group, then Apache runs in the foreground.
set -eu
for f in /etc/dokuwiki/local.php /etc/dokuwiki/acl.auth.php; do
  if [ -f "$f" ]; then chown root:www-data "$f"; chmod 0640 "$f"; fi
done
chown -R www-data:www-data /var/lib/dokuwiki/data
# DokuWiki caches its configuration's age: a new local.php must invalidate the page cache.
touch /etc/dokuwiki/local.php
exec apache2ctl -DFOREGROUND
