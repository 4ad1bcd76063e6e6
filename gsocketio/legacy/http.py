"""HTTP details of the legacy endpoint: statuses, content types, query parameters.

The content types are the 0.9 Node server's: ``text/plain; charset=UTF-8`` for handshakes and
xhr-polling, ``text/javascript; charset=UTF-8`` with ``X-XSS-Protection: 0`` for jsonp-polling
(IE's filter would block the replies otherwise), ``text/html`` for htmlfile and
``application/javascript`` for a JSONP handshake.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

__all__ = [
    "HTML",
    "JAVASCRIPT",
    "JSONP_HANDSHAKE",
    "TEXT",
    "Headers",
    "StartResponse",
    "digits_param",
    "respond",
]

Headers = list[tuple[str, str]]
StartResponse = Callable[..., Any]

TEXT: Final = "text/plain; charset=UTF-8"
JAVASCRIPT: Final = "text/javascript; charset=UTF-8"
JSONP_HANDSHAKE: Final = "application/javascript"
HTML: Final = "text/html; charset=UTF-8"

_STATUS: Final = {
    200: "200 OK",
    204: "204 No Content",
    400: "400 Bad Request",
    403: "403 Forbidden",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    413: "413 Payload Too Large",
    500: "500 Internal Server Error",
    503: "503 Service Unavailable",
}

_MAX_INDEX_DIGITS: Final = 9


def respond(
    start_response: StartResponse,
    status: int,
    headers: Headers,
    body: str | bytes = b"",
    content_type: str | None = TEXT,
) -> list[bytes]:
    """Start a complete response (with Content-Length) and return its WSGI body."""
    data = body.encode() if isinstance(body, str) else body
    if content_type is not None and data:
        headers.append(("Content-Type", content_type))
    headers.append(("Content-Length", str(len(data))))
    start_response(_STATUS[status], headers)
    return [data]


def digits_param(query: Mapping[str, str], name: str) -> int | None:
    """A JSONP index parameter: None unless it is all ASCII digits (the 0.9 server's
    ``/^\\d+$/``), so nothing but a number is ever written into a script."""
    value = query.get(name)
    if value is None or not value.isascii() or not value.isdigit():
        return None
    if len(value) > _MAX_INDEX_DIGITS:
        return None
    return int(value)
