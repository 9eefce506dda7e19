"""The commands: one module per command (``up``, ``run``, ``stdio``, ``cleanup``, …), each
a function that takes the parsed arguments and returns an exit code or raises a
:class:`~rittunnel.errors.RittunnelError`. :mod:`rittunnel.cli` imports them lazily, so
``--help``, ``status`` and ``stop`` load neither trio nor httpx."""
