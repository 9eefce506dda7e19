"""rittunnel: a stable localhost port for a remote.it service.

The package is laid out by concern; imports go one way, down this list:

* :mod:`.cli`: parse the command line, build :class:`~.settings.Settings`, dispatch, and
  turn errors into exit codes (the only place that does);
* :mod:`.commands`: one module per command (``up``, ``run``, ``stdio``, ``status``…);
* :mod:`.tunnel`: a tunnel's life: session, upstream and its proxy keeper, port, claims,
  state files;
* :mod:`.remoteit`: talking to remote.it as an account: protocol, REST client, signing,
  credentials, service names;
* :mod:`.relay`: copying bytes between two sockets, in trio or in threads;
* :mod:`.fake`: the fake remote.it the tests, the demo and the benchmarks run against;
* shared by all: :mod:`.settings`, :mod:`.errors` (the one exception tree),
  :mod:`.report` (what the user sees: a tunnel's events, warnings, errors and every
  command's result, each line redacted; only ``init``'s questions go straight to
  stderr), :mod:`.text` (text made safe to show), :mod:`.progress`,
  :mod:`.profiles` (a package: name, model, search, loader, service), :mod:`.quantities`,
  :mod:`.systemd` (unit syntax), :mod:`.files`, :mod:`.net` (sockets).

What remote.it's API does, as the code relies on it, is ``docs/remoteit-api.md``.
"""

__version__ = "0.1.0"  # the one version (pyproject.toml reads it)
