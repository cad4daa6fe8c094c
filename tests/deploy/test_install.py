"""deploy/ as a system administrator follows it, against a scratch prefix and a PostgreSQL server of
its own (not the embedded one): database.sql, install.sh, the role processes started from the
installed systemd units' ExecStart lines with their EnvironmentFile, a delivery and a harvest
through them, an upgrade (migrations from two machines at once), a backup and its restore, and a
SIGTERM to every role."""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import pytest

from tests.deploy import nginx, scratch_pg
from tests.xmlschemas import testdata

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
OAI = "{http://www.openarchives.org/OAI/2.0/}"

pytestmark = [
    pytest.mark.skipif(shutil.which("psql") is None, reason="psql (Debian's postgresql-client) is not installed"),
    pytest.mark.skipif(sys.platform != "linux", reason="the install is for Linux with systemd"),
]


@dataclass
class Install:
    prefix: Path
    etc: Path
    state: Path
    units: Path
    env: dict[str, str]
    pg: scratch_pg.Server
    base: str

    @property
    def forvarv(self) -> str:
        return str(self.prefix / "venv" / "bin" / "forvarv")


def _psql(url: str, *args: str) -> str:
    out = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--dbname", url, *args],
                         check=True, capture_output=True, text=True, timeout=60)
    return out.stdout


