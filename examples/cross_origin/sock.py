"""The seed's cross-origin example, Socket.IO side (examples/cross_origin/sock.py), ported.

The seed used Bottle; this port uses a plain WSGI function (the namespace and the
``socketio_manage`` call are unchanged). The page comes from another origin (``web.py``, port
8080); seed mode answers every origin, as the seed did.
Run ``python sock.py`` and ``python web.py`` and open http://localhost:8080/.
"""

from gevent import monkey

monkey.patch_all()

from gsocketio import namespace, server, socketio_manage  # noqa: E402


class Hello(namespace.BaseNamespace):
    def on_hello(self, data):
        print("hello", data)
        self.emit("greetings", {"from": "sockets"})


def app(environ, start_response):
    if environ["PATH_INFO"].startswith("/socket.io/"):
        socketio_manage(environ, {"": Hello}, request=environ)
        return [b"out"]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"Not Found"]


if __name__ == "__main__":
    server.SocketIOServer(("localhost", 9090), app, policy_server=False).serve_forever()
