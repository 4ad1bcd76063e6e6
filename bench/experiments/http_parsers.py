"""httptools (llhttp) vs h11 as the request parser of gsocketio's HTTP front door (issue 9).

Three measurements, printed as a table:

1. parse only: one Engine.IO long-polling GET head as socket.io-client 4.x sends it, parsed
   N times (httptools through gsocketio.http.parser.HeadParser, with our extra rules; h11 with
   a fresh server Connection per request, as its per-cycle cost is what a server pays);
2. under gevent: a keep-alive server per parser on a gevent StreamServer (the same tiny
   response), driven by a separate load process with C connections doing sequential requests
   for D seconds; requests/s;
3. hostile heads: which parser refuses each smuggling/lenient-parsing case of issue 9.

Run: ``PYTHONPATH=. python bench/experiments/http_parsers.py [--seconds 5] [--connections 50]``
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from importlib.metadata import version

GET = (
    b"GET /socket.io/?EIO=4&transport=polling&t=PZx1a2b&sid=qL5XyZbE0vZ8AAAB HTTP/1.1\r\n"
    b"Host: 127.0.0.1:5000\r\nConnection: keep-alive\r\nAccept: */*\r\n"
    b"User-Agent: node\r\nAccept-Encoding: gzip, deflate\r\n\r\n"
)
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"

HOSTILE = {
    "CL+TE": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    "CL +5": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
    "CL 0_5": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0_5\r\n\r\n",
    "CL 0x5": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n",
    "CL ' 5 '": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  5 \r\n\r\n",
    "CL 5, 6": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    "obs-fold": b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n b\r\n\r\n",
    "NUL in value": b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n",
    "space in name": b"GET / HTTP/1.1\r\nHost: a\r\nX A: a\r\n\r\n",
    "bare LF": b"GET / HTTP/1.1\nHost: a\n\n",
    "TE gzip, chunked": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    "two Hosts": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
}


# --- parsers -----------------------------------------------------------------------------------


def parse_httptools(data: bytes, n: int) -> float:
    from gsocketio.http.limits import HTTPLimits
    from gsocketio.http.parser import HeadParser

    parser = HeadParser(HTTPLimits())
    start = time.perf_counter()
    for _ in range(n):
        buf = bytearray(data)
        parser.parse(buf)
    return time.perf_counter() - start


def parse_h11(data: bytes, n: int) -> float:
    import h11

    start = time.perf_counter()
    for _ in range(n):
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(data)
        conn.next_event()  # Request
        conn.next_event()  # EndOfMessage
    return time.perf_counter() - start


def refuses_httptools(data: bytes) -> bool:
    from gsocketio.exceptions import HTTPRequestError
    from gsocketio.http.limits import HTTPLimits
    from gsocketio.http.parser import HeadParser

    try:
        return HeadParser(HTTPLimits()).parse(bytearray(data)) is None
    except HTTPRequestError:
        return True


def refuses_h11(data: bytes) -> bool:
    import h11

    conn = h11.Connection(h11.SERVER)
    try:
        conn.receive_data(data)
        return not isinstance(conn.next_event(), h11.Request)
    except h11.RemoteProtocolError:
        return True


# --- servers under gevent (subprocesses: ``--serve KIND`` prints its port; ``--load PORT``) ----


def serve(kind: str) -> None:
    from gevent import monkey

    monkey.patch_all()
    from gevent.server import StreamServer

    def handle_httptools(sock: socket.socket, _addr: object) -> None:
        from gsocketio.http.limits import HTTPLimits
        from gsocketio.http.parser import HeadParser

        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        parser = HeadParser(HTTPLimits())
        buf = bytearray()
        while True:
            data = sock.recv(65536)
            if not data:
                return
            buf += data
            while parser.parse(buf) is not None:
                sock.sendall(RESPONSE)

    def handle_h11(sock: socket.socket, _addr: object) -> None:
        import h11

        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = h11.Connection(h11.SERVER)
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = sock.recv(65536)
                if not data:
                    return
                conn.receive_data(data)
            elif isinstance(event, h11.Request):
                pass
            elif isinstance(event, h11.EndOfMessage):
                headers = [("Content-Length", "2"), ("Content-Type", "text/plain")]
                out = conn.send(h11.Response(status_code=200, headers=headers))
                out += conn.send(h11.Data(data=b"ok")) + conn.send(h11.EndOfMessage())
                sock.sendall(out)
                conn.start_next_cycle()
            else:
                return

    handler = handle_httptools if kind == "httptools" else handle_h11
    server = StreamServer(("127.0.0.1", 0), handler)
    server.start()
    print(server.server_port, flush=True)
    server.serve_forever()


def load(port: int, connections: int, seconds: float) -> None:
    from gevent import monkey

    monkey.patch_all()
    import gevent

    count = [0]
    stop_at = time.monotonic() + seconds
    request = GET.replace(b"127.0.0.1:5000", f"127.0.0.1:{port}".encode())

    def one() -> None:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while time.monotonic() < stop_at:
            sock.sendall(request)
            got = b""
            while not got.endswith(b"ok"):
                got += sock.recv(4096)
            count[0] += 1
        sock.close()

    gevent.joinall([gevent.spawn(one) for _ in range(connections)])
    print(count[0] / seconds, flush=True)


def under_gevent(kind: str, connections: int, seconds: float) -> float:
    me = [sys.executable, __file__]
    server = subprocess.Popen([*me, "--serve", kind], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        out = subprocess.run(
            [*me, "--load", str(port), "--connections", str(connections),
             "--seconds", str(seconds)],
            capture_output=True, text=True, timeout=seconds + 60, check=True,
        )  # fmt: skip
        return float(out.stdout.strip().splitlines()[-1])
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--serve", choices=["httptools", "h11"])
    parser.add_argument("--load", type=int, metavar="PORT")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.load:
        load(args.load, args.connections, args.seconds)
        return
    print(
        f"python {sys.version.split()[0]}, httptools {version('httptools')}, "
        f"h11 {version('h11')}, gevent {version('gevent')}"
    )
    for name, fn in (("httptools", parse_httptools), ("h11", parse_h11)):
        fn(GET, 1000)
        elapsed = min(fn(GET, args.n) for _ in range(3))
        print(f"parse only   {name:10s} {elapsed / args.n * 1e6:8.2f} us/request")
    for kind in ("httptools", "h11"):
        rate = under_gevent(kind, args.connections, args.seconds)
        print(
            f"under gevent {kind:10s} {rate:10.0f} requests/s "
            f"({args.connections} keep-alive connections, {args.seconds:g} s)"
        )
    print(f"{'hostile head':20s} httptools+rules  h11")
    for case, data in HOSTILE.items():
        a = "400" if refuses_httptools(data) else "ACCEPTED"
        b = "400" if refuses_h11(data) else "ACCEPTED"
        print(f"{case:20s} {a:16s} {b}")


if __name__ == "__main__":
    main()
