"""Serve chatter2 with gsocketio (the seed's serve.py, ported): ``python serve.py``."""

from gevent import monkey

monkey.patch_all()

from chatter2 import main  # noqa: E402

from gsocketio.server import SocketIOServer  # noqa: E402

if __name__ == "__main__":
    app = main()
    print("Listening on http://127.0.0.1:6543 (Ctrl-C stops)")
    SocketIOServer(("127.0.0.1", 6543), app, resource="socket.io").serve_forever()
