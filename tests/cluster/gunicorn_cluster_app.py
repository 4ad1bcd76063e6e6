"""The three-node suite's app (``tests.cluster.app``) under
``gunicorn -k gsocketio.sgunicorn.GeventSocketIOWorker -w 3``.

Each worker imports this module after the fork (no ``--preload``), so each builds its own
server and RedisAdapter on the channel prefix ``GSIO_KEY``; it is named ``g<pid>``. Its control
endpoint (``POST /ctl``) is reached through the worker's node listener on TCP (started by the
worker class when ``GSOCKETIO_NODE_ADDRESS`` and ``GSOCKETIO_NODE_REDIS`` are set), whose address
the worker registers in Redis: that is how a test addresses one worker when gunicorn's shared
port hands each connection to whichever worker accepts it.
"""

from __future__ import annotations

import os

from tests.cluster.app import build

sio, adapter, ctl = build(
    os.environ["GSIO_KEY"], f"g{os.getpid()}", "redis://127.0.0.1:6379/0", sharded=False
)
app = sio.wsgi_app(ctl)