def _install_sh(tmp: Path, *extra: str) -> str:
    cmd = ["bash", str(DEPLOY / "install.sh"), "--prefix", str(tmp / "opt"), "--etc", str(tmp / "etc"),
           "--state", str(tmp / "var"), "--systemd-dir", str(tmp / "systemd"), "--no-system-user", *extra, str(REPO)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def _read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def _exec_start(unit: Path) -> list[str]:
    (line,) = [ln for ln in unit.read_text().splitlines() if ln.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart="))


def _environment_file(unit: Path) -> Path:
    (line,) = [ln for ln in unit.read_text().splitlines() if ln.startswith("EnvironmentFile=")]
    return Path(line.removeprefix("EnvironmentFile="))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    tmp = tmp_path_factory.mktemp("deploy")
    with scratch_pg.server() as pg:
        role_password = secrets.token_urlsafe(12)
        # 1. the role, database and extensions, as the superuser (twice: running it again is harmless)
        for _ in range(2):
            _psql(pg.url(), "-v", f"password={role_password}", "-f", str(DEPLOY / "database.sql"))
        # 2. the install, before the settings name a database: no migration yet
        out = _install_sh(tmp)
        assert "skipping migrations" in out
        etc = tmp / "etc"
        env_file = etc / "forvarv.env"
        assert env_file.stat().st_mode & 0o777 == 0o640
        port = scratch_pg.free_port()
        settings = {
            "FORVARV_DATABASE_URL": pg.url("forvarv", role_password, "forvarv"),
            "FORVARV_PORT": str(port),
            "FORVARV_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "FORVARV_ADMIN_TOKEN": secrets.token_urlsafe(24),
            "FORVARV_SECRET": secrets.token_urlsafe(24),
            "FORVARV_SMTP_HOST": "",
        }
        text = env_file.read_text()
        for key, value in settings.items():
            text, n = re.subn(rf"^{key}=.*$", f"{key}={value}", text, flags=re.M)
            assert n == 1, key
        env_file.write_text(text)
        # 3. again, now an upgrade of the same prefix: it migrates
        out = _install_sh(tmp)
        assert "schema migrated" in out
        assert env_file.read_text() == text   # the settings are never overwritten
        yield Install(tmp / "opt", etc, tmp / "var", tmp / "systemd", _read_env(env_file), pg,
                      f"http://127.0.0.1:{port}")


def _run(install: Install, *args: str) -> str:
    env = {**os.environ, **install.env}
    out = subprocess.run([install.forvarv, *args], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _wait_http(base: str, procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for p in procs:
            assert p.poll() is None, f"{p.args} exited with {p.returncode}"
        try:
            if _get(f"{base}/oai?verb=Identify")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("the web role did not answer within 60 s")


def test_units_name_the_installed_paths(installed: Install) -> None:
    names = sorted(p.name for p in installed.units.iterdir())
    assert names == ["forvarv-mailer.service", "forvarv-migrate.service", "forvarv-prune.service",
                     "forvarv-prune.timer", "forvarv-serve.service", "forvarv-web.service",
                     "forvarv-worker@.service", "forvarv.target"]
    for unit in installed.units.glob("*.service"):
        text = unit.read_text()
        assert "@" not in re.sub(r"forvarv-worker@|%i|@1", "", text.split("[Service]")[1]), unit
        assert _environment_file(unit) == installed.etc / "forvarv.env"
        assert Path(_exec_start(unit)[0]) == installed.prefix / "venv" / "bin" / "forvarv"
    wanted = re.search(r"^Wants=(.*)$", (installed.units / "forvarv.target").read_text(), re.M)
    assert wanted is not None
    for name in wanted.group(1).split():
        assert (installed.units / name.replace("@1", "@")).exists(), name


def test_the_daily_prune_unit_runs_the_installed_command(installed: Install) -> None:
    timer = (installed.units / "forvarv-prune.timer").read_text()
    assert re.search(r"^OnCalendar=", timer, re.M) and re.search(r"^WantedBy=timers.target", timer, re.M)
    unit = installed.units / "forvarv-prune.service"
    env = {**os.environ, **_read_env(_environment_file(unit))}
    done = subprocess.run(_exec_start(unit), env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "payloads: kept" in done.stdout and "removed: 0 payloads" in done.stdout  # no retention set


def test_roles_deliver_harvest_and_stop(installed: Install) -> None:
    inst = installed
    token = _run(inst, "supplier", "add", "BOKR", "--name", "Bokrondellen").strip().splitlines()[-1]
    for sigel in ("Sods", "Nyks", "Li", "G"):
        _run(inst, "library", "add", sigel, "--name", f"Bibliotek {sigel}", "--email", f"{sigel.lower()}@example.org")
        _run(inst, "customer", "add", "BOKR", sigel)
    env = {**os.environ, **_read_env(_environment_file(inst.units / "forvarv-web.service"))}
    procs = [subprocess.Popen(_exec_start(inst.units / unit), env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
             for unit in ("forvarv-web.service", "forvarv-worker@.service", "forvarv-worker@.service",
                          "forvarv-mailer.service")]
    try:
        _wait_http(inst.base, procs)
        ids = []
        files = sorted(testdata("libris-batchimport").glob("batch*.xml"))
        for path in files:
            req = urllib.request.Request(f"{inst.base}/deliveries", data=path.read_bytes(), method="POST",
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/marcxml+xml"})
            with urllib.request.urlopen(req, timeout=60) as resp:
                assert resp.status == 202
                ids.append(json.loads(resp.read())["id"])
        # the workers (not the web process) load them
        records: set[str] = set()
        deadline = time.monotonic() + 120
        for delivery_id in ids:
            while True:
                status, body = _get(f"{inst.base}/deliveries/{delivery_id}", token)
                report = json.loads(body)
                if report["status"] in ("done", "failed"):
                    break
                assert time.monotonic() < deadline, report
                time.sleep(0.2)
            assert report["status"] == "done", report
            records |= {r["record_id"] for r in report["records"] if r.get("record_id")}
        assert records
        # a full harvest through the web role lists every record once
        status, body = _get(f"{inst.base}/oai?verb=ListIdentifiers&metadataPrefix=marc21")
        assert status == 200
        tree = ElementTree.fromstring(body)
        identifiers = [h.findtext(f"{OAI}identifier", "").rsplit(":", 1)[-1] for h in tree.iter(f"{OAI}header")]
        harvested = {i.removeprefix("bib/") for i in identifiers if i.startswith("bib/")}
        assert len(harvested) == len([i for i in identifiers if i.startswith("bib/")])
        assert tree.find(f".//{OAI}resumptionToken") is None or not tree.find(f".//{OAI}resumptionToken").text
        assert harvested == records
        _through_nginx(inst, token, files[0].read_bytes())
        # the mailer role sends the libraries' e-mails (spooled: the settings name no SMTP host)
        deadline = time.monotonic() + 60
        while True:
            lines = _run(inst, "notifications", "list", "--json").splitlines()
            statuses = {json.loads(line)["status"] for line in lines}
            if statuses == {"spooled"}:
                break
            assert time.monotonic() < deadline, statuses
            time.sleep(0.5)
        assert {json.loads(line)["sigel"] for line in lines} >= {"Sods", "Nyks"}
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                code = p.wait(timeout=60)   # within the units' TimeoutStopSec
            except subprocess.TimeoutExpired:
                p.kill()
                raise
            err = p.stderr.read().decode() if p.stderr else ""
            assert code == 0, f"{p.args}: exit {code}\n{err}"
            assert "Traceback" not in err, err
            assert inst.env["FORVARV_ADMIN_TOKEN"] not in err


def _through_nginx(inst: Install, token: str, body: bytes) -> None:
    """deploy/nginx/forvarv.conf in front of the web role: TLS, a redirect from http, a delivery
    posted through it (streamed to the gateway), a harvest page and a report read through it."""
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        return   # .ci/run installs nginx; a machine without it still runs the rest
    port = int(inst.env["FORVARV_PORT"])
    with nginx.proxy(port, inst.state.parent / "nginx") as px:
        ctx = ssl.create_default_context()
        px.ca.configure_trust(ctx)
        conn = http.client.HTTPSConnection("127.0.0.1", px.https_port, context=ctx, timeout=60)
        conn.request("GET", "/oai?verb=Identify", headers={"Host": "forvarv.example.org"})
        resp = conn.getresponse()
        assert resp.status == 200
        assert b"<Identify>" in resp.read()
        conn.request("POST", "/deliveries?wait=60", body=body,
                     headers={"Host": "forvarv.example.org", "Authorization": f"Bearer {token}",
                              "Content-Type": "application/marcxml+xml", "Idempotency-Key": "through-nginx"})
        resp = conn.getresponse()
        report = json.loads(resp.read())
        assert resp.status == 200, report
        assert report["status"] == "done"
        conn.request("GET", f"/deliveries/{report['id']}", headers={"Host": "forvarv.example.org",
                                                                      "Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["id"] == report["id"]
        plain = http.client.HTTPConnection("127.0.0.1", px.http_port, timeout=30)
        plain.request("GET", "/oai?verb=Identify", headers={"Host": "forvarv.example.org"})
        resp = plain.getresponse()
        assert resp.status == 301
        assert resp.getheader("Location") == "https://forvarv.example.org/oai?verb=Identify"
        # the bearer token never reaches nginx's access log either (it logs no headers)
        assert token not in px.access_log.read_text()


def test_upgrade_migrates_once_from_two_machines(installed: Install) -> None:
    env = {**os.environ, **installed.env}
    procs = [subprocess.Popen([installed.forvarv, "migrate"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT) for _ in range(2)]
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0, out
    applied = _psql(installed.env["FORVARV_DATABASE_URL"], "-At", "-c",
                    "SELECT count(*), count(DISTINCT version) FROM schema_migrations")
    total, distinct = applied.strip().split("|")
    assert total == distinct
    migrations = list((REPO / "schemas" / "migrations").glob("[0-9]*.sql"))
    assert int(total) == len(migrations)


def test_backup_and_restore(installed: Install, tmp_path: Path) -> None:
    env = {**os.environ, "PG_BINDIR": str(scratch_pg.bindir())}
    out = subprocess.run(["bash", str(DEPLOY / "backup.sh"), "--env", str(installed.etc / "forvarv.env"),
                          "--dir", str(tmp_path / "backups")], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    dump = Path(out.stdout.strip().splitlines()[-1])
    assert dump.exists() and dump.stat().st_mode & 0o777 == 0o600
    assert not list((tmp_path / "backups").glob("*.partial"))
    # a second database from database.sql, the dump restored into it
    pg = installed.pg
    role_url = installed.env["FORVARV_DATABASE_URL"]
    password = re.match(r"postgresql://forvarv:([^@]+)@", role_url).group(1)  # type: ignore[union-attr]
    _psql(pg.url(), "-v", f"password={password}", "-v", "database=forvarv_restored", "-f",
          str(DEPLOY / "database.sql"))
    restored_url = pg.url("forvarv", password, "forvarv_restored")
    out = subprocess.run(["bash", str(DEPLOY / "restore.sh"), str(dump), restored_url], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    query = ("SELECT (SELECT count(*) FROM bib_records) || ' ' || (SELECT count(*) FROM holdings) || ' ' || "
             "(SELECT count(*) FROM deliveries) || ' ' || (SELECT max(version) FROM schema_migrations)")
    assert _psql(restored_url, "-At", "-c", query) == _psql(role_url, "-At", "-c", query)
    # the restored database serves: migrate finds nothing to do, a gateway answers from it
    env2 = {**os.environ, **installed.env, "FORVARV_DATABASE_URL": restored_url}
    subprocess.run([installed.forvarv, "migrate"], env=env2, check=True, capture_output=True, timeout=120)


def test_backup_keeps_the_database_password_off_the_command_line(tmp_path: Path) -> None:
    """pg_dump's command line is readable by every user of the machine (ps): backup.sh hands it the
    password of FORVARV_DATABASE_URL in its environment, percent-escapes undone, and the URL
    without it."""
    password = "p@ss:w/rd %\\x41" + secrets.token_urlsafe(8)
    with scratch_pg.server() as pg:
        literal = password.replace("'", "''")
        _psql(pg.url(), "-c", f"CREATE ROLE backer LOGIN PASSWORD '{literal}'")
        url = pg.url("backer", urllib.parse.quote(password, safe=""), "postgres")
        (tmp_path / "forvarv.env").write_text(f"FORVARV_DATABASE_URL={url}\n")
        bindir = tmp_path / "bin"  # pg_dump as the script finds it: the real one, its arguments noted
        bindir.mkdir()
        (bindir / "pg_dump").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path / "args"}\n'
                                        f'exec {scratch_pg.bindir() / "pg_dump"} "$@"\n')
        (bindir / "pg_dump").chmod(0o755)
        out = subprocess.run(["bash", str(DEPLOY / "backup.sh"), "--env", str(tmp_path / "forvarv.env"),
                              "--dir", str(tmp_path / "backups")], env={**os.environ, "PG_BINDIR": str(bindir)},
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        assert Path(out.stdout.strip().splitlines()[-1]).stat().st_size > 0
        args = (tmp_path / "args").read_text()
        assert f"127.0.0.1:{pg.port}" in args
        assert urllib.parse.quote(password, safe="") not in args and password not in args


def test_install_reads_the_settings_as_systemd_does(installed: Install) -> None:
    """install.sh runs `forvarv migrate` with the settings file's values taken as written, as
    systemd's EnvironmentFile takes them: a list of replica URLs separated by spaces (as the
    example shows) and a password with `$` are values, not shell words."""
    env_file = installed.etc / "forvarv.env"
    text = env_file.read_text()
    url = installed.env["FORVARV_DATABASE_URL"]
    try:
        env_file.write_text(text + f"FORVARV_READ_DATABASE_URL={url} {url}\nFORVARV_SMTP_PASSWORD=a$b `c` d\n")
        out = _install_sh(installed.prefix.parent)
        assert "schema migrated" in out
    finally:
        env_file.write_text(text)
