"""Echo-with-ack server on gsocketio (benchmark peer).

``GSOCKETIO_BENCH_METRICS=1`` serves it with the Prometheus endpoint on (``/metrics``);
``GSOCKETIO_BENCH_BLOCKING=<seconds>`` runs the blocked-loop monitor with that threshold.
``GSOCKETIO_BENCH_ADMIN=production|development`` instruments it for the Admin UI
(``sio.instrument(auth=False, mode=...)``, no admin connected).
``GSOCKETIO_BENCH_DIRECT=0`` turns the HTTP server's direct route off (every request takes the
general WSGI path), to measure what the route buys.
"""

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402
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
    metrics = "/metrics" if os.environ.get("GSOCKETIO_BENCH_METRICS") == "1" else None
    if os.environ.get("GSOCKETIO_BENCH_BLOCKING"):
        gsocketio.monitor_blocking(float(os.environ["GSOCKETIO_BENCH_BLOCKING"]))
    if os.environ.get("GSOCKETIO_BENCH_ADMIN"):
        sio.instrument(auth=False, mode=os.environ["GSOCKETIO_BENCH_ADMIN"])
    # only when asked: an older tree (--baseline) has no metrics_path keyword
    app = sio.wsgi_app(metrics_path=metrics) if metrics else sio.wsgi_app()
    address = ("127.0.0.1", int(sys.argv[1]))
    # only when asked, as above: an older tree (--baseline) has no direct keyword
    if os.environ.get("GSOCKETIO_BENCH_DIRECT") == "0":
        SocketIOServer(address, app, log=None, direct=False).serve_forever()
    else:
        SocketIOServer(address, app, log=None).serve_forever()
