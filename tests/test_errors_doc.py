# ruff: noqa: E501 - the lists at the end hold messages as they are, one a line
"""The error reference (``docs/reference.md#errors``) and the messages the code can
produce, checked against each other: every row's message exists in ``rittunnel/``, and
every error raised or warning said there is in the table.

Messages are collected from the source (``raise SomeError(f"…")`` and ``….warn(f"…")``
outside the fake) as templates, each interpolated value a ``{}``. A row documents a
message when a stretch of :data:`WINDOW` characters of the message's text is in the
reference; a row exists in the code when every stretch of its text between placeholders
(``NAME``, ``…``, ``'X'``) is in a string of the code. :data:`UNDOCUMENTED` and
:data:`PARAPHRASED` list what does not pass yet; they may only shrink: an entry that
passes, or whose message is gone, fails the test too."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference.md"
#: characters of a message that must appear together in the reference
WINDOW = 24
#: stretches of a row shorter than this are not looked for
SHORTEST = 10
#: what stands for a value in a row: a NAME, ``…``, a quoted value, a number
PLACEHOLDER = re.compile(r"…|\b[A-Z][A-Z0-9_]*\b|'[^']*'|\\\||\b\d+(?:\.\d+)?\b|`")
#: exception classes whose messages are not the user's (a bug's, or never shown)
INTERNAL = {"AssertionError", "ValueError", "TypeError", "KeyError", "RuntimeError"}
#: messages wholly made of values: what they say is documented with their parts
BARE = re.compile(r"^[{}: ;,.()\[\]]*$")


def template(node: ast.expr) -> str | None:
    """A string or f-string as a template, each value ``{}``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(str(v.value) if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return (template(node.left) or "{}") + (template(node.right) or "{}")
    return None


def messages() -> set[str]:
    """Every user-facing message template of ``rittunnel/`` (the fake's excluded)."""
    found = set()
    for path in sorted((ROOT / "rittunnel").rglob("*.py")):
        if "fake" in path.relative_to(ROOT).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            text = None
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
                func = node.exc.func
                if isinstance(func, ast.Name) and func.id not in INTERNAL:
                    text = template(node.exc.args[0])
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "warn"
                and node.args
            ):
                text = template(node.args[0])
            if text and not BARE.match(text):
                found.add(re.sub(r"\s+", " ", text))
    return found


def strings() -> str:
    """Every string and f-string of ``rittunnel/`` (the fake's excluded), each value a NUL,
    one a line: where a row's message must be (a message may be built by a function)."""
    found = []
    for path in sorted((ROOT / "rittunnel").rglob("*.py")):
        if "fake" in path.relative_to(ROOT).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant | ast.JoinedStr):
                text = template(node)
                if text:
                    found.append(re.sub(r"\s+", " ", text).replace("{}", "\0"))
    return "\n".join(found)


def reference() -> str:
    return re.sub(r"\s+", " ", REFERENCE.read_text(encoding="utf-8"))


def rows() -> list[str]:
    """Each message a row of the errors table shows (a row may show several)."""
    text = REFERENCE.read_text(encoding="utf-8")
    table = text[text.index("## Errors") :]
    out = []
    for line in table.splitlines():
        if not line.startswith("| `"):
            continue
        cell = line[2:].split(" | ", 1)[0]
        for shown in re.findall(r"``? ?(.+?) ?``?(?: / |$)", cell):
            out.append(shown)
    return out


def documented(message: str, ref: str) -> bool:
    for part in message.split("{}"):
        part = part.strip()
        if len(part) < WINDOW:
            if len(part) >= SHORTEST + 4 and part in ref:
                return True
            continue
        if any(part[i : i + WINDOW] in ref for i in range(len(part) - WINDOW + 1)):
            return True
    return False


def exists(row: str, code: str) -> bool:
    row = row.removeprefix("warning: ")
    stretches = [s.strip(" .;:,()") for s in PLACEHOLDER.split(row)]
    return all(s in code for s in stretches if len(s) >= SHORTEST)


def test_every_message_is_in_the_error_reference() -> None:
    ref = reference()
    found = messages()
    missing = sorted(m for m in found if not documented(m, ref) and m not in UNDOCUMENTED)
    assert missing == [], "add these to docs/reference.md#errors"
    stale = sorted(m for m in UNDOCUMENTED if m not in found or documented(m, ref))
    assert stale == [], "documented or gone: remove them from UNDOCUMENTED"


