"""A modern-API app for the gunicorn tests (issue #3): ``sio.wsgi_app(page)``, not seed mode.

Run as ``gunicorn -k <worker> gunicorn_modern_app:app`` from this directory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gsocketio

sio = gsocketio.Server(cors_allowed_origins="*")


@sio.event
def echo(sid: str, *args: Any) -> list[Any]:
    return list(args)


@sio.event
def shout(sid: str, text: str) -> bool:
    sio.emit("shouted", text)
    return True


def page(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"the page"]


app = sio.wsgi_app(page)
