"""The commands: one module per command (``up``, ``run``, ``stdio``, ``cleanup``, …), each
a function that takes its command's options (:mod:`rittunnel.commands.options`) and
returns an exit code or raises a :class:`~rittunnel.errors.RittunnelError`. The command
table (:mod:`rittunnel.commands.registry`) declares each command once and imports its
module only when it runs, so ``--help``, ``status`` and ``stop`` load neither trio nor
httpx."""
