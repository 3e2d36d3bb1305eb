#!/bin/sh
# Brings this Nextcloud instance to what node.yaml says. Rendered by CommonsCloud from
# recipes/nextcloud/templates/configure.sh; docs/apps/nextcloud.md explains each step.
#
#   configure.sh           the recipe's configure hook, after every start: everything below.
#   configure.sh install   from the image's entrypoint, before Apache serves a request: the
#                          config fragment, the installation and the database upgrade only, so
#                          that nobody ever meets the web installer.
#
# Runs as www-data (occ refuses any user but config.php's owner). Idempotent. What it writes it
# reads back, and any difference stops it with a message: some occ commands (ldap:set-config
# first) accept what they then ignore.
set -eu
umask 027

# --- values from node.yaml, the instance and its addons, quoted for sh ---
FQDN='{{ app.fqdn | replace(from="'", to="'\''") }}'
URL='{{ app.url | replace(from="'", to="'\''") }}'
ADMIN_USER='_admin'
ADMIN_PASSWORD='{{ secrets.admin_password | replace(from="'", to="'\''") }}'
DB_HOST='{{ addons.postgres.host | replace(from="'", to="'\''") }}'
DB_PORT='{{ addons.postgres.port | replace(from="'", to="'\''") }}'
DB_NAME='{{ addons.postgres.database | replace(from="'", to="'\''") }}'
DB_USER='{{ addons.postgres.username | replace(from="'", to="'\''") }}'
DB_PASSWORD='{{ addons.postgres.password | replace(from="'", to="'\''") }}'
REDIS_HOST='{{ addons.redis.host | replace(from="'", to="'\''") }}'
SMTP_HOST='{% if addons.smtp is defined %}{{ addons.smtp.host | replace(from="'", to="'\''") }}{% endif %}'
LDAP_HOST='{{ addons.ldap.host | replace(from="'", to="'\''") }}'
LDAP_PORT='{{ addons.ldap.port | replace(from="'", to="'\''") }}'
LDAP_BIND_DN='{{ addons.ldap.bind_dn | replace(from="'", to="'\''") }}'
LDAP_BIND_PASSWORD='{{ addons.ldap.bind_password | replace(from="'", to="'\''") }}'
LDAP_BASE='{{ addons.ldap.base_dn | replace(from="'", to="'\''") }}'
LDAP_PEOPLE='{{ addons.ldap.people_dn | replace(from="'", to="'\''") }}'
LDAP_USER_FILTER='{{ addons.ldap.user_filter | replace(from="'", to="'\''") }}'
LDAP_LOGIN_FILTER='(&(uid=%uid){{ addons.ldap.user_filter | replace(from="'", to="'\''") }})'
{%- if app.collective %}
# A collective's instance sees the collective's own groups, `members` and `admins`.
LDAP_GROUPS='ou={{ app.collective | replace(from="'", to="'\''") }},{{ addons.ldap.groups_dn | replace(from="'", to="'\''") }}'
LDAP_GROUP_FILTER='(&(objectClass=groupOfNames)(|(cn=members)(cn=admins)))'
{%- else %}
# A public instance maps no groups: every collective's would show as `members` and `admins`.
LDAP_GROUPS='{{ addons.ldap.groups_dn | replace(from="'", to="'\''") }}'
LDAP_GROUP_FILTER=''
{%- endif %}
OFFICE_URL='{{ app.settings.office_url | replace(from="'", to="'\''") }}'
# --- end of values ---

HTML=/var/www/html
SHARE=/usr/local/share/commonscloud

occ() { php "$HTML/occ" --no-interaction "$@"; }
json() { php "$SHARE/json-get.php" "$@"; }
say() { echo "configure: $*"; }
fail() {
	echo "configure: $*" >&2
	exit 1
}

# Nextcloud reads config/*.config.php after config.php: the node's settings win.
install_fragment() {
	if ! cmp -s "$SHARE/commonscloud.config.php" "$HTML/config/commonscloud.config.php"; then
		cp "$SHARE/commonscloud.config.php" "$HTML/config/.commonscloud.config.php.new"
		mv "$HTML/config/.commonscloud.config.php.new" "$HTML/config/commonscloud.config.php"
		say "config/commonscloud.config.php updated"
	fi
}

