#!/bin/sh
# Run by the image's entrypoint (as www-data) after it has put the code in place and before it
# starts Apache: install Nextcloud now, so that the web installer is never served. The full
# configuration follows in the recipe's configure hook once the container is healthy.
exec sh /usr/local/share/commonscloud/configure.sh install
