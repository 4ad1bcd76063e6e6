"""The seed's simple chat (examples/simple_chat), ported: only the imports changed.

Run it: ``python examples/simple_chat/chat.py`` then open http://127.0.0.1:8080/chat.html, or
under gunicorn: ``gunicorn -k gsocketio.sgunicorn.GeventSocketIOWorker -b 127.0.0.1:8080
--chdir examples/simple_chat chat:application``.
"""

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402

from gsocketio import socketio_manage  # noqa: E402
from gsocketio.mixins import BroadcastMixin, RoomsMixin  # noqa: E402
from gsocketio.namespace import BaseNamespace  # noqa: E402
from gsocketio.server import SocketIOServer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


class ChatNamespace(BaseNamespace, RoomsMixin, BroadcastMixin):
    def on_nickname(self, nickname):
        self.request["nicknames"].append(nickname)
        self.socket.session["nickname"] = nickname
        self.broadcast_event("announcement", f"{nickname} has connected")
        self.broadcast_event("nicknames", self.request["nicknames"])
        # Just have them join a default-named room
        self.join("main_room")

    def recv_disconnect(self):
        # Remove nickname from the list.
        nickname = self.socket.session["nickname"]
        self.request["nicknames"].remove(nickname)
        self.broadcast_event("announcement", f"{nickname} has disconnected")
        self.broadcast_event("nicknames", self.request["nicknames"])
        self.disconnect(silent=True)

    def on_user_message(self, msg):
        self.emit_to_room("main_room", "msg_to_room", self.socket.session["nickname"], msg)

    def recv_message(self, message):
        print("PING!!!", message)


class Application:
    def __init__(self):
        self.buffer = []
        # Dummy request object to maintain state between Namespace initialization.
        self.request = {
            "nicknames": [],
        }

    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"].strip("/")

        if not path:
            start_response("200 OK", [("Content-Type", "text/html")])
            return [b'<h1>Welcome. Try the <a href="/chat.html">chat</a> example.</h1>']

        if path.startswith("static/") or path == "chat.html":
            try:
                with open(os.path.join(HERE, path), "rb") as f:
                    data = f.read()
            except OSError:
                return not_found(start_response)

            if path.endswith(".js"):
                content_type = "text/javascript"
            elif path.endswith(".css"):
                content_type = "text/css"
            else:
                content_type = "text/html"

            start_response("200 OK", [("Content-Type", content_type)])
            return [data]

        if path.startswith("socket.io"):
            socketio_manage(environ, {"": ChatNamespace}, self.request)
        else:
            return not_found(start_response)


def not_found(start_response):
    start_response("404 Not Found", [])
    return [b"<h1>Not Found</h1>"]


application = Application()

if __name__ == "__main__":
    print("Listening on port 8080")
    SocketIOServer(("0.0.0.0", 8080), application, resource="socket.io").serve_forever()
