"""The fake remote.it API used by the tests, the demo and the benchmark."""

from .server import DEVELOPER_KEY, PASSWORD, USERNAME, FakeRemoteIt, FakeService, Knobs

__all__ = ["DEVELOPER_KEY", "PASSWORD", "USERNAME", "FakeRemoteIt", "FakeService", "Knobs"]
