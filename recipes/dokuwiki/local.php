<?php
/*
 * Written by the CommonsCloud supervisor for instance {{ app.id }}; rewritten at every
 * change of node.yaml. Log in through the node's directory with the authldap plugin.
 */
$conf['title'] = {{ app.settings.title | php }};
$conf['useacl'] = 1;
$conf['authtype'] = 'authldap';
$conf['superuser'] = '@admin';
$conf['disableactions'] = 'register,resendpwd,profile_delete';
$conf['userewrite'] = 0;
$conf['updatecheck'] = 0;
$conf['plugin']['authldap']['server'] = {{ addons.ldap.url | php }};
$conf['plugin']['authldap']['version'] = 3;
$conf['plugin']['authldap']['starttls'] = 0;
$conf['plugin']['authldap']['referrals'] = 0;
$conf['plugin']['authldap']['binddn'] = {{ addons.ldap.bind_dn | php }};
$conf['plugin']['authldap']['bindpw'] = {{ addons.ldap.bind_password | php }};
$conf['plugin']['authldap']['usertree'] = {{ addons.ldap.people_dn | php }};
$conf['plugin']['authldap']['userscope'] = 'one';
{% set userfilter = "(&(uid=%{user})" ~ addons.ldap.user_filter ~ ")" -%}
$conf['plugin']['authldap']['userfilter'] = {{ userfilter | php }};
$conf['plugin']['authldap']['grouptree'] = {{ addons.ldap.groups_dn | php }};
$conf['plugin']['authldap']['groupscope'] = 'sub';
$conf['plugin']['authldap']['groupfilter'] = '(&(objectClass=groupOfNames)(member=%{dn}))';
$conf['plugin']['authldap']['userkey'] = 'uid';
$conf['plugin']['authldap']['groupkey'] = 'cn';
$conf['plugin']['authldap']['modPass'] = 0;
$conf['plugin']['authldap']['mapping']['name'] = 'displayname';