def test_every_row_of_the_error_reference_is_a_message_the_code_has() -> None:
    code = strings()
    shown = rows()
    assert len(shown) > 80  # the table was found
    missing = [r for r in shown if not exists(r, code) and r not in PARAPHRASED]
    assert missing == [], "no such message in rittunnel/: fix the row"
    stale = sorted(r for r in PARAPHRASED if r not in shown or exists(r, code))
    assert stale == [], "matches now, or gone: remove them from PARAPHRASED"


#: messages not in the reference yet (each one's template)
UNDOCUMENTED: frozenset[str] = frozenset(
    {
        "--service {} {}",
        "a profile is named twice: {}",
        "a systemd unit cannot name the path {}: it is not absolute, or has control characters, a trailing backslash or spaces at an end",
        "an empty list binds nothing; name at least one address",
        "another rittunnel is starting this tunnel and holds {} too long",
        "cannot claim {}: another rittunnel keeps racing for it",
        "cannot create {}: it vanished meanwhile",
        "cannot listen on port {}: a port is a number 1-65535",
        "cannot open the lock file {}: {}",
        "cannot open the log {}: {}",
        "cannot stop the proxies of {}: {}",
        "cannot update the state file {}: {}",
        "cannot use {}: {}",
        "cannot write {} as a profile",
        "cannot write {}: {}",
        "completion: name the shell ({})",
        "connect: mode restricted without hostip needs the REST API (it uses the caller's IP); set hostip in the profile, or api: rest",
        "connect: the remote.it API answered status true but no connection",
        "connect: the remote.it API answered without a connectionid",
        "could not stop proxy {} of {}: {}",
        "credentials section [{}] asked for, but {} does not exist; create it with your access key (see docs/reference.md#credentials)",
        "demo: rittunnel did not report ready in time",
        "device list: the GraphQL answer has no devices.items",
        "device list: the remote.it API answered without a devices list",
        "has a bad host or port",
        "has a host {} that is not a host",
        "has no host",
        "hostip",
        "init: --port {} is out of range; use 1-65535",
        "init: remote.it gave service {} the ID {}, which is not a service ID; no profile written",
        "init: {}",
        "init: {}; no profile written",
        "is a reverse proxy whose URL {} is not one",
        "is a reverse proxy without a URL",
        "is not a URL",
        "login: the remote.it API answered status true but sent no token",
        "missing credentials: no login and no token; {}",
        "name: {} is not its file's name {}",
        "no address to listen on for port {}",
        "no answer; type a number, a name or a service ID",
        "no permission to listen on {}; ports below 1024 need privileges, choose local_port 1024 or higher",
        "no service with ID {} in this remote.it account",
        "no token and no username/password to log in with",
        "no working proxy within hold_timeout {}s",
        "not JSON ({})",
        "not a JSON object",
        "organisation list: the GraphQL answer has no membership",
        "profile file {} does not exist",
        "ssh-config: {} cannot be an ssh_config token",
        "ssh-config: {} cannot be one ssh_config line",
        "stdio: --notify-fd is internal to --persist",
        "stdio: the background tunnel of {} does not take connections; see `rittunnel status`",
        "stdio: the background tunnel {} exited (code {}) before it was ready; see {}",
        "stdio: the background tunnel {} said it was ready, but is not found running; see {}",
        "stop: name the tunnels to stop, or --all",
        "stop: remote.it answered disconnect {} for {}",
        "stop: remote.it no longer has connection {} (disconnect: false)",
        "the token was refused and there is no REMOTEIT_USERNAME/REMOTEIT_PASSWORD to log in again; set them or a fresh REMOTEIT_TOKEN",
        "warm",
        "{} is not a port number; use 1-65535",
        "{} is not a port number; use a whole number 1-65535",
        "{} is not a profile name ({}; at most {} bytes); or give a path to a .yaml file",
        "{} is not a section name; {}",
        "{} is not a service name or ID; expected {}",
        "{} is not an IP address",
        "{} is not an IP address (e.g. 127.0.0.1 or ::1)",
        "{} is not in the list; pick 1-{}",
        "{} is not true or false",
        "{} is not {}",
        "{} is not {}; use {}",
        "{} is out of range; use 1-65535",
        "{} takes no {}; options go after the command (rittunnel {} [OPTIONS])",
        "{} {}; refusing to use it (as ssh does for ~/.ssh)",
        "{}: [{}] has no {}",
        "{}: accept failed: {}",
        "{}: cannot read: {}",
        "{}: cannot update its state file: {}{}",
        "{}: expected a mapping of keys (service:, local_port:), got {}",
        "{}: is larger than {} bytes",
        "{}: is not UTF-8 text (byte {}); save it as UTF-8",
        "{}: is not a regular file",
        "{}: is not a regular file ({})",
        "{}: is {} bytes; a credentials file is at most {}",
        "{}: line {} is not a [section] or KEY = VALUE line",
        "{}: line {} is not a valid [section]",
        "{}: missing",
        "{}: mode public: anyone who learns {} can connect to the service until the proxy expires",
        "{}: mode: restricted without hostip needs the REST API (it uses the caller's IP) and this tunnel uses GraphQL; set hostip to your public IP, or give a developer key (R3_DEVELOPER_API_KEY) so REST is used",
        "{}: nested too deeply; a profile is a flat list of keys",
        "{}: no section [{}] (it has: {})",
        "{}: service {} is an HTTP(S) service (reverse proxy {}); stdio needs a port: set proxy: port in the profile",
        "{}: service {} is an HTTP(S) service ({}); stdio needs a port: set proxy: port in the profile",
        "{}: service: {}",
        "{}: the file is empty; it needs at least service and local_port",
        "{}: the remote.it API answered HTTP {}",
        "{}: the remote.it API answered HTTP {} with {}; it may be having an outage, try again later",
        "{}: the remote.it API answered without a status field",
        "{}: the remote.it GraphQL API answered HTTP {} with {}; it may be having an outage, try again later",
        "{}: the remote.it GraphQL API answered without {}",
        "{}: the remote.it GraphQL API rejected the request: {}",
        "{}: unknown key {}; known keys are {}",
        "{}: {} proxies in a row refused the connection; no working proxy in time (check mode/latching: a public IP that changed makes a latched proxy refuse)",
        "{}; check {}",
        "{}={} is not a whole number (0 or more, at most 999999999)",
        "{}={} is not an API; use rest or graphql",
        "{}={} is not {}",
    }
)
#: rows whose text is not a message's word for word yet (each as the row shows it)
PARAPHRASED: frozenset[str] = frozenset(
    {
        "DIR is writable by group and others (mode 0777): \\`chmod 700\\` it; refusing to use it …",
        "FILE.log is a symbolic link; refusing to write the log through it: remove it",
        "FILE: service: no service named 'NAME' …; close names: …",
        "NAME was not ready within Ss: …",
        "VAR='…' is not an http:// or https:// URL",
        "command line: credentials: …",
        "command line: service: 'NAME' names N services: …",
        "command line: service: no service named 'NAME' …",
        "connect: remote.it said no: REASON",
        "connect: the GraphQL connection has a port … that is not a port",
        "init: no answer on stdin; pass --service instead",
        "local port P on ADDR is already in use by pid N (NAME)",
        "login: remote.it refused the credentials: [0102] The username or password is invalid; check …",
        "login: this remote.it account signs in with two-factor authentication …",
        "run: give a profile NAME or --service, not both …",
        "stdio: --credentials goes with --service; profile 'NAME' names its own section …",
        "stdio: give a profile NAME or --service NAME\\|ID",
        "stdio: the running tunnel NAME (pid N, port P) closed the connection before the service sent anything; see its log LOG and `rittunnel status`",
        "warning: ENVFILE can be read by other users (mode 0NNN); run `chmod 600 ENVFILE`",
        "warning: NAME stopped, but proxy ID may still be open at remote.it; …",
        "warning: NAME: no proxy for a client from PEER: NAME: cannot open a connection to the proxy: Too many open files …",
        "warning: NOTIFY_SOCKET='…' is not a socket address (NUL in it, or longer than 107 bytes); not notifying",
        "warning: NOTIFY_SOCKET='…' is not an absolute path or an @abstract socket name; not notifying",
        "warning: state files A.json and B.json name the same port P of pid N: using neither …",
        "warning: …: throttled by remote.it; waiting Ns",
        "…: remote.it refused the access key: Unauthorized; check the access key (…)",
        "…: remote.it refused the credentials (HTTP 401): Unauthorized; check the access key (…)",
    }
)
