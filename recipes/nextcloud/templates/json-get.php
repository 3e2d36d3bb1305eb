<?php
// Reads the JSON that an `occ ... --output=json` printed on stdin and prints one value of it,
// for configure.sh (the image has PHP, not jq).
//
//   php json-get.php KEY...          the value at that path: a list as its items one a line,
//                                    true/false as words; exit 3 when the path is not there
//   php json-get.php --keys KEY...   the keys of the object at that path, one a line
//
// occ may print notices before its JSON: the last line that starts with { or [ is read.
declare(strict_types=1);

$json = null;
foreach (preg_split('/\r?\n/', (string) stream_get_contents(STDIN)) as $line) {
	$line = trim($line);
	if ($line !== '' && ($line[0] === '{' || $line[0] === '[')) {
		$json = $line;
	}
}
$value = $json === null ? null : json_decode($json, true);
if (!is_array($value)) {
	fwrite(STDERR, "json-get: no JSON object or list on stdin\n");
	exit(2);
}

$path = array_slice($argv, 1);
$keysOnly = $path !== [] && $path[0] === '--keys';
if ($keysOnly) {
	array_shift($path);
}
foreach ($path as $key) {
	if (!is_array($value) || !array_key_exists($key, $value)) {
		fwrite(STDERR, 'json-get: no ' . implode(' / ', $path) . "\n");
		exit(3);
	}
	$value = $value[$key];
}

if ($keysOnly) {
	echo is_array($value) ? implode("\n", array_map('strval', array_keys($value))) : '';
} elseif (is_array($value)) {
	echo implode("\n", array_map(static fn ($item) => is_scalar($item) ? (string) $item : json_encode($item), $value));
} elseif (is_bool($value)) {
	echo $value ? 'true' : 'false';
} elseif ($value !== null) {
	echo (string) $value;
}
