<?php
// Exit 0 when the database in Phorge's conf/local/local.json accepts Phorge's credentials;
// with --schema, when Phorge's databases exist too (<namespace>_meta_data is the first one
// `bin/storage upgrade` makes). Plain mysqli: Phorge's own scripts need the schema to start.
$path = getenv('PHORGE_LOCAL_JSON') ?: '/opt/phorge/phorge/conf/local/local.json';
$text = @file_get_contents($path);
$conf = is_string($text) ? json_decode($text, true) : null;
if (!is_array($conf)) {
  fwrite(STDERR, "db-ready: cannot read {$path}\n");
  exit(2);
}
$database = null;
if (in_array('--schema', $argv, true)) {
  $database = $conf['storage.default-namespace'].'_meta_data';
}
mysqli_report(MYSQLI_REPORT_OFF);
$link = @mysqli_connect(
  $conf['mysql.host'],
  $conf['mysql.user'],
  $conf['mysql.pass'],
  $database,
  (int)(isset($conf['mysql.port']) ? $conf['mysql.port'] : 3306));
if (!$link) {
  fwrite(STDERR, 'db-ready: '.mysqli_connect_error()."\n");
  exit(1);
}
mysqli_close($link);
exit(0);
