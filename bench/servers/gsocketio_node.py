"""The echo server as one node of a host (issue 12): ``gsocketio_node.py PORT NODE_DIR`` serves
on PORT and on its unix socket in NODE_DIR, and prints ``PORT <n>`` once both listen."""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import gsocketio  # noqa: E402
from gsocketio.nodes import start_node  # noqa: E402
from gsocketio.serve import SocketIOServer  # noqa: E402

sio = gsocketio.Server(cors_allowed_origins="*")


@sio.on("echo")
def echo(sid: str, data: object) -> object:
    return data


if __name__ == "__main__":
    server = SocketIOServer(("127.0.0.1", int(sys.argv[1])), sio.wsgi_app(), log=None)
    server.init_socket()
    start_node(server.application, Path(sys.argv[2]))
    print(f"PORT {server.server_port}", flush=True)
    server.serve_forever()
