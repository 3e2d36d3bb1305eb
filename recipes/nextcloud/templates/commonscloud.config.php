<?php
// Nextcloud's system settings that follow node.yaml and the instance's addons. Rendered by
// CommonsCloud from recipes/nextcloud/templates/commonscloud.config.php; configure.sh copies
// it to config/commonscloud.config.php, which Nextcloud reads after config.php, so these
// values win over what the installer or the admin pages wrote there. Do not edit: the next
// start replaces it. Every key is one of config/config.sample.php (docs/apps/nextcloud.md).
{%- set db_host = addons.postgres.host ~ ":" ~ addons.postgres.port %}
{%- set password_reset = "https://portal." ~ node.domain ~ "/password/forgot" %}
$CONFIG = [
	'trusted_domains' => [{{ app.fqdn | php }}],
	'overwrite.cli.url' => {{ app.url | php }},
	'overwriteprotocol' => 'https',
	// The edge reaches the app from a Docker network; Apache's remoteip module (the image's)
	// already takes the client's address from the edge's X-Real-IP.
	'trusted_proxies' => ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'],
	'htaccess.RewriteBase' => '/',
	// Upgrades come with a new image (the entrypoint runs occ upgrade), never from the web.
	'upgrade.disable-web' => true,

	'dbtype' => 'pgsql',
	// host:port, as occ maintenance:install writes it (Nextcloud has no separate port key).
	'dbhost' => {{ db_host | php }},
	'dbname' => {{ addons.postgres.database | php }},
	'dbuser' => {{ addons.postgres.username | php }},
	'dbpassword' => {{ addons.postgres.password | php }},

	'memcache.local' => '\OC\Memcache\APCu',
	'memcache.distributed' => '\OC\Memcache\Redis',
	'memcache.locking' => '\OC\Memcache\Redis',
	'redis' => [
		'host' => {{ addons.redis.host | php }},
		'port' => (int) {{ addons.redis.port | php }},
		'password' => {{ addons.redis.password | php }},
	],

{%- if addons.smtp is defined %}
	// node.yaml's smtp: (without one, Nextcloud sends no mail).
{%- set smtp_from = addons.smtp.from | split(pat="@") %}
	'mail_smtpmode' => 'smtp',
	'mail_smtphost' => {{ addons.smtp.host | php }},
	'mail_smtpport' => (int) {{ addons.smtp.port | php }},
	// `ssl` is TLS from the first byte; empty lets the mailer use STARTTLS when offered.
	'mail_smtpsecure' => {% if addons.smtp.security == "tls" %}'ssl'{% else %}''{% endif %},
	'mail_smtpauth' => {% if addons.smtp.username %}true{% else %}false{% endif %},
	'mail_smtpname' => {{ addons.smtp.username | php }},
	'mail_smtppassword' => {{ addons.smtp.password | php }},
	'mail_from_address' => {{ smtp_from | first | php }},
	'mail_domain' => {{ smtp_from | last | php }},
{%- endif %}

	// Directory passwords are changed in the portal, not here.
	'lost_password_link' => {{ password_reset | php }},
];
