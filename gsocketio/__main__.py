"""``python -m gsocketio``: run the demo chat, or a user's app.

python -m gsocketio [--host 127.0.0.1] [--port 5000] [--log-level INFO] [--log-format plain]
python -m gsocketio run package.module:app [--host ...] [--port ...] [--workers N]

--metrics [PATH] serves Prometheus metrics on PATH (default /metrics; `run` instruments the
gsocketio.Server objects at the target module's top level); --blocked-loop-threshold SECONDS
logs (and counts) every stall of the gevent hub longer than that.
--port 0 picks a free port (the "serving ... on http://host:port/" line tells which).
--log-format json writes one JSON object per line (time, level, logger, message, exc_info).
--workers N pre-forks N processes on one listening socket; each imports the app itself (its
own adapter and Redis connections) and serves any request: polls of another worker's session
are forwarded to it (docs/deployment.md). --node-dir joins separately started processes of one
host the same way; --node-address HOST[:PORT] --node-redis URL makes the processes reachable
from other hosts (registered in Redis).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # first: user apps (Django, requests, ...) must see cooperative sockets

import argparse  # noqa: E402
import importlib  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from gsocketio.logformat import FORMATS, configure_logging  # noqa: E402


def _load(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr or "app")


def _app(args: argparse.Namespace, log: logging.Logger) -> Any:
    """The WSGI app to serve (in each worker, with --workers), instrumented when asked."""
    from gsocketio.server import Server

    sio: Server | None
    if args.command == "run":
        app = _load(args.target)
        scope = vars(sys.modules[args.target.partition(":")[0]]).values()
        sio = next((v for v in scope if isinstance(v, Server)), None)
    else:
        from gsocketio.demo import create_app

        app, sio, _state, _legacy = create_app()
        _report_client_bundle(log)
    if args.metrics:
        from gsocketio.metrics import metrics_app

        if sio is None:
            raise SystemExit("--metrics: no gsocketio.Server at the top level of the target module")
        app = metrics_app(sio, app, args.metrics)
        log.info("Prometheus metrics at %s", app.metrics_path)
    if args.blocked_loop_threshold:
        from gsocketio.blocking import monitor_blocking

        monitor_blocking(args.blocked_loop_threshold)
    return app


def _report_client_bundle(log: logging.Logger) -> None:
    """Say at start-up whether the demo page's ``/socket.io/socket.io.js`` will be served."""
    from gsocketio.wsgi import ClientBundle

    found = ClientBundle().describe()
    if found is None:
        log.warning(
            "no socket.io-client bundle: /socket.io/socket.io.js will answer 404 and the demo "
            "page cannot connect; install gsocketio from a wheel, or set GSOCKETIO_CLIENT_DIST "
            "(see docs/operations.md)"
        )
    else:
        log.info("browser client: %s", found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gsocketio",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", nargs="?", choices=["demo", "run"], default="demo")
    parser.add_argument("target", nargs="?", help="module:app for `run` (a WSGI app)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=1, help="processes (pre-forked)")
    parser.add_argument("--node-dir", type=Path, default=None, help="shared node directory")
    parser.add_argument(
        "--node-address", default=None, help="host[:port] where other hosts forward to this one"
    )
    parser.add_argument("--node-redis", default=None, help="Redis URL of the node registry")
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
    )
    parser.add_argument("--log-format", default="plain", choices=FORMATS)
    parser.add_argument("--metrics", nargs="?", const="/metrics", metavar="PATH")
    parser.add_argument("--blocked-loop-threshold", type=float, metavar="SECONDS")
    args = parser.parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    log = logging.getLogger("gsocketio")
    if args.command == "run" and not args.target:
        parser.error("`run` needs module:app")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    what = "the demo chat" if args.command == "demo" else args.target
    if args.workers > 1:
        from gsocketio.nodes import NODE_ADDRESS_ENV, NODE_REDIS_ENV
        from gsocketio.prefork import serve_prefork

        if args.node_address and args.node_redis:  # each worker: its own port on that host
            os.environ[NODE_ADDRESS_ENV] = args.node_address.rsplit(":", 1)[0]
            os.environ[NODE_REDIS_ENV] = args.node_redis
        return serve_prefork(
            lambda: _app(args, log), args.host, args.port, args.workers, what, args.node_dir
        )

    from gsocketio.serve import SocketIOServer

    server = SocketIOServer((args.host, args.port), _app(args, log), log=None)
    try:
        server.init_socket()
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", args.host, args.port, exc)
        return 1
    if args.node_dir is not None or (args.node_address and args.node_redis):
        from gsocketio.nodes import start_node

        start_node(
            server.application, args.node_dir, address=args.node_address, redis_url=args.node_redis
        )
    log.info("serving %s on http://%s:%s/ (Ctrl-C stops)", what, args.host, server.server_port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
