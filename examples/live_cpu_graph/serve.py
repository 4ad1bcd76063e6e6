"""The seed's live CPU graph (examples/live_cpu_graph), ported: a greenlet per client, started
in ``recv_connect`` with ``self.spawn``, emits the CPU load every half second.

Run ``python serve.py`` and open http://127.0.0.1:8080/ (Linux: reads /proc/stat).
"""

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402

import gevent  # noqa: E402

from gsocketio import socketio_manage  # noqa: E402
from gsocketio.mixins import BroadcastMixin  # noqa: E402
from gsocketio.namespace import BaseNamespace  # noqa: E402
from gsocketio.server import SocketIOServer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
INTERVAL = float(os.environ.get("CPU_INTERVAL", "0.5"))


def read_cpu():
    with open("/proc/stat") as f:
        line = next(x for x in f if x.startswith("cpu "))
    return [int(v) for v in line.split()[1:5]]


class CPUNamespace(BaseNamespace, BroadcastMixin):
    def recv_connect(self):
        def sendcpu():
            prev = None
            while True:
                vals = read_cpu()
                if prev:
                    total = sum(vals) - sum(prev)
                    busy = sum(vals[:3]) - sum(prev[:3])
                    percent = 100.0 * busy / total if total else 0.0
                    self.emit("cpu_data", {"point": percent})
                prev = vals
                gevent.sleep(INTERVAL)

        self.spawn(sendcpu)


class Application:
    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"].strip("/") or "index.html"

        if path == "index.html":
            with open(os.path.join(HERE, path), "rb") as f:
                data = f.read()
            start_response("200 OK", [("Content-Type", "text/html")])
            return [data]

        if path.startswith("socket.io"):
            socketio_manage(environ, {"/cpu": CPUNamespace})
        else:
            return not_found(start_response)


def not_found(start_response):
    start_response("404 Not Found", [])
    return [b"<h1>Not Found</h1>"]


application = Application()

if __name__ == "__main__":
    print("Listening on http://127.0.0.1:8080 (Ctrl-C stops)")
    SocketIOServer(("127.0.0.1", 8080), application, resource="socket.io").serve_forever()
