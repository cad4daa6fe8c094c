"""`forvarv` from the command line, run as a subprocess from this environment's script: no
traceback ever, one clear line and a non-zero exit for what goes wrong, deliveries told by their
content, global options after the subcommand, one-line help, quiet one-off commands."""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import re
import signal
import socket
import sys
import tempfile
from pathlib import Path

import asyncpg
import pytest

from gateway import registry
from gateway.cli import build_parser
from protocols.marc.record import ControlField, DataField, Record
from protocols.marc.writer import to_iso2709
from tests.ports import free_port

FORVARV = str(Path(sys.executable).with_name("forvarv"))
MARC_NS = "http://www.loc.gov/MARC21/slim"


def env(db_url: str | None, data_dir: Path, **extra: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("FORVARV_")}
    e.update(FORVARV_DATA_DIR=str(data_dir), FORVARV_PARSE_PROCESS="0", **extra)
    if db_url:
        e["FORVARV_DATABASE_URL"] = db_url
    return e


async def forvarv(environ: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(FORVARV, *args, env=environ, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def one_clear_line(code: int, err: str) -> str:
    assert code != 0
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    return lines[0]


def marcxml(own: str, title: str) -> bytes:
    return (f'<?xml version="1.0"?><collection xmlns="{MARC_NS}"><record><leader>00000nam a2200000 i 4500</leader>'
            f'<controlfield tag="001">{own}</controlfield><datafield tag="245" ind1="1" ind2="0">'
            f'<subfield code="a">{title}</subfield></datafield></record></collection>').encode()


def iso(own: str, title: str) -> bytes:
    return to_iso2709(Record("00000nam a2200000 i 4500", [ControlField("001", own)],
                             [DataField("245", "1", "0", [("a", title)])]))


@pytest.fixture
async def supplier(pool: asyncpg.Pool) -> str:
    async with pool.acquire() as conn:
        await registry.add_supplier(conn, "CLIE", "CLI supplier")
    return "CLIE"


# --- no traceback ------------------------------------------------------------------------------


async def test_a_missing_file_is_one_line_naming_it(db_url: str, tmp_path: Path, supplier: str) -> None:
    code, _, err = await forvarv(env(db_url, tmp_path), "deliver", "nosuchfile.xml", "--supplier", supplier)
    line = one_clear_line(code, err)
    assert "nosuchfile.xml" in line and "no such file" in line


async def test_a_database_that_is_down_is_one_line(tmp_path: Path) -> None:
    down = f"postgresql://forvarv:secret-pw@127.0.0.1:{free_port()}/forvarv"
    for args in (("supplier", "list"), ("migrate",), ("serve", "--port", str(free_port()), "--workers", "0")):
        code, _, err = await forvarv(env(down, tmp_path), *args)
        line = one_clear_line(code, err)
        assert "cannot use the database at 127.0.0.1" in line and "refused" in line, line
        assert "secret-pw" not in err


async def test_serve_on_a_busy_port_is_one_line(db_url: str, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = await forvarv(env(db_url, tmp_path), "serve", "--port", str(port), "--workers", "0")
    line = one_clear_line(code, err)
    assert "address already in use" in line and "--port" in line
    assert "Förvärv Gateway on" not in out


# --- deliver -----------------------------------------------------------------------------------


async def test_deliver_tells_the_format_from_the_content(db_url: str, tmp_path: Path, supplier: str,
                                                         pool: asyncpg.Pool) -> None:
    files = {
        "utan-namn.dat": iso("c1", "Binär"),           # ISO 2709 under a name that says nothing
        "egentligen-iso.xml": iso("c2", "Fel namn"),   # ISO 2709 named .xml
        "packad.bin": gzip.compress(marcxml("c3", "Packad")),  # gzipped MARCXML, no .gz
        "vanlig.mrc": marcxml("c4", "XML som mrc"),      # MARCXML named .mrc
    }
    for name, body in files.items():
        (tmp_path / name).write_bytes(body)
    code, out, err = await forvarv(env(db_url, tmp_path / "data"), "deliver", "--supplier", supplier, "--quiet",
                                   *(str(tmp_path / n) for n in files))
    assert code == 0, err
    assert "Traceback" not in err
    for name in files:
        lines = [line for line in out.splitlines() if name in line]
        assert any(re.search(r"delivery \d+ received", line) for line in lines), out
        done = [line for line in lines if re.search(r"delivery \d+ done: 1 records, 1 created", line)]
        assert len(done) == 1, out  # each file's own summary, naming the file
    async with pool.acquire() as conn:
        formats = {r["source"]: r["format"] for r in await conn.fetch("SELECT source, format FROM deliveries")}
    assert formats == {"file:utan-namn.dat": "iso2709", "file:egentligen-iso.xml": "iso2709",
                       "file:packad.bin": "marcxml", "file:vanlig.mrc": "marcxml"}


async def test_deliver_names_the_file_in_every_message_and_goes_on(db_url: str, tmp_path: Path,
                                                                   supplier: str) -> None:
    (tmp_path / "trasig.xml").write_bytes(marcxml("d1", "Trasig")[:-30])
    (tmp_path / "hel.xml").write_bytes(marcxml("d2", "Hel"))
    (tmp_path / "text.txt").write_bytes(b"hello, not MARC\n")
    code, out, err = await forvarv(env(db_url, tmp_path / "data"), "deliver", "--supplier", supplier, "--quiet",
                                   str(tmp_path / "text.txt"))
    line = one_clear_line(code, err)
    assert "text.txt" in line and "neither MARCXML nor ISO 2709" in line
    code, out, err = await forvarv(env(db_url, tmp_path / "data"), "deliver", "--supplier", supplier, "--quiet",
                                   str(tmp_path / "trasig.xml"), str(tmp_path / "hel.xml"))
    line = one_clear_line(code, err)
    assert f"{tmp_path / 'trasig.xml'}: not a usable MARCXML document" in line
    assert re.search(r"hel\.xml: delivery \d+ done: 1 records, 1 created", out), out


async def test_iso2709_posted_as_marcxml_gets_a_hint(db_url: str, tmp_path: Path, supplier: str) -> None:
    """Through the intake as HTTP uses it: `--content-type` declares the type, as a POST does."""
    (tmp_path / "poster.mrc").write_bytes(iso("h1", "Hint"))
    code, _, err = await forvarv(env(db_url, tmp_path / "data"), "deliver", "--supplier", supplier, "--quiet",
                                 "--content-type", "application/marcxml+xml", str(tmp_path / "poster.mrc"))
    line = one_clear_line(code, err)
    assert "looks like ISO 2709" in line and "Content-Type: application/marc" in line


# --- options, help, logging ---------------------------------------------------------------------


async def test_global_options_after_the_subcommand(db_url: str, tmp_path: Path, supplier: str) -> None:
    bare = env(None, tmp_path)
    del bare["FORVARV_DATA_DIR"]
    code, out, err = await forvarv(bare, "supplier", "list", "--database-url", db_url)
    assert code == 0, err
    assert supplier in out
    code, out, err = await forvarv(bare, "--database-url", db_url, "supplier", "list", "-v")
    assert code == 0, err
    assert supplier in out
    code, _, err = await forvarv(bare, "deliver", "nosuch.xml", "--supplier", supplier, "--data-dir",
                                 str(tmp_path / "d"), "--database-url", db_url)
    assert "nosuch.xml: no such file" in one_clear_line(code, err)


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str | None]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {c.dest: c.help for c in action._choices_actions}
            for name, child in action.choices.items():
                found.append(((*path, name), helps.get(name)))
                found.extend(_commands(child, (*path, name)))
    return found


async def test_every_subcommand_has_a_one_line_help(tmp_path: Path) -> None:
    commands = _commands(build_parser())
    assert len(commands) > 30
    missing = [" ".join(p) for p, h in commands if not h or "\n" in h]
    assert not missing
    groups = sorted({p[:-1] for p, _ in commands if len(p) > 1})
    for group in [(), *groups]:
        code, out, err = await forvarv(env(None, tmp_path), *group, "--help")
        assert code == 0, err
        names = [p[-1] for p, _ in commands if p[:-1] == group]
        for name in names:  # each listed with its help text beside it
            assert re.search(rf"^    {re.escape(name)}\s+\S", out, re.M), (group, name, out)
        assert "register(" not in out and "`" not in out, out  # no developer docstring


async def test_one_off_commands_print_no_info_unless_verbose() -> None:
    with tempfile.TemporaryDirectory(prefix="forvarv-cli-") as tmp:
        os.chmod(tmp, 0o755)  # the embedded server runs as an unprivileged user when we are root
        data = Path(tmp) / "data"
        code, _, err = await forvarv(env(None, data), "supplier", "list")
        assert code == 0, err
        assert err == "", err  # the embedded database started, migrated, and said nothing
        code, _, err = await forvarv(env(None, data), "supplier", "list", "-v")
        assert code == 0, err
        assert "INFO" in err and "embedded" in err


async def test_an_embedded_database_that_cannot_start_is_one_line(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "data"
    not_a_folder.write_text("a file where the data folder should be")
    code, _, err = await forvarv(env(None, not_a_folder), "supplier", "list")
    assert "cannot start the embedded PostgreSQL" in one_clear_line(code, err)


# --- serve --demo ------------------------------------------------------------------------------


async def demo_run(environ: dict[str, str], port: int, workers: str = "0") -> str:
    """`forvarv serve --demo` until it listens; returns what it printed, then stops it (SIGINT)."""
    proc = await asyncio.create_subprocess_exec(FORVARV, "serve", "--demo", "--port", str(port), "--workers", workers,
                                                env=environ, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None and proc.stderr is not None
    printed = []
    try:
        async with asyncio.timeout(120):
            while True:
                line = (await proc.stdout.readline()).decode()
                assert line, (printed, (await proc.stderr.read()).decode())
                printed.append(line)
                if line.startswith("Förvärv Gateway on"):
                    break
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the whole process group
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err.decode(), err.decode()
    return "".join(printed) + out.decode()


async def test_serve_demo_keeps_the_demo_suppliers_token(db_url: str, tmp_path: Path, pool: asyncpg.Pool) -> None:
    environ = env(db_url, tmp_path / "data", FORVARV_SFTP_PORT="0", FORVARV_ADMIN_TOKEN="demo-admin")
    # the first run with the workers' second process: Ctrl-C reaches it too, and it says nothing
    first = await demo_run({**environ, "FORVARV_PARSE_PROCESS": "1"}, free_port(), workers="1")
    token = re.search(r"supplier DEMO\s+(\S+)", first)
    assert token, first
    second = await demo_run(environ, free_port())
    assert re.search(r"supplier DEMO\s+(\S+)", second).group(1) == token.group(1)  # type: ignore[union-attr]
    async with pool.acquire() as conn:
        found = await registry.authenticate(conn, token.group(1))
        assert found is not None and found.code == "DEMO"
        await registry.revoke_token(conn, "DEMO")  # a revoked token is replaced at the next start
    third = await demo_run(environ, free_port())
    new = re.search(r"supplier DEMO\s+(\S+)", third).group(1)  # type: ignore[union-attr]
    assert new != token.group(1)
    async with pool.acquire() as conn:
        assert await registry.authenticate(conn, new) is not None
