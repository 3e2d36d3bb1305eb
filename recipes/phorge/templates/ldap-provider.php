<?php
// Phorge's directory login, for the configure hook (configure.sh, docs/apps/phorge.md).
// Phorge has no command that adds an auth provider: it keeps each one as a row of
// PhabricatorAuthProviderConfig (table <namespace>_auth.auth_providerconfig, unique on
// providerType + providerDomain, properties as JSON). This writes that row through Phorge's
// own storage class (which makes the PHID and the JSON), then reads it back.
//
//   php ldap-provider.php apply SPEC.json    write the provider; disable password logins
//   php ldap-provider.php verify SPEC.json   the row is SPEC, the provider loads, the auth
//                                            configuration is locked, no password login is on
//   php ldap-provider.php admins NAME...     print each NAME that has an account and is not
//                                            an administrator yet

$root = getenv('PHORGE_ROOT');
if (!$root) {
  $root = '/opt/phorge/phorge';
}
require_once $root.'/scripts/__init_script__.php';

const CC_FLAGS = array(
  'isEnabled',
  'shouldAllowLogin',
  'shouldAllowRegistration',
  'shouldAllowLink',
  'shouldAllowUnlink',
  'shouldTrustEmails',
  'shouldAutoLogin',
);
const CC_PASSWORD_PROVIDER = 'PhabricatorPasswordAuthProvider';

function cc_fail($message) {
  fwrite(STDERR, "ldap-provider: {$message}\n");
  exit(1);
}

function cc_spec($path) {
  $text = @file_get_contents($path);
  $spec = is_string($text) ? json_decode($text, true) : null;
  if (!is_array($spec) || !isset($spec['properties']) || !is_array($spec['properties'])) {
    cc_fail("{$path} is not a provider description");
  }
  foreach (array_merge(array('providerClass', 'providerType', 'providerDomain'), CC_FLAGS) as $key) {
    if (!array_key_exists($key, $spec)) {
      cc_fail("{$path} has no {$key}");
    }
  }
  return $spec;
}

function cc_row(array $spec) {
  return id(new PhabricatorAuthProviderConfig())->loadOneWhere(
    'providerType = %s AND providerDomain = %s',
    $spec['providerType'],
    $spec['providerDomain']);
}

// Keys sorted at every level, so two maps compare by content.
function cc_canonical($value) {
  if (is_array($value)) {
    $value = array_map('cc_canonical', $value);
    if (array_keys($value) !== range(0, count($value) - 1)) {
      ksort($value);
    }
  }
  return $value;
}

function cc_enabled_password_logins() {
  $rows = id(new PhabricatorAuthProviderConfig())->loadAllWhere(
    'providerClass = %s AND isEnabled = 1',
    CC_PASSWORD_PROVIDER);
  return $rows;
}

function cc_apply(array $spec) {
  if (!class_exists($spec['providerClass'])) {
    cc_fail("this Phorge has no class {$spec['providerClass']}");
  }
  $row = cc_row($spec);
  if (!$row) {
    $row = id(new PhabricatorAuthProviderConfig())
      ->setProviderType($spec['providerType'])
      ->setProviderDomain($spec['providerDomain']);
  }
  $row->setProviderClass($spec['providerClass']);
  foreach (CC_FLAGS as $flag) {
    $row->{'set'.ucfirst($flag)}((int)$spec[$flag]);
  }
  $row->setProperties($spec['properties']);
  $row->save();
  echo "ldap-provider: wrote provider {$row->getID()} ({$spec['providerClass']})\n";

  foreach (cc_enabled_password_logins() as $password) {
    $password->setIsEnabled(0)->save();
    echo "ldap-provider: disabled password login (provider {$password->getID()})\n";
  }
}

function cc_verify(array $spec) {
  $found = cc_row($spec);
  if (!$found) {
    cc_fail('there is no LDAP provider');
  }
  // A fresh read from the database, not the object the query built.
  $row = id(new PhabricatorAuthProviderConfig())->load($found->getID());
  $problems = array();
  if ($row->getProviderClass() !== $spec['providerClass']) {
    $problems[] = "class is {$row->getProviderClass()}";
  }
  foreach (CC_FLAGS as $flag) {
    $have = (int)$row->{'get'.ucfirst($flag)}();
    if ($have !== (int)$spec[$flag]) {
      $problems[] = "{$flag} is {$have}, not {$spec[$flag]}";
    }
  }
  $have = cc_canonical($row->getProperties());
  $want = cc_canonical($spec['properties']);
  foreach (array_unique(array_merge(array_keys($have), array_keys($want))) as $key) {
    $a = array_key_exists($key, $have) ? json_encode($have[$key]) : '(none)';
    $b = array_key_exists($key, $want) ? json_encode($want[$key]) : '(none)';
    if ($a !== $b) {
      $problems[] = "property {$key} reads back as {$a}";
    }
  }
  $provider = $row->getProvider();
  if (!$provider || get_class($provider) !== $spec['providerClass']) {
    $problems[] = 'Phorge does not load it as '.$spec['providerClass'];
  }
  if (PhabricatorEnv::getEnvConfig('auth.lock-config') !== true) {
    $problems[] = 'auth.lock-config is not true';
  }
  foreach (cc_enabled_password_logins() as $password) {
    $problems[] = "password login {$password->getID()} is enabled";
  }
  if ($problems) {
    cc_fail(implode('; ', $problems));
  }
  echo "ldap-provider: provider {$row->getID()} reads back as written; ".
    "auth configuration locked; no password login\n";
}

function cc_admins(array $names) {
  foreach ($names as $name) {
    if (!PhabricatorUser::validateUsername($name)) {
      fwrite(STDERR, "ldap-provider: admins: `{$name}` is not a username\n");
      continue;
    }
    $user = id(new PhabricatorUser())->loadOneWhere('userName = %s', $name);
    if (!$user) {
      fwrite(
        STDERR,
        "ldap-provider: admins: {$name} has not logged in yet; ".
        "they become an administrator at the next configure\n");
      continue;
    }
    if (!$user->getIsAdmin()) {
      echo $name."\n";
    }
  }
}

$command = isset($argv[1]) ? $argv[1] : '';
switch ($command) {
  case 'apply':
    cc_apply(cc_spec(isset($argv[2]) ? $argv[2] : ''));
    break;
  case 'verify':
    cc_verify(cc_spec(isset($argv[2]) ? $argv[2] : ''));
    break;
  case 'admins':
    cc_admins(array_slice($argv, 2));
    break;
  default:
    cc_fail('usage: ldap-provider.php apply|verify SPEC.json, or admins NAME...');
}
