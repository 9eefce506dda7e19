"""``stdio --service ID`` beside a running tunnel (issue 26, item 3): the whole path,
from the console script to the last relayed byte, imports no yaml, trio or httpx, so
ssh's ProxyCommand starts about as fast as a bare Python. Real processes: the installed
CLI against the fake remote.it and a real echo service; ``-X importtime`` lists every
module the process imported."""

from __future__ import annotations

import sys
from pathlib import Path

import trio

from .conftest import RITTUNNEL, SSH_ID, World, up

DEADLINE = 60
#: modules the fast path must not load: the profile parser and the async stack
HEAVY = ("yaml", "trio", "httpx", "httpcore", "anyio")
#: modules it once loaded for nothing, kept off it: tempfile and shutil (and the
#: compressors behind them), psutil (``/proc`` answers on Linux), hashing, e-mail date
#: parsing, the IDNA codec of a name lookup, the fake API, the API protocol code and
#: the profile loader
LIGHT = (
    "tempfile",
    "shutil",
    "lzma",
    "random",
    "hashlib",
    "email",
    "encodings.idna",
    "unicodedata",
    "subprocess",
    "rittunnel.fake",
    "rittunnel.remoteit.protocol",
    "rittunnel.profiles.loader",
    *(("psutil",) if sys.platform.startswith("linux") else ()),
)


async def test_stdio_by_service_id_beside_a_tunnel_imports_nothing_heavy(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        await up(world, nursery)
        calls = len(world.fake.calls)
        proc = await trio.run_process(
            [sys.executable, "-X", "importtime", RITTUNNEL, "stdio", "--service", SSH_ID],
            env=world.env,
            stdin=b"fast path",
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        err = proc.stderr.decode()
        assert proc.returncode == 0, err[-2000:]
        assert proc.stdout == b"fast path"
        assert world.fake.calls[calls:] == []
        modules = {
            line.split("|")[-1].strip()
            for line in err.splitlines()
            if line.startswith("import time:") and "|" in line
        }
        imported = {name.split(".")[0] for name in modules}
        assert imported, err[-2000:]
        assert sorted(imported.intersection(HEAVY)) == []
        crept = [m for m in sorted(modules) if any(m == w or m.startswith(f"{w}.") for w in LIGHT)]
        assert crept == []
        assert Path(RITTUNNEL).exists()
