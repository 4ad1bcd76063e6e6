"""``python -m gsocketio``: run the demo chat, or a user's app.

python -m gsocketio [--host 127.0.0.1] [--port 5000]
python -m gsocketio run package.module:app [--host ...] [--port ...]
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # first: user apps (Django, requests, ...) must see cooperative sockets

import argparse  # noqa: E402
import importlib  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402


def _load(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr or "app")


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
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    log = logging.getLogger("gsocketio")

    from gsocketio.serve import SocketIOServer

    if args.command == "run":
        if not args.target:
            parser.error("`run` needs module:app")
        app = _load(args.target)
    else:
        from gsocketio.demo import create_app

        app, _sio, _state, _legacy = create_app()
    server = SocketIOServer((args.host, args.port), app, log=None)
    try:
        server.init_socket()
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", args.host, args.port, exc)
        return 1
    what = "the demo chat" if args.command == "demo" else args.target
    log.info("serving %s on http://%s:%s/ (Ctrl-C stops)", what, args.host, server.server_port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
