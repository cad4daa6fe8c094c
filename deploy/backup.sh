#!/usr/bin/env bash
# Förvärv Gateway: a logical backup of its database (pg_dump, custom format), kept for N days.
#
#   deploy/backup.sh [--env /etc/forvarv/forvarv.env] [--dir /var/backups/forvarv] [--keep-days 14]
#
# Run it daily (a systemd timer or cron as the gateway's user). It reads FORVARV_DATABASE_URL from
# the settings file, writes DIR/forvarv-YYYYmmddTHHMMSSZ.dump atomically (a .partial file renamed
# when pg_dump succeeded) and removes dumps older than --keep-days. Everything the gateway knows is
# in the database (the data folder holds only the embedded server and caches), so this dump is a
# whole backup. pg_dump must be of the server's major version or newer: PG_BINDIR names its folder.
# Restore: deploy/restore.sh. For point-in-time recovery use base backups (pg_basebackup) and WAL
# archiving of the server instead; docs/deploy.md says how.
set -euo pipefail
env_file=/etc/forvarv/forvarv.env dir=/var/backups/forvarv keep_days=14
while (($#)); do
    case "$1" in
        --env) env_file="$2"; shift 2 ;;
        --dir) dir="$2"; shift 2 ;;
        --keep-days) keep_days="$2"; shift 2 ;;
        *) echo "backup.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
url="$(sed -n 's/^FORVARV_DATABASE_URL=//p' "$env_file" | tail -n 1)"
if [[ -z "$url" ]]; then echo "backup.sh: no FORVARV_DATABASE_URL in $env_file" >&2; exit 1; fi
# pg_dump's command line is readable by every user of the machine (ps): it gets the URL without
# its password (postgresql://USER:PASSWORD@HOST… becomes postgresql://USER@HOST…) and the
# password, percent-escapes undone as libpq undoes them, in its environment.
if [[ $url =~ ^([A-Za-z][A-Za-z0-9+.-]*://[^:/@?#]*):([^@/?#]*)@(.*)$ ]]; then
    password="${BASH_REMATCH[2]//\\/\\\\}"
    PGPASSWORD="$(printf '%b' "${password//%/\\x}")"
    export PGPASSWORD
    url="${BASH_REMATCH[1]}@${BASH_REMATCH[3]}"
fi
bin="${PG_BINDIR:+$PG_BINDIR/}"
umask 077
install -d -m 0700 "$dir"
out="$dir/forvarv-$(date -u +%Y%m%dT%H%M%SZ).dump"
"${bin}pg_dump" --format=custom --no-owner --dbname="$url" --file="$out.partial"
mv "$out.partial" "$out"
find "$dir" -maxdepth 1 -name 'forvarv-*.dump' -mtime "+$keep_days" -delete
echo "$out"
