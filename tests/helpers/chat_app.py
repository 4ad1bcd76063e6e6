"""The server-side app the client integration tests talk to.

Every behaviour a test checks is reachable from a client event, so the same app serves the
Node 4.x, Node 2.x and python-socketio tests.
"""

from __future__ import annotations

from typing import Any

import gsocketio


class Recorder:
    """What the server saw, for assertions made from the test process."""

    def __init__(self) -> None:
        self.connects: list[tuple[str, str, Any]] = []  # (namespace, sid, auth)
        self.disconnects: list[tuple[str, str, str]] = []  # (namespace, sid, reason)
        self.errors: list[str] = []


def build(**options: Any) -> tuple[gsocketio.Server, Recorder]:
    sio = gsocketio.Server(**options)
    rec = Recorder()

    @sio.event
    def connect(sid: str, environ: dict[str, Any], auth: Any) -> bool | None:
        rec.connects.append(("/", sid, auth))
        if isinstance(auth, dict) and auth.get("token") == "bad":
            raise gsocketio.ConnectionRefusedError({"reason": "bad token", "code": 42})
        if isinstance(auth, dict) and auth.get("token") == "false":
            return False
        return None

    @sio.event
    def disconnect(sid: str, reason: str) -> None:
        rec.disconnects.append(("/", sid, reason))

    @sio.on("echo")
    def echo(sid: str, *args: Any) -> Any:
        return args  # a tuple: each item becomes one ack argument

    @sio.on("ask")
    def ask(sid: str, question: Any) -> Any:
        """Server → client call(): the client's ack comes back to the server, then to the client."""
        return {"client_said": sio.call("question", question, to=sid, timeout=5)}

    @sio.on("ask_silent")
    def ask_silent(sid: str) -> str:
        try:
            sio.call("never_acked", to=sid, timeout=0.3)
        except gsocketio.CallTimeoutError:
            return "timed out"
        return "answered?"

    @sio.on("push")
    def push(sid: str, event: str, *args: Any) -> None:
        sio.emit(event, *args, to=sid)

    @sio.on("binary")
    def binary(sid: str, blob: bytes, meta: Any) -> Any:
        assert isinstance(blob, bytes)
        return {"len": len(blob), "reversed": blob[::-1], "meta": meta}

    @sio.on("join")
    def join(sid: str, room: str) -> list[str]:
        sio.enter_room(sid, room)
        return sorted(sio.rooms(sid))

    @sio.on("leave")
    def leave(sid: str, room: str) -> None:
        sio.leave_room(sid, room)

    @sio.on("shout")
    def shout(sid: str, room: str, text: str) -> None:
        sio.emit("shouted", text, to=room, skip_sid=sid)

    @sio.on("kick_me")
    def kick_me(sid: str) -> None:
        sio.disconnect(sid)

    @sio.on("boom")
    def boom(sid: str) -> None:
        raise RuntimeError("handler failure on purpose")

    @sio.on("remember")
    def remember(sid: str, value: Any) -> None:
        with sio.session(sid) as session:
            session["value"] = value

    @sio.on("recall")
    def recall(sid: str) -> Any:
        return sio.get_session(sid).get("value")

    for nsp in ("/chat", "/admin"):

        def on_connect(sid: str, environ: dict[str, Any], auth: Any, nsp: str = nsp) -> None:
            rec.connects.append((nsp, sid, auth))

        def on_where(sid: str, nsp: str = nsp) -> str:
            return nsp

        def on_disconnect(sid: str, reason: str, nsp: str = nsp) -> None:
            rec.disconnects.append((nsp, sid, reason))

        sio.on("connect", on_connect, namespace=nsp)
        sio.on("where", on_where, namespace=nsp)
        sio.on("disconnect", on_disconnect, namespace=nsp)

    return sio, rec
