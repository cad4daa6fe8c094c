"""The event loop: uvloop by default, asyncio's own on request (FORVARV_EVENT_LOOP), a clear
one-line error for a value that is neither; and a gateway process says which loop it runs on."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import aiohttp
import pytest

from gateway import config
from gateway.ops import loop
from tests.ops import procs

HAS_UVLOOP = importlib.util.find_spec("uvloop") is not None


async def _running() -> str:
    return loop.name(asyncio.get_running_loop())


def test_uvloop_is_the_default_and_asyncio_can_be_chosen() -> None:
    assert config.from_env({}).event_loop == "uvloop"
    assert config.from_env({"FORVARV_EVENT_LOOP": " AsyncIO "}).event_loop == "asyncio"
    assert loop.run(_running(), "asyncio") == "asyncio"
    assert loop.run(_running(), "uvloop") == ("uvloop" if HAS_UVLOOP else "asyncio")


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("FORVARV_EVENT_LOOP", "trio", "use uvloop or asyncio"),
    ("FORVARV_PORT", "80a", "is not a whole number"),
    ("FORVARV_STOP_TIMEOUT", "soon", "is not a number"),
])
def test_a_setting_that_cannot_be_used_names_its_variable(variable: str, value: str, says: str) -> None:
    with pytest.raises(config.ConfigError) as caught:
        config.from_env({variable: value})
    assert variable in str(caught.value) and says in str(caught.value)


async def test_a_bad_setting_is_one_line_from_the_command_line(tmp_path: Path) -> None:
    for variable, value in (("FORVARV_PORT", "80a"), ("FORVARV_EVENT_LOOP", "trio")):
        environ = procs.env("postgresql://127.0.0.1:1/none", tmp_path, **{variable: value})
        proc = await asyncio.create_subprocess_exec(procs.FORVARV, "supplier", "list", env=environ,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        lines = err.decode().strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, err
        assert lines[0].startswith("error: ") and variable in lines[0], lines


@pytest.mark.parametrize("kind", ["uvloop", "asyncio"])
async def test_a_gateway_process_runs_on_the_loop_it_was_given(db_url: str, tmp_path: Path, kind: str) -> None:
    if kind == "uvloop" and not HAS_UVLOOP:
        pytest.skip("uvloop is not installed here")
    web = await procs.start("web", procs.env(db_url, tmp_path, FORVARV_EVENT_LOOP=kind))
    try:
        async with aiohttp.ClientSession() as session, session.get(f"{web.url}/health") as resp:
            assert resp.status == 200
    finally:
        assert await web.stop() == 0
    assert f"web running on {kind}'s event loop" in web.log, web.log
