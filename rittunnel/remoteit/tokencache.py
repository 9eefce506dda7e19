"""A cache of the login token, so the next run skips the login call.

One JSON file, mode 0600, under ``$XDG_CACHE_HOME/rittunnel/``, holding one token per
(API URL, developer key, username) — the key is a hash, the developer key is not stored.
A stale cached token is simply refused by the API; the client then logs in again and the
new token replaces it here.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

from ..files import write_private
from .credentials import Credentials

#: a token this close to its announced expiry is not used
EXPIRY_MARGIN = 60.0


def cache_key(api_url: str, creds: Credentials) -> str:
    import hashlib  # lazy: only a login needs a cache key

    raw = "\0".join([api_url, creds.developer_key, creds.username or ""])
    return hashlib.sha256(raw.encode()).hexdigest()


class TokenCache:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str, now: float | None = None) -> str | None:
        entry = self._load().get(key)
        if not isinstance(entry, dict):
            return None
        token, expires = entry.get("token"), entry.get("expires_at")
        now = time.time() if now is None else now
        if isinstance(expires, int | float) and expires - EXPIRY_MARGIN <= now:
            return None
        return token if isinstance(token, str) and token else None

    def put(self, key: str, token: str, expires_at: float | None) -> None:
        data = self._load()
        data[key] = {"token": token, "expires_at": expires_at}
        # a cache: failing to write it costs one login next time
        with contextlib.suppress(OSError):
            write_private(self.path, json.dumps(data))
