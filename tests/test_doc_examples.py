"""Docs that cannot drift: every command example in the README and ``docs/*.md`` runs
against the fake remote.it, or carries a marker saying why it cannot.

An example is a fenced ``sh`` block, or an indented block with a line starting with
``rittunnel``. An HTML comment on the line before it (blank lines between allowed)
marks one that needs what a test does not have:

    <!-- example: needs-account -->          a real remote.it account or device
    <!-- example: not-run (reason) -->       anything else (output shown, systemctl, …)

Every other example runs line by line in a shell against the fake: ``rittunnel``
lines, and ``ssh``/``pg_dump`` lines through stand-ins that check bytes go through the
port (or ProxyCommand) they are given and come back from the fake's echo service. The
profiles are those the docs assume (``pi``, ``ssh-pi``, ``postgres``, …: the fake's SSH
service), each on a free port that replaces the docs' ``2222``. A foreground tunnel
(``rittunnel pi``) is started, seen ready and stopped; ``rittunnel fake-api`` is started,
its export line applied to the lines after it, and stopped when the example ends. An
unmarked example with a line of another kind fails.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

from rittunnel.fake import ACCESS_KEY_ID, ACCESS_SECRET
from tests.conftest import RITTUNNEL, Running, World, record_output, start_cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"<!--\s*example:\s*(needs-account|not-run)\b.*?-->")
#: first words of the lines an unmarked example may have
RUNNABLE = {"rittunnel", "ssh", "scp", "pg_dump", "mkdir", "export"}
#: first words of lines that are commands a test cannot run (the rest of a block's lines
#: after a ``rittunnel`` line are what it prints)
COMMANDS = {"systemctl", "journalctl", "sudo", "pipx", "pip", "./scripts/demo", "./scripts/test"}
#: the profiles the docs assume, all the fake's SSH service
PROFILES = ("pi", "ssh-pi", "postgres", "über")
#: what a line reads on stdin (PORT: the profiles' port; init is given it instead of
#: the suggested one, which may be taken on a shared machine)
STDIN = {
    "rittunnel init echo": "1\nPORT\n",
    "rittunnel init ssh-pi": "2\nPORT\n",  # the fake lists pi-off, pi-ssh, pi-web
    "rittunnel init pi": "2\nPORT\n",
    "rittunnel stdio ssh-pi": "ping\n",
}
#: a stand-in for ssh and pg_dump: connects to ``-p PORT`` on ``-h HOST`` or USER@HOST
#: (or runs ``-o ProxyCommand=…``), sends a line and wants it back from the echo service
STAND_IN = """\
import socket, subprocess, sys
args, port, host, proxy = sys.argv[1:], None, None, None
while args:
    a = args.pop(0)
    if a == "-o":
        o = args.pop(0)
        proxy = o.split("=", 1)[1] if o.startswith("ProxyCommand=") else proxy
    elif a in ("-p", "-P"):
        port = int(args.pop(0))
    elif a in ("-h", "-U"):
        v = args.pop(0)
        host = v if a == "-h" else host
    elif "@" in a and host is None:
        host = a.rsplit("@", 1)[-1].split(":")[0]
if proxy:
    p = subprocess.run(proxy, shell=True, input=b"ping\\n", capture_output=True, timeout=20)
    got = p.stdout
else:
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(b"ping\\n")
        got = b""
        while not got.endswith(b"\\n"):
            chunk = s.recv(100)
            if not chunk:
                break
            got += chunk
if got != b"ping\\n":
    sys.exit(f"stand-in: got {got!r} from {host}:{port} / {proxy!r}")
