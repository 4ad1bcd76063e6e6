"""Engine options that official Node clients see (issue 9): ``allow_request`` (Node's
``allowRequest``) refusing or accepting a handshake, and an EIO3 client that asked for base64
at the handshake (socket.io-client 2.x ``forceBase64``) getting text for its whole session."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.node import run_node
from tests.helpers.sio_clients import V2

V4 = 'const { io } = require("socket.io-client");\n'
ATTEMPT = """
const s = io(URL, { query: { key: ARGS.key }, transports: ARGS.transports, reconnection: false,
                    forceNew: true });
s.on("connect", () => s.emit("echo", "hi", (...args) => { out({ echo: args }); s.close(); done(); }));
s.on("connect_error", (err) => { out({ refused: true }); s.close(); done(); });
s.on("error", (err) => { out({ refused: true }); s.close(); done(); });
"""


@pytest.mark.parametrize("client", [V4, V2], ids=["v4", "v2"])
@pytest.mark.parametrize("transports", [["polling", "websocket"], ["websocket"]])
def test_allow_request_refuses_or_accepts_the_handshake(
    app: Any, client: str, transports: list[str]
) -> None:
    seen: list[str] = []

    def allow_request(environ: Any) -> bool:
        seen.append(environ["QUERY_STRING"])
        return "key=good" in environ["QUERY_STRING"]

    url, sio, rec = app(allow_request=allow_request)
    refused = run_node(client + ATTEMPT, url, args={"key": "bad", "transports": transports})
    assert refused[0] == {"refused": True}
    assert rec.connects == [] and not sio.engine.connections
    accepted = run_node(client + ATTEMPT, url, args={"key": "good", "transports": transports})
    assert accepted == [{"echo": ["hi"]}]
    assert len(rec.connects) == 1
    assert any("key=bad" in query for query in seen) and any("key=good" in query for query in seen)


def test_v2_client_with_force_base64_gets_text_for_binary(app: Any) -> None:
    url, _sio, _rec = app()
    records = run_node(
        V2
        + """
    const s = io(URL, { transports: ["polling"], forceBase64: true, reconnection: false });
    s.on("connect", () => {
      s.emit("binary", Buffer.from([1, 2, 3]), { k: "v" }, (reply) => {
        out({ reversed: [...reply.reversed], meta: reply.meta, b64: s.io.engine.transport.query.b64 });
        s.close(); done();
      });
    });
    """,
        url,
    )
    assert records == [{"reversed": [3, 2, 1], "meta": {"k": "v"}, "b64": 1}]
