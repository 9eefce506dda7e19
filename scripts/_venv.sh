# Sourced by scripts/test and scripts/demo: make .venv (Python >= 3.11) with rittunnel
# installed in editable mode plus its dev extras. Re-installs only when pyproject.toml changed.
VENV="${RITTUNNEL_VENV:-.venv}"
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "rittunnel needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV"
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.rittunnel-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "== installing rittunnel and its dev tools into $VENV"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e '.[dev]' 2>&1 \
    | grep -v "^WARNING: Location" || true
  "$VENV/bin/python" -c 'import rittunnel, trio, httpx, pytest_trio' 
  touch "$stamp"
fi
