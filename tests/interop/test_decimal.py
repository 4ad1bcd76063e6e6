"""``decimal.Decimal`` reaches real clients as a JSON number, in emits and acks (issue 15).

Django's ``DecimalField`` and SQLAlchemy's ``Numeric`` return Decimals; the seed's JSON wrote them
as numbers. Both the official socket.io-client 4.x and the 0.9.16 client must read ``typeof``
``"number"`` for an emitted Decimal and for one in an ack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

import gsocketio
from gsocketio.legacy import LegacyServer
from tests.helpers.chat_app import build
from tests.helpers.node import run_node

SCRIPT = """
s.on("price", (p, q) => out({ emitted: [p, typeof p, q] }));
s.on("connect", () => s.emit("quote", "ACME", (p, q) => {
  out({ acked: [p, typeof p, q] });
  s.emit("push_price");
}));
s.on("price", () => setTimeout(() => { s.disconnect(); done(); }, 50));
s.on("error", (e) => fail("error: " + e));
"""
V4 = 'const { io } = require("socket.io-client");\nconst s = io(URL, { reconnection: false });\n'
V09 = (
    'const lio = require("socket.io-client-legacy");\n'
    'const s = lio.connect(URL, { "force new connection": true, reconnect: false });\n'
)


@pytest.fixture
def decimal_app(serve: Callable[..., str]) -> Iterator[tuple[str, gsocketio.Server]]:
    sio, _rec = build(cors_allowed_origins="*")

    @sio.on("quote")
    def quote(sid: str, symbol: str) -> tuple[Decimal, dict[str, Decimal]]:
        return Decimal("19.99"), {"qty": Decimal("3"), "fee": Decimal("0.10")}

    @sio.on("push_price")
    def push_price(sid: str) -> None:
        sio.emit("price", Decimal("2.50"), [Decimal("-0.001")], to=sid)

    legacy = LegacyServer(sio)
    url = serve(legacy.wsgi_app())
    yield url, sio
    legacy.close()


@pytest.mark.parametrize("client", [V4, V09], ids=["socket.io-client-4", "socket.io-client-0.9"])
def test_decimals_are_json_numbers(decimal_app: tuple[str, gsocketio.Server], client: str) -> None:
    url, _sio = decimal_app
    records: list[dict[str, Any]] = run_node(client + SCRIPT, url)
    assert records == [
        {"acked": [19.99, "number", {"qty": 3, "fee": 0.1}]},
        {"emitted": [2.5, "number", [-0.001]]},
    ]
