"""Node snippets for the Admin UI tests: an admin client (socket.io-client 4.x on ``/admin``,
logging in as the UI does) and a plain application client, both driven over stdin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.helpers.node import NodeClient

ADMIN = """
const { io } = require("socket.io-client");
const s = io(URL + (ARGS.nsp || "/admin"), {
  transports: ["websocket"], reconnection: false, auth: ARGS.auth,
});
s.onAny((ev, ...args) => out({ ev, args }));
s.on("connect", () => out({ ready: s.id }));
s.on("connect_error", (e) => { out({ refused: e.message }); });
onLine((cmd) => {
  if (cmd.quit) done();
  if (cmd.emit) s.emit(...cmd.emit);
});
"""

APP = """
const { io } = require("socket.io-client");
const s = io(URL + (ARGS.nsp || "/"), { transports: ARGS.transports || ["websocket"], reconnection: false });
s.onAny((ev, ...args) => out({ ev, args }));
s.on("connect", () => out({ ready: s.id }));
s.on("disconnect", (reason) => out({ disconnected: reason }));
s.on("connect_error", (e) => fail("connect_error " + e.message));
onLine((cmd) => {
  if (cmd.quit) done();
  if (cmd.emit) s.emit(...cmd.emit);
});
"""


def admin_client(url: str, auth: dict[str, Any] | None, nsp: str = "/admin") -> NodeClient:
    return NodeClient(ADMIN, url, args={"auth": auth or {}, "nsp": nsp}, timeout=60)


def app_client(
    url: str, nsp: str = "/", transports: tuple[str, ...] = ("websocket",)
) -> tuple[NodeClient, str]:
    client = NodeClient(APP, url, args={"nsp": nsp, "transports": list(transports)}, timeout=60)
    return client, str(client.expect("ready", timeout=15)["ready"])


def wait_event(
    client: NodeClient,
    name: str,
    ok: Callable[[list[Any]], bool] = lambda args: True,
    timeout: float = 10,
) -> list[Any]:
    """The arguments of the next ``name`` event whose arguments satisfy ``ok`` (bounded)."""
    for _ in range(2000):
        record = client.expect("ev", timeout=timeout)
        if record["ev"] == name and ok(record["args"]):
            args: list[Any] = record["args"]
            return args
    raise AssertionError(f"no {name!r} event")
