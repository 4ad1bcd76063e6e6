"""What the Node socket.io-client interop tests (2.x on Engine.IO 3, 4.x on Engine.IO 4, the
msgpack parser, keep-alive agents) share: the client ``require`` lines, the three transport
modes, the chat app's echo/ask/binary/push round trip as a snippet function, and merging a
snippet's records. Snippets run with :func:`tests.helpers.node.run_node`.

``roundTrip(s, {echo, push, meta})`` emits ``echo`` (default ``"hi", 1, {a: [1, 2]}``) and
reports ``{echo}``, then ``ask("life")`` → ``{ask}``, then ``binary`` → ``{binary: {len,
reversed, meta}}`` (``meta: false`` leaves ``meta`` out), then emits ``push("pushed", "text",
<9, 8>, ...push)``; the chat app answers the push with a ``pushed`` event.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ROUND_TRIP", "TRANSPORTS", "V2", "V4", "merged", "transport_args"]

V4 = 'const { io } = require("socket.io-client");\n'
V2 = 'const io = require("socket.io-client-v2");\n'

TRANSPORTS = {
    "polling": ["polling"],
    "websocket": ["websocket"],
    "upgrade": ["polling", "websocket"],
}

ROUND_TRIP = """
const roundTrip = (s, { echo = ["hi", 1, { a: [1, 2] }], push = [], meta = true } = {}) => {
  s.emit("echo", ...echo, (...args) => {
    out({ echo: args });
    s.emit("ask", "life", (reply) => {
      out({ ask: reply });
      s.emit("binary", Buffer.from([1, 2, 3]), { k: "v" }, (reply) => {
        const binary = { len: reply.len, reversed: [...reply.reversed] };
        if (meta) binary.meta = reply.meta;
        out({ binary });
        s.emit("push", "pushed", "text", Buffer.from([9, 8]), ...push);
      });
    });
  });
};
"""


def transport_args(mode: str) -> dict[str, Any]:
    """The snippet ``ARGS`` of a transport mode: ``transports``, and ``upgrade`` for the
    mode that starts on polling and upgrades (its snippet waits for the upgrade)."""
    return {"transports": TRANSPORTS[mode], "upgrade": mode == "upgrade"}


def merged(records: list[dict[str, Any]]) -> dict[str, Any]:
    """A snippet's records merged into one dict (a later key wins)."""
    by_key: dict[str, Any] = {}
    for record in records:
        by_key.update(record)
    return by_key
