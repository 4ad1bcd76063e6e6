"""The app the any-process tests run under ``python -m gsocketio run ... --workers N`` (or as
separate processes sharing ``--node-dir``): Engine.IO 4/3 and 0.9 endpoints on one Server with
the Redis adapter (key from ``$ANYPROC_KEY``), so broadcasts reach every worker's clients.
``ANYPROC_RECOVERY=1``: the Redis Streams adapter (stream ``<key>:stream``) with connection
state recovery on, every new socket in the room ``feed``."""

from __future__ import annotations

import os
from typing import Any

import gsocketio
from gsocketio.adapters.redis import RedisAdapter
from gsocketio.adapters.redis_streams import RedisStreamsAdapter
from gsocketio.legacy import LegacyServer

KEY = os.environ.get("ANYPROC_KEY", "anyproc-test")
URL = os.environ.get("ANYPROC_REDIS", "redis://127.0.0.1:6379/0")

RECOVERY = os.environ.get("ANYPROC_RECOVERY") == "1"
adapter: Any
if RECOVERY:
    adapter = RedisStreamsAdapter(
        URL, stream=f"{KEY}:stream", channel_prefix=KEY,
        session_key_prefix=f"{KEY}:session:", block_time=1.0,
    )  # fmt: skip
    if not adapter.ready.wait(10):  # the reader knows where the stream ends before serving
        raise SystemExit("stream reader not ready")
else:
    adapter = RedisAdapter(URL, key=KEY, requests_timeout=3)
sio = gsocketio.Server(
    adapter=adapter,
    cors_allowed_origins="*",
    ping_interval=float(os.environ.get("ANYPROC_PING_INTERVAL", "25")),
    connection_state_recovery={"max_disconnection_duration": 30} if RECOVERY else None,
)


@sio.on("connect")
def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
    if RECOVERY and not sio.is_recovered(sid):
        sio.enter_room(sid, "feed")


@sio.on("seq")
def seq(sid: str, n: int) -> dict[str, Any]:
    """Ack ``n`` and push it back as an event: both must arrive once, in order."""
    sio.emit("seq", n, to=sid)
    return {"n": n, "pid": os.getpid()}


@sio.on("bcast")
def bcast(sid: str, data: Any) -> str:
    sio.emit("bcast", data)  # every worker's clients, through Redis
    return "ok"


@sio.on("message")
def message(sid: str, data: Any) -> str:  # the 0.9 client's send()
    sio.send(data, to=sid)
    return f"got {data!r}"


@sio.on("whoami")
def whoami(sid: str) -> int:
    return os.getpid()


# jsonp on: the handshake lists all five transports, so a 0.9.16 client given ["xhr-polling"]
# takes it (see tests/interop/test_legacy_node.py).
legacy = LegacyServer(sio, polling_duration=2, jsonp=True)
app = legacy.wsgi_app()
