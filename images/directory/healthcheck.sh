#!/bin/sh
# Healthy when the supervisor can bind over TCP and read the base entry.
set -eu
pw=/run/slapd/secrets/supervisor
dn="cn=supervisor,ou=system,${CC_BASE_DN}"
ldapwhoami -x -H ldap://127.0.0.1 -D "$dn" -y "$pw" >/dev/null
ldapsearch -x -LLL -H ldap://127.0.0.1 -D "$dn" -y "$pw" -s base -b "$CC_BASE_DN" dn >/dev/null
