#!/bin/sh
# Run restic with the arguments the supervisor gives (`backup --json …`, `check`, `restore …`).
# Files restic creates for itself (cache, temporary packs) are private; restored files keep
# the modes recorded in the snapshot.
set -eu
umask 077
exec restic "$@"
