"""The package as a user installs it: ``python -m build`` makes an sdist and a wheel
from it; the wheel, installed into a fresh virtualenv, runs ``rittunnel --version`` and
the demo, and brings the man page, the completion scripts and the example profiles.

Offline: the build uses this environment's setuptools (no build isolation), and the
fresh virtualenv finds the dependencies (trio, httpx…) in this one's site-packages
through a ``.pth`` file, so only rittunnel itself comes from the wheel."""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
#: what the sdist must hold beside the package
IN_SDIST = [
    "LICENSE",
    "README.md",
    "pyproject.toml",
    "setup.py",
    "share/man/man1/rittunnel.1",
    "share/bash-completion/completions/rittunnel",
    "share/zsh/site-functions/_rittunnel",
    "share/fish/vendor_completions.d/rittunnel.fish",
    "profiles/ssh-pi.yaml",
    "rittunnel/fake/server.py",
    "scripts/demo",
    "tests/conftest.py",
]
INSTALLED = [
    "share/man/man1/rittunnel.1",
    "share/bash-completion/completions/rittunnel",
    "share/zsh/site-functions/_rittunnel",
    "share/fish/vendor_completions.d/rittunnel.fish",
]


def _run(argv: list[str | Path], **kw: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=300, **kw)  # type: ignore[call-overload]
    assert proc.returncode == 0, (argv, proc.stdout[-2000:], proc.stderr[-2000:])
    return proc  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, REPO])
    return out


def test_the_sdist_holds_everything(dist: Path) -> None:
    (sdist,) = dist.glob("rittunnel-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    missing = [name for name in IN_SDIST if name not in names]
    assert not missing, missing
    assert any(name.startswith("docs/") for name in names)


def test_the_wheel_metadata(dist: Path) -> None:
    from rittunnel import __version__

    (wheel,) = dist.glob("rittunnel-*.whl")
    assert wheel.name.startswith(f"rittunnel-{__version__}-")
    with zipfile.ZipFile(wheel) as z:
        meta = z.read(f"rittunnel-{__version__}.dist-info/METADATA").decode()
        names = z.namelist()
    assert "License-Expression: MIT" in meta and "Classifier: " in meta
    assert f"rittunnel-{__version__}.dist-info/licenses/LICENSE" in names
    description = meta.split("\n\n", 1)[1]
    assert description.startswith("# rittunnel")
    # no link the index showing it could not follow: every target has a scheme
    relative = re.findall(r"\]\((?![a-z][a-z0-9+.-]*:)([^)]*)\)", description)
    assert relative == []


def test_installed_into_a_fresh_venv_it_runs_the_demo(dist: Path, tmp_path: Path) -> None:
    (wheel,) = dist.glob("rittunnel-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    site = Path(
        _run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
        ).stdout.strip()
    )
    # the dependencies, from this environment (a path line: its .pth files are not run)
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "-q",
            "--no-index",
            "--no-deps",
            wheel,
        ]
    )
    where = _run([python, "-c", "import rittunnel; print(rittunnel.__file__)"], cwd=tmp_path).stdout
    assert where.startswith(str(site)), where  # the wheel's, not this checkout's
    rittunnel = venv / "bin" / "rittunnel"
    from rittunnel import __version__

    assert _run([rittunnel, "--version"]).stdout.strip() == f"rittunnel {__version__}"
    home = {"HOME": str(tmp_path), "PATH": f"{venv / 'bin'}:/usr/bin:/bin"}
    demo = _run([rittunnel, "demo", "--mib", "1"], env=home, cwd=tmp_path)
    assert "demo: OK" in demo.stdout, demo.stdout
    for name in INSTALLED:
        assert (venv / name).is_file(), name
    assert (venv / "share" / "rittunnel" / "profiles" / "ssh-pi.yaml").is_file()
    bash = _run([rittunnel, "completion", "bash"], env=home).stdout
    assert bash == (venv / INSTALLED[1]).read_text()
