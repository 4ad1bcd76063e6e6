"""``python -m gsocketio``: run the demo chat, or a user's app.

python -m gsocketio [--host 127.0.0.1] [--port 5000] [--log-level INFO] [--log-format plain]
python -m gsocketio run package.module:app [--host ...] [--port ...]

--port 0 picks a free port (the "serving ... on http://host:port/" line tells which).
--log-format json writes one JSON object per line (time, level, logger, message, exc_info).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # first: user apps (Django, requests, ...) must see cooperative sockets

import argparse  # noqa: E402
import importlib  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

from gsocketio.logformat import FORMATS, configure_logging  # noqa: E402


def _load(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr or "app")


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
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
    )
    parser.add_argument("--log-format", default="plain", choices=FORMATS)
    args = parser.parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    log = logging.getLogger("gsocketio")

    from gsocketio.serve import SocketIOServer

    if args.command == "run":
        if not args.target:
            parser.error("`run` needs module:app")
        app = _load(args.target)
    else:
        from gsocketio.demo import create_app

        app, _sio, _state, _legacy = create_app()
        _report_client_bundle(log)
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
