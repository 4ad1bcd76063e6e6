"""The cluster app under ``gunicorn -k gsocketio.sgunicorn.GeventSocketIOWorker -w 3``.

Each worker imports this module after the fork (no ``--preload``), so each has its own
RedisAdapter; the channel prefix comes from ``GSIO_KEY``.
"""

from __future__ import annotations

import os
from typing import Any

import gsocketio
from gsocketio.adapters.redis import RedisAdapter

sio = gsocketio.Server(
    adapter=RedisAdapter("redis://127.0.0.1:6379/0", key=os.environ["GSIO_KEY"]),
    cors_allowed_origins="*",
)


@sio.event
def whoami(sid: str) -> int:
    sio.enter_room(sid, "room")
    return os.getpid()


@sio.event
def shout(sid: str, text: str) -> str:
    sio.to("room").except_(sid).emit("shouted", text)
    return "ok"


@sio.event
def census(sid: str) -> dict[str, Any]:
    return {
        "sockets": len(sio.in_("room").fetch_sockets()),
        "replies": sorted(sio.to("room").except_(sid).timeout(5).call("ask")),
    }


app = sio.wsgi_app()