print("up 1 day")
"""


@dataclass(frozen=True)
class Example:
    path: Path
    line: int
    marker: str
    lines: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _joined(lines: list[str]) -> tuple[str, ...]:
    """The command lines, continuations (``\\``) joined, blank lines left out."""
    out: list[str] = []
    pending = ""
    for raw in lines:
        line = raw.strip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        if (pending + line) and not (pending + line).startswith("#"):
            out.append(pending + line)
        pending = ""
    return tuple(out)


def _marker_before(lines: list[str], index: int) -> str:
    i = index - 1
    while i >= 0 and not lines[i].strip():
        i -= 1
    found = MARKER.search(lines[i]) if i >= 0 else None
    return found.group(1) if found else ""


def examples(path: Path) -> list[Example]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Example] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            if line.strip() in ("```sh", "```bash", "```shell"):
                body = _joined(lines[i + 1 : end])
                found.append(Example(path, i + 1, _marker_before(lines, i), body))
            i = end + 1
            continue
        indent = re.match(r"( {4,})\S", line)
        if indent and (i == 0 or not lines[i - 1].strip()):
            width = len(indent.group(1))
            end = i
            while end < len(lines) and (
                lines[end].startswith(" " * width) or not lines[end].strip()
            ):
                end += 1
            block = [raw[width:] for raw in lines[i:end]]
            if any(b.startswith("rittunnel") for b in block):
                marker = _marker_before(lines, i)
                found.append(Example(path, i + 1, marker, _joined(block)))
            i = end
            continue
        i += 1
    return found


ALL = [example for path in DOCS for example in examples(path)]


def test_examples_are_found() -> None:
    files = {example.path.name for example in ALL}
    assert {"README.md", "guide-ssh.md", "guide-background.md", "guide-run-stdio.md"} <= files


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(world: World, bin_dir: Path, example: Example) -> tuple[dict[str, str], int]:
    """The environment of the examples' shell, and the local port of ``pi`` and
    ``ssh-pi`` (the docs' 2222). The profiles the example's ``init`` writes are left out."""
    port = free_port()
    initialised = {line.split()[2] for line in example.lines if line.startswith("rittunnel init ")}
    for name in PROFILES:
        if name not in initialised:
            own = port if name in ("pi", "ssh-pi") else free_port()
            world.profile(name, f"service: pi-ssh\nlocal_port: {own}\n")
    home = Path(world.env["HOME"])
    (home / ".config" / "systemd" / "user").mkdir(parents=True)
    (home / ".ssh").mkdir()
    (home / ".remoteit").mkdir()
    keyfile = home / ".remoteit" / "credentials"
    keyfile.write_text(
        f"[work]\nR3_ACCESS_KEY_ID = {ACCESS_KEY_ID}\nR3_SECRET_ACCESS_KEY = {ACCESS_SECRET}\n"
    )
    keyfile.chmod(0o600)
    bin_dir.mkdir()
    for name in ("ssh", "scp", "pg_dump"):
        tool = bin_dir / name
        tool.write_text(f"#!{sys.executable}\n{STAND_IN}")
        tool.chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{Path(RITTUNNEL).parent}{os.pathsep}{world.env['PATH']}"
    return {**world.env, "PATH": path}, port


def foreground(args: list[str]) -> bool:
    """A line that serves until stopped: a tunnel in the foreground, or the fake."""
    return args[1] == "fake-api" or args[1] in PROFILES or (args[1] == "up" and "-d" not in args)


async def shell(env: dict[str, str], line: str, cwd: Path, port: int = 0) -> tuple[int, str]:
    with trio.fail_after(30):
        proc = await trio.run_process(
            ["bash", "-c", line],
            env=env,
            cwd=cwd,
            stdin=STDIN.get(line.split("#")[0].strip(), "").replace("PORT", str(port)).encode(),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    output = (proc.stdout + proc.stderr).decode(errors="replace")
    record_output(output, env)
    return proc.returncode, output


async def start_fake(nursery: trio.Nursery, env: dict[str, str], args: list[str]) -> Running:
    """The fake started as the docs do; its export line (which holds the fake's own demo
    password, meant to be shown) is not searched for secrets."""
    proc = await trio.lowlevel.open_process(
        [RITTUNNEL, *args[1:]], env=env, stdout=-1, stderr=-1, stdin=-3
    )
    nursery.start_soon(_reap, proc)
    return Running(proc, nursery)


async def _reap(proc: trio.Process) -> None:
    try:
        await trio.sleep_forever()
    finally:
        if proc.returncode is None:
            proc.kill()
            with trio.CancelScope(shield=True):
                await proc.wait()


def classify(lines: tuple[str, ...]) -> list[tuple[str, str]]:
    """Each line as ``("run", line)``, ``("output", line)`` (what the ``rittunnel`` line
    before it prints) or ``("cannot", line)``."""
    out: list[tuple[str, str]] = []
    after_rittunnel = False
    for line in lines:
        word = line.split()[0]
        if word in RUNNABLE:
            out.append(("run", line))
            after_rittunnel = word == "rittunnel"
        elif after_rittunnel and word not in COMMANDS:
            out.append(("output", line))
        else:
            out.append(("cannot", line))
            after_rittunnel = False
    return out


async def run_example(example: Example, world: World, nursery: trio.Nursery) -> None:
    env, port = prepare(world, world.tmp / "bin", example)
    fakes: list[Running] = []
    tunnels: list[Running] = []
    printed = ""
    try:
        for kind, line in classify(example.lines):
            line = line.replace("2222", str(port))
            if kind == "output":
                # a shown table's header: its columns are the ones the command prints
                if printed:
                    missing = [word for word in line.split() if word not in printed]
                    assert not missing, f"{example.id}: {missing} not in:\n{printed}"
                printed = ""
                continue
            args = shlex.split(line, comments=True)
            if args[0] == "export":
                assert fakes, f"{example.id}: {line!r} without a fake-api before it"
                exported = await fakes[-1].wait_for("export ")
                for pair in shlex.split(exported.strip())[1:]:
                    key, _, value = pair.partition("=")
                    env[key] = value
                continue
            if args[0] == "rittunnel" and foreground(args):
                if args[1] == "fake-api":
                    fakes.append(await start_fake(nursery, env, args))
                else:
                    tunnels.append(await start_cli(nursery, env, *args[1:]))
                    await tunnels[-1].ready()
                continue
            code, printed = await shell(env, line, world.tmp, port)
            assert code == 0, f"{example.id}: {line!r} exited {code}:\n{printed}"
        for tunnel in tunnels:
            assert await tunnel.stop(signal.SIGINT) == 0, tunnel.all_output
    finally:
        with trio.CancelScope(shield=True):
            await shell(env, "rittunnel stop --all", world.tmp)
            for fake in fakes:
                await fake.stop(signal.SIGINT)


@pytest.mark.parametrize("example", ALL, ids=[example.id for example in ALL])
async def test_doc_example(example: Example, world: World, nursery: trio.Nursery) -> None:
    if example.marker:
        pytest.skip(f"marked {example.marker}")
    cannot = [line for kind, line in classify(example.lines) if kind == "cannot"]
    assert not cannot, (
        f"{example.id}: unmarked example with lines the test cannot run: {cannot}; "
        "add <!-- example: needs-account --> or <!-- example: not-run (why) --> before it"
    )
    await run_example(example, world, nursery)
