"""Echo-with-ack server on python-socketio, gevent mode with gevent-websocket (benchmark peer).

gevent-websocket is python-socketio's fastest gevent WebSocket option on this machine kind
(see ../shared/PERFORMANCE-NOTES.md), so the comparison is against its best gevent setup; that
includes TCP_NODELAY on every accepted socket, which pywsgi does not set: without it a reply
written in two sends (a binary ack and its attachment, HTTP headers and body) stalls ~40 ms on
the client's delayed ACK. ``BENCH_PYSIO_NAGLE=1`` runs it as shipped (Nagle on).
"""

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402

import socketio  # noqa: E402
from gevent import pywsgi  # noqa: E402
from geventwebsocket.handler import WebSocketHandler  # noqa: E402

sio = socketio.Server(async_mode="gevent", cors_allowed_origins="*")


class NoDelayHandler(WebSocketHandler):  # type: ignore[misc]
    """gevent-websocket's handler on a socket with Nagle's algorithm off."""

    def __init__(self, sock, *args, **kwargs):  # type: ignore[no-untyped-def]
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().__init__(sock, *args, **kwargs)


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
    nagle = os.environ.get("BENCH_PYSIO_NAGLE") == "1"
    handler = WebSocketHandler if nagle else NoDelayHandler
    pywsgi.WSGIServer(
        ("127.0.0.1", int(sys.argv[1])), app, handler_class=handler, log=None
    ).serve_forever()
