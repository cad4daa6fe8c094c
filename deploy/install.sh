#!/usr/bin/env bash
# Förvärv Gateway: install or upgrade on one machine (see docs/deploy.md).
#
#   sudo deploy/install.sh [--prefix /opt/forvarv] [--etc /etc/forvarv] [--state /var/lib/forvarv]
#                          [--user forvarv] [--systemd-dir /etc/systemd/system] [--no-system-user]
#                          [--no-systemd] [--no-migrate] [SOURCE]
#
# SOURCE is what pip installs (this checkout by default, or a wheel). Steps, each safe to repeat:
#   1. a system user (unless --no-system-user) that owns the state folder and reads the settings;
#   2. a virtual environment in PREFIX/venv with the gateway installed (an upgrade reinstalls it);
#   3. ETC/forvarv.env from the example (mode 0640, root:USER) if it does not exist — edit it;
#   4. the systemd units of every role, with these paths, into the systemd folder (unless
#      --no-systemd), and `systemctl daemon-reload` when systemd runs;
#   5. `forvarv migrate` as the user once the settings name a database (unless --no-migrate):
#      migrations run under an advisory lock, so an upgrade of several machines at once is safe.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
prefix=/opt/forvarv etc=/etc/forvarv state=/var/lib/forvarv user=forvarv
systemd_dir=/etc/systemd/system system_user=1 systemd=1 migrate=1 source="$(dirname "$here")"
while (($#)); do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --etc) etc="$2"; shift 2 ;;
        --state) state="$2"; shift 2 ;;
        --user) user="$2"; shift 2 ;;
        --systemd-dir) systemd_dir="$2"; shift 2 ;;
        --no-system-user) system_user=0; shift ;;
        --no-systemd) systemd=0; shift ;;
        --no-migrate) migrate=0; shift ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        -*) echo "install.sh: unknown option $1 (--help lists them)" >&2; exit 2 ;;
        *) source="$1"; shift ;;
    esac
done
say() { printf 'install: %s\n' "$*"; }
as_user() {
    if ((system_user)) && [[ $(id -u) == 0 ]]; then runuser -u "$user" -- "$@"; else "$@"; fi
}

if ((system_user)); then
    if ! id "$user" >/dev/null 2>&1; then
        useradd --system --home-dir "$state" --no-create-home --shell /usr/sbin/nologin "$user"
        say "system user $user created"
    fi
    group="$user"
else
    user="$(id -un)" group="$(id -gn)"
fi

install -d -m 0755 "$prefix"
install -d -m 0750 -o "$user" -g "$group" "$state"
install -d -m 0750 -o root -g "$group" "$etc" 2>/dev/null || install -d -m 0750 "$etc"

if [[ ! -x "$prefix/venv/bin/python" ]]; then
    python3 -m venv "$prefix/venv"
    say "virtual environment $prefix/venv"
fi
"$prefix/venv/bin/pip" install -q --disable-pip-version-check --upgrade "$source"
say "installed $("$prefix/venv/bin/forvarv" --version 2>/dev/null || echo forvarv) from $source"

env_file="$etc/forvarv.env"
if [[ ! -e "$env_file" ]]; then
    sed -e "s|^FORVARV_DATA_DIR=.*|FORVARV_DATA_DIR=$state|" "$here/forvarv.env.example" >"$env_file"
    say "settings written to $env_file: edit them (database, public URL, tokens, SMTP)"
fi
# The settings hold the database password, the admin token and the SMTP password: readable by
# root and the gateway's group only.
chmod 0640 "$env_file"
chown "root:$group" "$env_file" 2>/dev/null || true

if ((systemd)); then
    install -d "$systemd_dir"
    for unit in "$here"/systemd/*; do
        sed -e "s|@PREFIX@|$prefix|g; s|@ETC@|$etc|g; s|@STATE@|$state|g; s|@USER@|$user|g" "$unit" \
            >"$systemd_dir/$(basename "$unit")"
        chmod 0644 "$systemd_dir/$(basename "$unit")"
    done
    say "systemd units in $systemd_dir"
    if [[ -d /run/systemd/system ]]; then systemctl daemon-reload; fi
fi

if ((migrate)); then
    if grep -q '^FORVARV_DATABASE_URL=.*CHANGE-ME' "$env_file"; then
        say "skipping migrations: set FORVARV_DATABASE_URL in $env_file, then run this again"
    else
        # The settings as systemd's EnvironmentFile reads them: KEY=VALUE lines, each value taken
        # as written (surrounding blanks and quotes removed), never run as shell words.
        while IFS= read -r line || [[ -n $line ]]; do
            [[ $line =~ ^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=(.*)$ ]] || continue
            key="${BASH_REMATCH[1]}" value="${BASH_REMATCH[2]}"
            value="${value#"${value%%[![:space:]]*}"}"
            value="${value%"${value##*[![:space:]]}"}"
            if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then value="${BASH_REMATCH[1]}"; fi
            export "$key=$value"
        done <"$env_file"
        as_user "$prefix/venv/bin/forvarv" migrate
        say "schema migrated"
    fi
fi
say "done. Start: systemctl enable --now forvarv-web forvarv-worker@1 forvarv-mailer (docs/deploy.md)"
