"""pytest-socket policy: tests reach loopback only, unless a test is marked ``enable_socket``.

No packet leaves the machine here: the off-host checks ``connect`` a UDP socket, which only
records the destination (and fails at once where there is no route).
"""

from __future__ import annotations

import socket

import pytest
from pytest_socket import SocketConnectBlockedError

OFF_HOST = ("192.0.2.1", 9)  # TEST-NET-1 (RFC 5737): documentation only, never routed


@pytest.mark.parametrize(
    ("family", "host"),
    [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")],
    ids=["ipv4", "ipv6"],
)
def test_loopback_is_reachable(family: socket.AddressFamily, host: str) -> None:
    try:
        server = socket.socket(family, socket.SOCK_STREAM)
        server.bind((host, 0))
    except OSError as exc:  # a machine without IPv6 loopback
        if family == socket.AF_INET6:
            pytest.xfail(f"no IPv6 loopback here: {exc}")
        raise
    with server:
        server.listen(1)
        with socket.create_connection(server.getsockname()[:2], timeout=2) as conn:
            accepted, _ = server.accept()
            with accepted:
                conn.sendall(b"ping")
                assert accepted.recv(4) == b"ping"


def test_localhost_by_name_is_reachable() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        with socket.create_connection(("localhost", port), timeout=2):
            pass


@pytest.mark.filterwarnings("ignore:A test tried to use socket.socket.connect:UserWarning")
def test_any_other_host_is_blocked() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        with pytest.raises(SocketConnectBlockedError, match="192.0.2.1"):
            udp.connect(OFF_HOST)


@pytest.mark.enable_socket
def test_enable_socket_lifts_the_block() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        try:
            udp.connect(OFF_HOST)
        except OSError:  # no route on this machine: the OS answered, pytest-socket did not
            pass
