"""Serve the Flask chat with gsocketio's SocketIOServer (the seed's run.py, ported)."""

from gevent import monkey

monkey.patch_all()

from chat import app  # noqa: E402

from gsocketio.server import SocketIOServer  # noqa: E402

if __name__ == "__main__":
    print("Listening on http://127.0.0.1:5000 (Ctrl-C stops)")
    SocketIOServer(("127.0.0.1", 5000), app, resource="socket.io").serve_forever()
