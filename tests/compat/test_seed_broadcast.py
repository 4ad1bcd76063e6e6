"""A seed-style app that holds its server: broadcasts through ``server.sockets`` and Decimals.

Written as gevent-socketio's twitterstream example is (``broadcast_msg`` loops over
``server.sockets`` from a greenlet outside any namespace and calls ``send_packet``), with a
``BaseNamespace`` + mixins under ``SocketIOServer`` in seed mode, imports renamed only. Values
come from a database layer as ``decimal.Decimal`` (Django's ``DecimalField``, SQLAlchemy's
``Numeric``): the seed wrote them as JSON numbers, in emits, acks and broadcasts alike. Peers:
Node's socket.io-client 0.9.16 (websocket, xhr-polling) and 4.x, at the same time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import gevent
import pytest

from gsocketio import socketio_manage
from gsocketio.mixins import BroadcastMixin, RoomsMixin
from gsocketio.namespace import BaseNamespace
from gsocketio.server import SocketIOServer
from tests.helpers.node import NodeClient

PRICES = {"ACME": Decimal("19.99"), "INITECH": Decimal("7.5")}


def broadcast_msg(server: Any, ns_name: str, event: str, *args: Any) -> None:
    """The seed's twitterstream example's broadcast."""
    pkt = dict(type="event", name=event, args=args, endpoint=ns_name)
    for socket in server.sockets.values():
        socket.send_packet(pkt)


class PricesNamespace(BaseNamespace, RoomsMixin, BroadcastMixin):
    def on_subscribe(self, symbol: str) -> Any:
        self.join(symbol)
        self.emit("quote", symbol, PRICES[symbol])
        return PRICES[symbol]  # the client's ack gets a Decimal

    def on_hello(self, name: str) -> str:
        return f"hello {name}"

    def on_shout(self, text: str) -> None:
        """A custom mixin's broadcast as the seed's examples wrote them (simple_pyramid_chat's
        NamedUsersRoomsMixin): every socket of ``self.socket.server.sockets``."""
        pkt = dict(type="event", name="shouted", args=[text], endpoint=self.ns_name)
        for _sessid, socket in self.socket.server.sockets.items():
            socket.send_packet(pkt)


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    if environ["PATH_INFO"].startswith("/socket.io"):
        socketio_manage(environ, {"/prices": PricesNamespace})
        return []
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


@pytest.fixture
def server() -> Iterator[SocketIOServer]:
    srv = SocketIOServer(
        ("127.0.0.1", 0), application, resource="socket.io", policy_server=False, log=None
    )
    srv.start()
    yield srv
    srv.stop(timeout=2)


CLIENT_SCRIPT = """
s.on("connect", () => out({ sid: SID() }));
s.on("quote", (symbol, price) => out({ quote: [symbol, price] }));
s.on("tick", (...args) => out({ tick: args }));
s.on("shouted", (text) => out({ shouted: text }));
onLine((cmd) => {
  if (cmd.hello) s.emit("hello", cmd.hello, (reply) => out({ hello: reply }));
  if (cmd.shout) s.emit("shout", cmd.shout);
  if (cmd.subscribe) s.emit("subscribe", cmd.subscribe, (price) => out({ subscribed: price }));
});
"""


def legacy_client(url: str, transport: str) -> NodeClient:
    return NodeClient(
        'const lio = require("socket.io-client-legacy");\n'
        'const s = lio.connect(URL + "/prices", { "force new connection": true,'
        f' reconnect: false, transports: ["{transport}"] }});\n'
        "const SID = () => s.socket.sessionid;\n" + CLIENT_SCRIPT,
        url,
    )


def modern_client(url: str) -> NodeClient:
    return NodeClient(
        'const { io } = require("socket.io-client");\n'
        'const s = io(URL + "/prices", { reconnection: false });\n'
        "const SID = () => s.io.engine.id;\n" + CLIENT_SCRIPT,
        url,
    )


def both_clients(server: SocketIOServer, transport: str) -> tuple[NodeClient, NodeClient]:
    url = f"http://127.0.0.1:{server.server_port}"
    return legacy_client(url, transport), modern_client(url)


def wait_for_sockets(server: SocketIOServer, count: int) -> None:
    with gevent.Timeout(5, AssertionError(f"server.sockets never reached {count}")):
        while len(server.sockets) < count:
            gevent.sleep(0.01)


@pytest.mark.parametrize("transport", ["websocket", "xhr-polling"])
def test_broadcast_from_a_greenlet_through_server_sockets(
    server: SocketIOServer, transport: str
) -> None:
    old, new = both_clients(server, transport)
    try:
        sids = [old.expect("sid")["sid"], new.expect("sid")["sid"]]
        for client in (old, new):  # a round trip each: their namespace objects exist now
            client.send({"hello": "you"})
            assert client.expect("hello")["hello"] == "hello you"
        wait_for_sockets(server, 2)
        assert sorted(server.sockets) == sorted(sids)
        for sid in sids:
            assert server.get_socket(sid) is server.sockets[sid]
        assert server.get_socket("no-such-sid") is None

        gevent.spawn(broadcast_msg, server, "/prices", "tick", {"symbol": "ACME"}, 3).join(5)
        assert old.expect("tick")["tick"] == [{"symbol": "ACME"}, 3]
        assert new.expect("tick")["tick"] == [{"symbol": "ACME"}, 3]

        # from inside a namespace, through the virtual socket's server, as custom mixins do
        old.send({"shout": "from 0.9"})
        assert new.expect("shouted")["shouted"] == "from 0.9"
        assert old.expect("shouted")["shouted"] == "from 0.9"
    finally:
        old.close()
        new.close()


@pytest.mark.parametrize("transport", ["websocket", "xhr-polling"])
def test_decimals_are_json_numbers_in_emits_acks_and_broadcasts(
    server: SocketIOServer, transport: str
) -> None:
    old, new = both_clients(server, transport)
    try:
        for client in (old, new):
            client.expect("sid")
            client.send({"subscribe": "ACME"})
            assert client.expect("quote")["quote"] == ["ACME", 19.99]  # emit
            assert client.expect("subscribed")["subscribed"] == 19.99  # ack
        wait_for_sockets(server, 2)
        tick = {"symbol": "INITECH", "price": Decimal("7.25"), "volume": Decimal("1200")}
        gevent.spawn(broadcast_msg, server, "/prices", "tick", tick, Decimal("0.1")).join(5)
        for client in (old, new):
            assert client.expect("tick")["tick"] == [
                {"symbol": "INITECH", "price": 7.25, "volume": 1200},
                0.1,
            ]
    finally:
        old.close()
        new.close()


def test_sockets_of_a_server_without_seed_mode_is_empty() -> None:
    from gsocketio import Server

    srv = SocketIOServer(("127.0.0.1", 0), Server().wsgi_app(), log=None)
    assert dict(srv.sockets) == {} and srv.get_socket("x") is None