status_of() {
	occ status --output=json | json "$1" || fail "occ status does not say $1"
}

ensure_installed() {
	installed=$(status_of installed)
	[ "$installed" = true ] && return 0
	say "installing Nextcloud into database $DB_NAME at $DB_HOST, local admin $ADMIN_USER"
	occ maintenance:install \
		--database pgsql --database-host "$DB_HOST" --database-port "$DB_PORT" \
		--database-name "$DB_NAME" --database-user "$DB_USER" --database-pass "$DB_PASSWORD" \
		--admin-user "$ADMIN_USER" --admin-pass "$ADMIN_PASSWORD" --data-dir "$HTML/data" \
		|| fail "occ maintenance:install failed (above)"
	installed=$(status_of installed)
	[ "$installed" = true ] || fail "occ maintenance:install ended, yet occ status does not say installed"
}

ensure_upgraded() {
	needs_upgrade=$(status_of needsDbUpgrade)
	if [ "$needs_upgrade" = true ]; then
		say "upgrading the database to the code's version"
		occ upgrade || fail "occ upgrade failed (above)"
	fi
	maintenance=$(status_of maintenance)
	[ "$maintenance" = false ] \
		|| fail "Nextcloud is in maintenance mode; finish that work (occ maintenance:mode --off) and start the app again"
}

# config:system:get KEY... must print WANT.
system_is() {
	want=$1
	shift
	got=$(occ config:system:get "$@") || fail "Nextcloud has no system setting $*"
	[ "$got" = "$want" ] || fail "Nextcloud's system setting $* is '$got', not '$want': is config/commonscloud.config.php read?"
}

check_system() {
	system_is "$FQDN" trusted_domains 0
	system_is "$URL" overwrite.cli.url
	system_is https overwriteprotocol
	system_is '\OC\Memcache\Redis' memcache.locking
	system_is "$REDIS_HOST" redis host
	[ -z "$SMTP_HOST" ] || system_is "$SMTP_HOST" mail_smtphost
}

background_jobs() {
	occ background:cron >/dev/null || fail "occ background:cron failed"
	got=$(occ config:app:get core backgroundjobs_mode) || got=
	[ "$got" = cron ] || fail "background jobs are '$got', not cron"
}

# The user_ldap settings, one a line: `ldap_settings ACTION` calls `ACTION KEY VALUE` for each.
# Every KEY is one of user_ldap's (tests/apps/known/nextcloud-user-ldap-keys.txt).
ldap_settings() {
	"$1" ldapHost "$LDAP_HOST"
	"$1" ldapPort "$LDAP_PORT"
	"$1" ldapTLS 0
	"$1" turnOffCertCheck 0
	"$1" ldapAgentName "$LDAP_BIND_DN"
	"$1" ldapAgentPassword "$LDAP_BIND_PASSWORD"
	"$1" ldapBase "$LDAP_BASE"
	"$1" ldapBaseUsers "$LDAP_PEOPLE"
	"$1" ldapBaseGroups "$LDAP_GROUPS"
	"$1" ldapUserFilterMode 1
	"$1" ldapUserFilter "$LDAP_USER_FILTER"
	"$1" ldapLoginFilterMode 1
	"$1" ldapLoginFilter "$LDAP_LOGIN_FILTER"
	"$1" ldapLoginFilterUsername 1
	"$1" ldapLoginFilterEmail 0
	"$1" ldapGroupFilterMode 1
	"$1" ldapGroupFilter "$LDAP_GROUP_FILTER"
	"$1" ldapGroupDisplayName cn
	"$1" ldapGroupMemberAssocAttr member
	"$1" ldapNestedGroups 0
	"$1" hasMemberOfFilterSupport 1
	"$1" useMemberOfToDetectMembership 1
	"$1" ldapUserDisplayName displayName
	"$1" ldapEmailAttribute mail
	"$1" ldapExpertUsernameAttr uid
	"$1" ldapExpertUUIDUserAttr entryuuid
	"$1" ldapExpertUUIDGroupAttr entryuuid
	"$1" ldapPagingSize 500
	"$1" ldapCacheTTL 600
	"$1" ldapConfigurationActive 1
}

