"""The Flash socket policy server the 0.9 ``flashsocket`` transport needs.

Before a Flash ``Socket`` may connect anywhere, Flash Player connects to the policy port (843,
or the one the page names: the 0.9 client loads ``xmlsocket://<host>:<flash policy port>``,
default 10843), sends ``<policy-file-request/>`` and a NUL byte, and reads a
``<cross-domain-policy>`` document ended by a NUL byte; this server reads at most
:data:`MAX_REQUEST` bytes within ``timeout`` seconds, answers only that exact request and
closes every connection.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable
from typing import Any, Final

import gevent
from gevent.server import StreamServer

from gsocketio._logging import get_logger

__all__ = ["DEFAULT_POLICY_PORT", "POLICY_REQUEST", "FlashPolicyServer", "policy_xml"]

DEFAULT_POLICY_PORT: Final = 10843
"""gevent-socketio's policy port (Flash asks 843 first, then the port the page names)."""

log = get_logger("gsocketio.legacy.policy")

POLICY_REQUEST: Final = b"<policy-file-request/>\x00"
MAX_REQUEST: Final = 64
"""Bytes read at most from a policy client (the request is 23)."""

_DOMAIN_RE: Final = re.compile(r"\*|(\*\.)?[A-Za-z0-9.-]+")


def policy_xml(ports: Iterable[int] | None = None, domain: str = "*") -> bytes:
    """The NUL-terminated policy allowing ``domain`` to connect to ``ports`` (all: None)."""
    if not _DOMAIN_RE.fullmatch(domain):
        raise ValueError(f"not a policy domain: {domain!r}")
    if ports is None:
        to_ports = "*"
    else:
        chosen = sorted(set(ports))
        if not chosen or any(
            isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536
            for port in chosen
        ):
            raise ValueError(f"ports must be TCP port numbers, not {ports!r}")
        to_ports = ",".join(str(port) for port in chosen)
    return (
        '<?xml version="1.0"?>'
        "<!DOCTYPE cross-domain-policy SYSTEM "
        '"http://www.adobe.com/xml/dtds/cross-domain-policy.dtd">'
        "<cross-domain-policy>"
        '<site-control permitted-cross-domain-policies="master-only"/>'
        f'<allow-access-from domain="{domain}" to-ports="{to_ports}"/>'
        "</cross-domain-policy>\x00"
    ).encode()


class FlashPolicyServer(StreamServer):  # type: ignore[misc]  # gevent is untyped
    """A gevent ``StreamServer`` answering Flash policy requests; ``start()``/``stop()`` it.

    ``ports``: the ports Flash may connect to (the Socket.IO server's; None allows all).
    """

    def __init__(
        self,
        listener: Any = ("0.0.0.0", DEFAULT_POLICY_PORT),
        *,
        ports: Iterable[int] | None = None,
        domain: str = "*",
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(listener, **kwargs)
        self.policy = policy_xml(ports, domain)
        self.timeout = timeout

    def handle(self, sock: socket.socket, address: Any) -> None:
        timer = gevent.Timeout(self.timeout)  # bounds the whole exchange, not each read
        timer.start()
        try:
            request = self._read_request(sock)
            if request == POLICY_REQUEST:
                sock.sendall(self.policy)
            else:
                log.info("policy server: unexpected request %r from %s", request[:32], address)
        except gevent.Timeout as exc:
            if exc is not timer:
                raise
            log.debug("policy server: %s sent no request within %s s", address, self.timeout)
        except OSError as exc:
            log.debug("policy server: %s: %s", address, exc)
        finally:
            timer.close()
            sock.close()

    @staticmethod
    def _read_request(sock: socket.socket) -> bytes:
        """Bytes up to and including the first NUL, or what arrived before the peer stopped
        sending, gave the wrong bytes, or reached :data:`MAX_REQUEST`."""
        data = b""
        while len(data) < MAX_REQUEST:
            chunk = sock.recv(MAX_REQUEST - len(data))
            if not chunk:
                break
            data += chunk
            nul = data.find(b"\x00")
            if nul != -1:
                return data[: nul + 1]
            if not POLICY_REQUEST.startswith(data):
                break
        return data
