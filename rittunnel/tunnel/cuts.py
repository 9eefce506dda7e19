"""Seeing a connect cut the previous proxy's live connections, where the API does not say.

Over REST a connect that replaced an earlier proxy says so (``connectionOverridden``).
Over GraphQL nothing says so, and whether a connect replaces the service's earlier proxy
is unknown (``docs/remoteit-api.md#graphql-replacement``): if it does, the connections
through the previous proxy end right after the connect. :class:`CutWatch` follows the
connections live through the current proxy when a renewal's connect is asked, and tells
(once per tunnel) when they all ended as :func:`~rittunnel.tunnel.lease.cut_by_connect`
decides. No trio: times are passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from .lease import CUT_WINDOW, Lease, cut_by_connect


@dataclass
class _Watched:
    connection_id: str
    proxy: str
    #: connections open through it when the connect was asked
    live: int
    ended: int = 0
    #: when the connect answered (None: not yet)
    answered: float | None = None


class CutWatch:
    """The previous proxy's connections around one connect (see module docstring)."""

    def __init__(self) -> None:
        self._watched: _Watched | None = None
        #: said already: once per tunnel is enough
        self.said = False

    def connecting(self, current: Lease, live: int) -> None:
        """A connect is being asked while ``live`` connections use ``current``."""
        self._watched = None
        if live > 0 and not self.said:
            self._watched = _Watched(current.connection_id, str(current.connection.proxy), live)

    def answered(self, now: float, *, made: bool) -> None:
        """The connect answered (``made``: with a proxy; else nothing is watched)."""
        if self._watched is not None:
            if made:
                self._watched.answered = now
            else:
                self._watched = None

    def ended(self, connection_id: str, now: float) -> str | None:
        """A connection through ``connection_id`` ended: what to say if the connect
        seems to have cut them all (once), else None."""
        w = self._watched
        if w is None or w.connection_id != connection_id:
            return None
        since = None if w.answered is None else now - w.answered
        if since is not None and since > CUT_WINDOW:
            self._watched = None  # ended on their own time: not cut
            return None
        w.ended += 1
        if not cut_by_connect(w.live, w.ended, since):
            return None
        self._watched, self.said = None, True
        what = "connection" if w.live == 1 else f"{w.live} connections"
        return (
            f"the {what} through the previous proxy {w.proxy} ended as the next proxy was "
            "made: remote.it seems to replace a service's proxy on a GraphQL connect, "
            "which cuts live sessions (rittunnel renews while no connection is open when "
            "it can; the REST API, with a developer key, never replaces)"
        )
