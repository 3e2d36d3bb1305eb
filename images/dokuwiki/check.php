<?php
// The `configure` hook of the dokuwiki recipe: with the settings the supervisor wrote, bind
// to the directory as the wiki's own account and search people with the wiki's filter.
// Exit 0 when both work; otherwise say what failed (never the password) and exit 1.
$conf = array('plugin' => array('authldap' => array()));
require '/etc/dokuwiki/local.php';
$c = $conf['plugin']['authldap'];
$fail = function ($what) { fwrite(STDERR, "dokuwiki: $what\n"); exit(1); };
if (($conf['authtype'] ?? '') !== 'authldap') $fail('authtype is not authldap in local.php');
$ldap = ldap_connect($c['server']);
if (!$ldap) $fail("cannot use the directory URL {$c['server']}");
ldap_set_option($ldap, LDAP_OPT_PROTOCOL_VERSION, 3);
ldap_set_option($ldap, LDAP_OPT_NETWORK_TIMEOUT, 5);
if (!@ldap_bind($ldap, $c['binddn'], $c['bindpw'])) {
    $fail("cannot bind as {$c['binddn']}: " . ldap_error($ldap));
}
$filter = str_replace('%{user}', '*', $c['userfilter']);
$found = @ldap_search($ldap, $c['usertree'], $filter, array('uid'), 0, 1);
if ($found === false && ldap_errno($ldap) !== 4) { // 4: size limit, i.e. someone matched
    $fail("cannot search {$c['usertree']} with $filter: " . ldap_error($ldap));
}
echo "dokuwiki: directory bind and search work ({$c['binddn']})\n";
