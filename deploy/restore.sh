#!/usr/bin/env bash
# Förvärv Gateway: restore a dump made by backup.sh into an empty database.
#
#   deploy/restore.sh DUMP DATABASE_URL
#
# Stop the gateway's processes first (systemctl stop forvarv.target). DATABASE_URL names an empty
# database created by deploy/database.sql (with its extensions); the dump is restored into it in
# one transaction, so a failed restore leaves it empty. Then point FORVARV_DATABASE_URL at it and
# start again: `forvarv migrate` brings an older dump up to the installed version.
set -euo pipefail
if (($# != 2)); then echo "usage: restore.sh DUMP DATABASE_URL" >&2; exit 2; fi
bin="${PG_BINDIR:+$PG_BINDIR/}"
# The extensions exist already (database.sql, as the superuser); their entries, which only their
# owner may replay, are left out of the restore.
list="$(mktemp)"
trap 'rm -f "$list"' EXIT
"${bin}pg_restore" --list "$1" | grep -v -E '^[0-9]+; [0-9]+ [0-9]+ (COMMENT - )?EXTENSION ' >"$list"
"${bin}pg_restore" --no-owner --single-transaction --exit-on-error --use-list="$list" --dbname="$2" "$1"
echo "restored $1"
