"""Echo-with-ack server on gsocketio (benchmark peer)."""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402

import gsocketio  # noqa: E402
from gsocketio.serve import SocketIOServer  # noqa: E402

sio = gsocketio.Server(cors_allowed_origins="*")


@sio.on("echo")
def echo(sid: str, data: object) -> object:
    return data


@sio.on("broadcast")
def broadcast(sid: str, data: object) -> None:
    sio.emit("news", data, to="all")


@sio.event
def connect(sid: str, environ: dict, auth: object) -> None:  # type: ignore[type-arg]
    sio.enter_room(sid, "all")


if __name__ == "__main__":
    SocketIOServer(("127.0.0.1", int(sys.argv[1])), sio.wsgi_app(), log=None).serve_forever()
