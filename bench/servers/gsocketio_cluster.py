"""A gsocketio cluster node for bench/cluster.py: ``gsocketio_cluster.py PORT KEY|memory``.

Every socket joins room ``r``; ``GET /burst?n=N`` emits N broadcasts ``b`` to it at once;
``GET /calls?n=N`` makes N sequential ``sio.to("r").timeout(5).call("ask", i)``.
"""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import parse_qs  # noqa: E402

import gsocketio  # noqa: E402
from gsocketio.serve import SocketIOServer  # noqa: E402

key = sys.argv[2]
if key == "memory":
    sio = gsocketio.Server(cors_allowed_origins="*")
else:
    from gsocketio.adapters.redis import RedisAdapter

    sio = gsocketio.Server(cors_allowed_origins="*", adapter=RedisAdapter(key=key))


@sio.event
def connect(sid: str, environ: dict, auth: object) -> None:  # type: ignore[type-arg]
    sio.enter_room(sid, "r")


def burst(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    n = int(parse_qs(environ.get("QUERY_STRING", ""))["n"][0])
    if environ.get("PATH_INFO") == "/calls":  # n sequential broadcasts-with-acks to the room
        for i in range(n):
            sio.to("r").timeout(5).call("ask", i)
    else:
        room = sio.to("r")
        for i in range(n):
            room.emit("b", i)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


if __name__ == "__main__":
    SocketIOServer(("127.0.0.1", int(sys.argv[1])), sio.wsgi_app(burst), log=None).serve_forever()
