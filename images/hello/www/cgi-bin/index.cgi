#!/bin/sh
# `/` (and `/health/`, where busybox httpd redirects `/health`): busybox httpd runs this for a
# folder URL without index.html.
case "$REQUEST_URI" in
  /health/*) exec /srv/www/cgi-bin/health ;;
esac
greeting=$(printf '%s' "${GREETING:-Hello from CommonsCloud}" \
  | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g')
printf 'Content-Type: text/html; charset=utf-8\r\n\r\n'
cat <<HTML
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>CommonsCloud hello</title></head>
<body><h1>$greeting</h1><p>The CommonsCloud demo app is running.</p></body>
</html>
HTML
