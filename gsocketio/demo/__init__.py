"""The demo chat: rooms, nicknames and a live member list.

``python -m gsocketio`` serves it. It is written against the modern API (``gsocketio.Server``)
and uses nothing a user app could not: the same handlers serve every client generation. ``/``
is the page for today's client (socket.io-client 4.x); ``/legacy`` is the same chat on the
0.9 client, whose users share rooms with the others through the legacy endpoint.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from gsocketio._logging import get_logger
from gsocketio.legacy import LegacyServer
from gsocketio.socketio_server import Server

log = get_logger("gsocketio.demo")

HERE = Path(__file__).resolve().parent
STYLE = HERE / "chat.css"  # one stylesheet for both pages
PAGES = {
    "/": HERE / "index.html",
    "/index.html": HERE / "index.html",
    "/legacy": HERE / "legacy.html",
}
MAX_NICK = 32
MAX_ROOM = 32
MAX_TEXT = 2000


def _clean(value: Any, limit: int) -> str | None:
    """A trimmed non-empty string of at most ``limit`` characters, else None."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value[:limit] if value else None


class ChatState:
    """Who is where: nickname and room of every joined sid."""

    def __init__(self) -> None:
        self.members: dict[str, tuple[str, str]] = {}  # sid -> (nick, room)

    def room_members(self, room: str) -> list[str]:
        return sorted(nick for nick, r in self.members.values() if r == room)

    def rooms(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _nick, room in self.members.values():
            counts[room] = counts.get(room, 0) + 1
        return counts


def create_server(**options: Any) -> tuple[Server, ChatState]:
    """Build the chat's Socket.IO server; ``options`` go to :class:`gsocketio.Server`."""
    sio = Server(**options)
    state = ChatState()

    def announce(room: str, text: str) -> None:
        sio.emit("system", {"text": text, "ts": time.time()}, to=room)
        sio.emit("members", {"room": room, "members": state.room_members(room)}, to=room)

    def leave_current(sid: str) -> None:
        entry = state.members.pop(sid, None)
        if entry is not None:
            nick, room = entry
            sio.leave_room(sid, room)
            announce(room, f"{nick} left")

    @sio.on("join")
    def join(sid: str, data: Any) -> dict[str, Any]:
        data = data if isinstance(data, dict) else {}
        nick = _clean(data.get("nick"), MAX_NICK)
        room = _clean(data.get("room"), MAX_ROOM) or "lobby"
        if nick is None:
            return {"ok": False, "error": "a nickname is required"}
        leave_current(sid)
        state.members[sid] = (nick, room)
        sio.enter_room(sid, room)
        log.info("%s joined room %r as %r", sid, room, nick)
        announce(room, f"{nick} joined")
        return {"ok": True, "room": room, "members": state.room_members(room)}

    @sio.on("chat")
    def chat(sid: str, text: Any) -> dict[str, Any]:
        entry = state.members.get(sid)
        message = _clean(text, MAX_TEXT)
        if entry is None:
            return {"ok": False, "error": "join a room first"}
        if message is None:
            return {"ok": False, "error": "empty message"}
        nick, room = entry
        sio.emit("chat", {"nick": nick, "text": message, "ts": time.time()}, to=room)
        return {"ok": True}

    @sio.on("rooms")
    def rooms(sid: str, *_: Any) -> dict[str, int]:
        return state.rooms()

    @sio.event
    def disconnect(sid: str, reason: str = "") -> None:
        leave_current(sid)
        log.info("%s disconnected (%s)", sid, reason)

    return sio, state


PACKAGED_LEGACY_BUNDLE = HERE.parent / "static" / "client-0.9" / "socket.io.js"
"""Where a wheel carries the 0.9.16 client (see setup.py); a checkout has it in node_modules."""


def find_legacy_bundle() -> Path | None:
    """The 0.9 client's browser bundle: packaged in the wheel, else installed by npm
    (``socket.io-client-legacy``), else None."""
    if PACKAGED_LEGACY_BUNDLE.is_file():
        return PACKAGED_LEGACY_BUNDLE
    for start in (Path.cwd(), HERE):
        for directory in (start, *start.parents):
            candidate = directory / "node_modules" / "socket.io-client-legacy" / "dist"
            if (candidate / "socket.io.js").is_file():
                return candidate / "socket.io.js"
    return None


def page_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """The WSGI app for everything that is not Socket.IO: the chat pages."""
    path = environ.get("PATH_INFO", "/")
    page = PAGES.get(path)
    if page is not None:
        return _respond(start_response, "200 OK", "text/html; charset=utf-8", page.read_bytes())
    if path == "/chat.css":
        return _respond(start_response, "200 OK", "text/css; charset=utf-8", STYLE.read_bytes())
    if path == "/legacy/socket.io.js":
        bundle = find_legacy_bundle()
        if bundle is not None:
            return _respond(start_response, "200 OK", "application/javascript", bundle.read_bytes())
        return _respond(
            start_response,
            "404 Not Found",
            "text/plain",
            b"the 0.9 client is not installed: install gsocketio from a wheel (which bundles "
            b"it) or run `make run` (npm installs it)",
        )
    return _respond(start_response, "404 Not Found", "text/plain", b"not found")


def _respond(start_response: Any, status: str, content_type: str, body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def create_app(**options: Any) -> tuple[Any, Server, ChatState, LegacyServer]:
    """The whole demo as one WSGI app: pages, Socket.IO for today's clients and for 0.9 ones."""
    sio, state = create_server(**options)
    legacy = LegacyServer(sio)
    return sio.wsgi_app(page_app, legacy_app=legacy), sio, state, legacy
