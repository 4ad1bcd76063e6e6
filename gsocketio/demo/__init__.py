"""The demo chat: rooms, nicknames and a live member list.

``python -m gsocketio`` serves it. It is written against the modern API (``gsocketio.Server``)
and uses nothing a user app could not: the same handlers serve every client generation.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from gsocketio.server import Server

log = logging.getLogger("gsocketio.demo")

PAGE = Path(__file__).with_name("index.html")
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


def page_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """The WSGI app for everything that is not Socket.IO: the chat page."""
    if environ.get("PATH_INFO", "/") in ("/", "/index.html"):
        body = PAGE.read_bytes()
        start_response(
            "200 OK",
            [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]
