"""The app the any-process tests run under ``python -m gsocketio run ... --workers N`` (or as
separate processes sharing ``--node-dir``): Engine.IO 4/3 and 0.9 endpoints on one Server with
the Redis adapter (key from ``$ANYPROC_KEY``), so broadcasts reach every worker's clients."""

from __future__ import annotations

import os
from typing import Any

import gsocketio
from gsocketio.adapters.redis import RedisAdapter
from gsocketio.legacy import LegacyServer

KEY = os.environ.get("ANYPROC_KEY", "anyproc-test")
URL = os.environ.get("ANYPROC_REDIS", "redis://127.0.0.1:6379/0")

sio = gsocketio.Server(
    adapter=RedisAdapter(URL, key=KEY, requests_timeout=3),
    cors_allowed_origins="*",
    ping_interval=float(os.environ.get("ANYPROC_PING_INTERVAL", "25")),
)


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
