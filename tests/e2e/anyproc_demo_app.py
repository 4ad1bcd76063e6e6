"""The demo chat with the Redis adapter (key from ``$ANYPROC_KEY``), for ``--workers 4``."""

from __future__ import annotations

import os

from gsocketio.adapters.redis import RedisAdapter
from gsocketio.demo import create_app

app, sio, state, legacy = create_app(
    adapter=RedisAdapter("redis://127.0.0.1:6379/0", key=os.environ["ANYPROC_KEY"])
)