ldap_set() {
	occ ldap:set-config "$CONFIG_ID" "$1" "$2" >/dev/null || fail "occ ldap:set-config $1 failed"
}

ldap_check() {
	got=$(printf '%s\n' "$SHOWN" | json "$CONFIG_ID" "$1" 2>/dev/null) \
		|| fail "user_ldap does not show $1 after ldap:set-config: a key it does not know?"
	[ "$got" = "$2" ] && return 0
	case $1 in
	ldapAgentPassword) fail "user_ldap keeps another $1 than the one just set" ;;
	*) fail "user_ldap keeps $1 = '$got', not '$2' as just set" ;;
	esac
}

configure_ldap() {
	occ app:enable user_ldap >/dev/null || fail "could not enable user_ldap"
	# Ours is the first configuration there is; the first run makes it.
	listed=$(occ ldap:show-config --output=json) || fail "occ ldap:show-config failed: $listed"
	ids=$(printf '%s\n' "$listed" | json --keys 2>/dev/null) || ids=
	CONFIG_ID=$(printf '%s\n' "$ids" | head -n 1)
	if [ -z "$CONFIG_ID" ]; then
		created=$(occ ldap:create-empty-config) || fail "occ ldap:create-empty-config failed: $created"
		CONFIG_ID=$(printf '%s\n' "$created" | sed -n "s/.*'\([^']*\)'.*/\1/p" | head -n 1)
		[ -n "$CONFIG_ID" ] || fail "no configuration id in: $created"
	fi
	ldap_settings ldap_set
	SHOWN=$(occ ldap:show-config "$CONFIG_ID" --output=json --show-password) \
		|| fail "occ ldap:show-config $CONFIG_ID failed"
	ldap_settings ldap_check
	tested=$(occ ldap:test-config "$CONFIG_ID" 2>&1) || fail "occ ldap:test-config $CONFIG_ID failed: $tested"
	case $tested in
	*"configuration is valid and the connection could be established"*) ;;
	*) fail "occ ldap:test-config does not find configuration $CONFIG_ID valid: $tested" ;;
	esac
	say "user_ldap configuration $CONFIG_ID written, read back and tested"
}

app_listed() {
	printf '%s\n' "$APPS" | json "$1" "$2" >/dev/null 2>&1
}

configure_office() {
	APPS=$(occ app:list --output=json) || fail "occ app:list failed"
	if [ -z "$OFFICE_URL" ]; then
		if app_listed enabled richdocuments; then
			occ app:disable richdocuments >/dev/null || fail "could not disable richdocuments"
			say "online office turned off (no office_url)"
		fi
		return 0
	fi
	if ! app_listed enabled richdocuments; then
		if app_listed disabled richdocuments; then
			occ app:enable richdocuments >/dev/null || fail "could not enable richdocuments"
		else
			occ app:install richdocuments >/dev/null \
				|| fail "could not install richdocuments from the app store: does this host reach it?"
		fi
	fi
	occ config:app:set richdocuments wopi_url --value="$OFFICE_URL" >/dev/null \
		|| fail "could not set richdocuments wopi_url"
	got=$(occ config:app:get richdocuments wopi_url) || got=
	[ "$got" = "$OFFICE_URL" ] || fail "richdocuments keeps wopi_url '$got', not '$OFFICE_URL'"
	# Fetches the server's discovery: fails when Nextcloud cannot reach it.
	activated=$(occ richdocuments:activate-config 2>&1) \
		|| fail "richdocuments cannot use the office server at $OFFICE_URL: $activated"
	say "online office at $OFFICE_URL"
}

install_fragment
ensure_installed
ensure_upgraded
[ "${1:-}" = install ] && exit 0

check_system
background_jobs
occ maintenance:update:htaccess >/dev/null || fail "occ maintenance:update:htaccess failed"
configure_ldap
configure_office
say "done"
