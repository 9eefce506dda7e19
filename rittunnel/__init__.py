"""rittunnel: a stable localhost port for a remote.it service."""

__version__ = "0.1.0"
