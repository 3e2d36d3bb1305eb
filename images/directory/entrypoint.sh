#!/bin/sh
# Start the directory:
#  1. rebuild cn=config from the image's template (an old config is never kept);
#  2. load the fixed entries into an empty database (first start);
#  3. with a private slapd on ldapi only: make sure the fixed entries exist, reset the
#     portal's authzTo, the system accounts' policy and the supervisor's and portal's
#     passwords from the files uploaded by the supervisor;
#  4. serve in the foreground as the openldap user on ldap:/// (389) and ldapi:///.
# Inputs: CC_DOMAIN, CC_BASE_DN; /run/commonscloud/{supervisor,portal}.password.
set -eu

share=/usr/local/share/directory
confdir=/etc/ldap/slapd.d
work=/run/slapd/setup
secrets=/run/slapd/secrets
setup_url="ldapi://%2Frun%2Fslapd%2Fsetup.sock"

say() { echo "directory: $*" >&2; }
die() { say "$*"; exit 1; }

domain=${CC_DOMAIN:-}
base=${CC_BASE_DN:-}
echo "$domain" | grep -Eq '^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$' \
  || die "CC_DOMAIN must be a domain name, got '$domain'"
echo "$base" | grep -Eq '^dc=[A-Za-z0-9-]+(,dc=[A-Za-z0-9-]+)*$' \
  || die "CC_BASE_DN must look like dc=example,dc=coop, got '$base'"
# slapd matches dn.regex against normalized DNs: lower case, no spaces.
base_re=$(echo "$base" | tr 'A-Z' 'a-z')
dc=$(echo "$base" | sed -e 's/^dc=//' -e 's/,.*//')

render() {
  sed -e "s|@BASE_DN@|$base|g" -e "s|@BASE_RE@|$base_re|g" \
      -e "s|@DOMAIN@|$domain|g" -e "s|@DC@|$dc|g" "$1"
}

# The secrets: first line of each file, kept root-only without its newline.
rm -rf "$work" "$secrets"
mkdir -p "$work" "$secrets" /run/slapd
chmod 0700 "$work" "$secrets"
chown openldap:openldap /run/slapd
for who in supervisor portal; do
  f=/run/commonscloud/$who.password
  [ -s "$f" ] || die "missing $f (the supervisor uploads it before start)"
  head -n1 "$f" | tr -d '\r\n' > "$secrets/$who"
  chmod 0600 "$secrets/$who"
  [ -s "$secrets/$who" ] || die "$f is empty"
done

# 1. cn=config, from scratch.
render "$share/config.ldif" > "$work/config.ldif"
rm -rf "$confdir"
mkdir -p "$confdir"
slapadd -n0 -F "$confdir" -l "$work/config.ldif" >/dev/null 2>"$work/slapadd.log" \
  || { cat "$work/slapadd.log" >&2; die "could not build cn=config"; }
chown -R openldap:openldap "$confdir"
chmod -R go-rwx "$confdir"

# 2. A restore: the LDIF a backup made replaces the whole database. Then, on first start,
#    an empty database gets the fixed entries.
render "$share/fixed.ldif" > "$work/fixed.ldif"
mkdir -p /var/lib/ldap
chown openldap:openldap /var/lib/ldap
chmod 0750 /var/lib/ldap
restore=/var/backups/directory/restore.ldif
if [ -s "$restore" ]; then
  say "restoring the database from $restore"
  find /var/lib/ldap -mindepth 1 -delete
  slapadd -q -F "$confdir" -b "$base" -l "$restore" >/dev/null 2>"$work/slapadd.log" \
    || { cat "$work/slapadd.log" >&2; die "could not load $restore (the database is empty; fix the file or restore another snapshot)"; }
  mv "$restore" "$restore.done"
fi
if [ -z "$(slapcat -F "$confdir" -b "$base" -a '(objectClass=dcObject)' 2>/dev/null | head -n1)" ]; then
  say "empty database: loading the fixed entries under $base"
  slapadd -F "$confdir" -b "$base" -l "$work/fixed.ldif" >/dev/null 2>"$work/slapadd.log" \
    || { cat "$work/slapadd.log" >&2; die "could not load the fixed entries"; }
fi
chown -R openldap:openldap /var/lib/ldap

# 3. A private slapd on a private socket, for the changes slapd must make itself (argon2
#    hashing through Password Modify, overlays).
slapd -h "$setup_url" -u openldap -g openldap -F "$confdir" -d 0 2>"$work/slapd.log" &
setup_pid=$!
i=0
until ldapwhoami -Q -Y EXTERNAL -H "$setup_url" >/dev/null 2>&1; do
  i=$((i + 1))
  if [ "$i" -gt 100 ] || ! kill -0 "$setup_pid" 2>/dev/null; then
    cat "$work/slapd.log" >&2
    die "slapd did not start"
  fi
  sleep 0.1
done
ldap() { "$@" -Q -Y EXTERNAL -H "$setup_url"; }

# Each fixed entry: added when missing (68 = already exists).
awk -v dir="$work" 'BEGIN { n = 0 } /^#/ { next } /^$/ { if (open) { close(f); open = 0 } next }
  { if (!open) { n++; f = sprintf("%s/entry-%03d.ldif", dir, n); open = 1 } print > f }' "$work/fixed.ldif"
for e in "$work"/entry-*.ldif; do
  rc=0
  ldap ldapadd -f "$e" >/dev/null 2>"$work/add.log" || rc=$?
  case $rc in
    0) say "added $(sed -n 's/^dn: //p' "$e")" ;;
    68) ;;
    *) cat "$work/add.log" >&2; kill "$setup_pid"; die "could not add $(sed -n 's/^dn: //p' "$e")" ;;
  esac
done

ldap ldapmodify >/dev/null 2>"$work/modify.log" <<LDIF || { cat "$work/modify.log" >&2; kill "$setup_pid"; die "could not reset the system accounts"; }
dn: cn=portal,ou=system,$base
changetype: modify
replace: authzTo
authzTo: dn.regex:^uid=[^,]+,ou=people,$base_re\$
-
replace: pwdPolicySubentry
pwdPolicySubentry: cn=system,ou=policies,ou=system,$base

dn: cn=supervisor,ou=system,$base
changetype: modify
replace: pwdPolicySubentry
pwdPolicySubentry: cn=system,ou=policies,ou=system,$base
LDIF

for who in supervisor portal; do
  ldap ldappasswd -T "$secrets/$who" "cn=$who,ou=system,$base" >/dev/null 2>"$work/passwd.log" \
    || { cat "$work/passwd.log" >&2; kill "$setup_pid"; die "could not set the $who password"; }
done

kill -INT "$setup_pid"
wait "$setup_pid" || true
rm -rf "$work"

# 4. Serve.
say "serving $base on ldap:/// and ldapi:///"
exec slapd -h "ldap:/// ldapi:///" -u openldap -g openldap -F "$confdir" -d 0
