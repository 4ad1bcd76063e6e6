"""0.9 clients in seed mode: a gevent-socketio app (``socketio_manage``, ``BaseNamespace``,
the mixins) served through :func:`gsocketio.compat.managed.managed_server`, with the legacy endpoint bridged
to it, shares rooms with socket.io-client 4.x."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gsocketio import socketio_manage
from gsocketio.compat.managed import managed_server
from gsocketio.legacy import LegacyServer
from gsocketio.mixins import RoomsMixin
from gsocketio.namespace import BaseNamespace
from tests.helpers.node import NodeClient


class ChatNamespace(BaseNamespace, RoomsMixin):
    def on_join(self, room: str) -> list[str]:
        self.join(room)
        return sorted(self.session["rooms"])

    def on_say(self, room: str, msg: str) -> bool:
        self.emit_to_room(room, "said", room, msg)  # everyone in the room but the sender
        return True


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    socketio_manage(environ, {"/chat": ChatNamespace})
    return []


def test_legacy_and_modern_clients_share_a_seed_room(serve: Callable[..., str]) -> None:
    seed = managed_server(app)
    legacy = LegacyServer(seed)
    url = serve(legacy.wsgi_app(app))
    script = """
    s.on("said", (room, msg) => out({ said: [room, msg] }));
    s.on("connect", () => s.emit("join", "mixed", (rooms) => out({ joined: rooms })));
    onLine((cmd) => { if (cmd.say) s.emit("say", "mixed", cmd.say, () => out({ sent: true })); });
    """
    old = NodeClient(
        'const lio = require("socket.io-client-legacy");\n'
        'const s = lio.connect(URL + "/chat", { "force new connection": true, reconnect: false,'
        ' transports: ["xhr-polling"] });\n' + script,
        url,
    )
    new = NodeClient(
        'const { io } = require("socket.io-client");\n'
        'const s = io(URL + "/chat", { reconnection: false });\n' + script,
        url,
    )
    try:
        assert old.expect("joined")["joined"] == ["/chat_mixed"]
        assert new.expect("joined")["joined"] == ["/chat_mixed"]
        new.send({"say": "from 4.x"})
        assert old.expect("said")["said"] == ["mixed", "from 4.x"]
        old.send({"say": "from 0.9"})
        assert new.expect("said")["said"] == ["mixed", "from 0.9"]
    finally:
        old.close()
        new.close()
        legacy.close()
