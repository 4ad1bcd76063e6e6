"""Echo-with-ack server on python-socketio, gevent mode with gevent-websocket (benchmark peer).

gevent-websocket is python-socketio's fastest gevent WebSocket option on this machine kind
(see ../shared/PERFORMANCE-NOTES.md), so the comparison is against its best gevent setup.
"""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402

import socketio  # noqa: E402
from gevent import pywsgi  # noqa: E402
from geventwebsocket.handler import WebSocketHandler  # noqa: E402

sio = socketio.Server(async_mode="gevent", cors_allowed_origins="*")


@sio.on("echo")
def echo(sid, data):  # type: ignore[no-untyped-def]
    return data


@sio.on("broadcast")
def broadcast(sid, data):  # type: ignore[no-untyped-def]
    sio.emit("news", data, to="all")


@sio.event
def connect(sid, environ, auth):  # type: ignore[no-untyped-def]
    sio.enter_room(sid, "all")


if __name__ == "__main__":
    app = socketio.WSGIApp(sio)
    pywsgi.WSGIServer(
        ("127.0.0.1", int(sys.argv[1])), app, handler_class=WebSocketHandler, log=None
    ).serve_forever()
