from __future__ import annotations

import os
import socket

import pytest

from rittunnel.errors import LocalBindError, PortInUseError
from rittunnel.net import bind_listeners, port_holder


def test_binds_both_loopbacks_on_one_port() -> None:
    socks = bind_listeners(("127.0.0.1", "::1"), 0, optional=frozenset({"::1"}))
    try:
        ports = {s.getsockname()[1] for s in socks}
        assert len(ports) == 1
        assert socks[0].getsockname()[0] == "127.0.0.1"
    finally:
        for s in socks:
            s.close()


def test_port_in_use_names_pid_and_process() -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        assert port_holder(port).startswith(f"pid {os.getpid()} (")
        with pytest.raises(
            PortInUseError, match=f"local port {port} on 127.0.0.1 is already in use by pid"
        ):
            bind_listeners(("127.0.0.1",), port)
    finally:
        holder.close()


def test_unknown_holder() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    assert port_holder(port) == "an unknown process"


def test_address_not_on_this_machine() -> None:
    with pytest.raises(LocalBindError, match="cannot listen on 192.0.2.1:0"):
        bind_listeners(("192.0.2.1",), 0)


@pytest.mark.parametrize(("addresses", "port"), [(("127.0.0.1",), 70000), (("127.0.0.1",), -1)])
def test_a_port_out_of_range_is_a_clear_error(addresses: tuple[str, ...], port: int) -> None:
    with pytest.raises(LocalBindError, match=f"cannot listen on port {port}: a port is a number"):
        bind_listeners(addresses, port)


def test_an_address_that_is_not_an_ip_is_a_clear_error() -> None:
    with pytest.raises(LocalBindError, match="cannot listen on 'nowhere': not an IP address"):
        bind_listeners(("nowhere",), 0)
