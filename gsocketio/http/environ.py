"""The PEP 3333 environ of one request, from its parsed head.

Header fields become ``HTTP_*`` keys (``Content-Type``/``Content-Length`` without the prefix),
repeated fields joined with ``,`` (``Cookie`` with ``;``, RFC 9113 8.2.3). A field whose name
contains ``_`` is dropped: ``X_Forwarded_For`` and ``X-Forwarded-For`` would map to the same
key, which lets a client spoof a header a proxy set (nginx, Apache and gunicorn drop them too).
``PATH_INFO`` is percent-decoded to bytes and carried as latin-1, as PEP 3333 asks.
"""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import unquote_to_bytes

from gsocketio.http.parser import RequestHead

__all__ = [
    "LEAN_BASE_KEYS",
    "base_environ",
    "build_environ",
    "lean_base",
    "lean_environ",
    "split_target",
]

_KEY_CACHE: dict[str, str] = {}
_KEY_CACHE_SIZE = 512


def _environ_key(name: str) -> str:
    """The environ key of a header name; "" for a name that is dropped."""
    if "_" in name:
        key = ""
    else:
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
    if len(_KEY_CACHE) < _KEY_CACHE_SIZE:  # names are client-chosen: the cache is bounded
        _KEY_CACHE[name] = key
    return key


def base_environ(
    server_name: str, server_port: int | str, *, https: bool, software: str
) -> dict[str, Any]:
    """The keys every request of a server shares."""
    return {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_SOFTWARE": software,
        "SERVER_NAME": server_name,
        "SERVER_PORT": str(server_port),
        "SCRIPT_NAME": "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https" if https else "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
    }


def split_target(target: str) -> tuple[str, str]:
    """``(PATH_INFO, QUERY_STRING)`` of a request target (origin or absolute form)."""
    if target[:1] != "/" and "://" in target[:10]:  # absolute form: drop scheme and authority
        rest = target.split("://", 1)[1]
        slash = rest.find("/")
        query_at = rest.find("?")
        if slash < 0 or (0 <= query_at < slash):
            target = "/" + (rest[query_at:] if query_at >= 0 else "")
        else:
            target = rest[slash:]
    path, _, query = target.partition("?")
    if "#" in query:
        query = query.split("#", 1)[0]
    if "%" in path:
        path = unquote_to_bytes(path).decode("latin-1")
    return path, query


def _add_headers(environ: dict[str, Any], headers: list[tuple[str, str]]) -> None:
    cache = _KEY_CACHE
    for name, value in headers:
        key = cache.get(name)
        if key is None:
            key = _environ_key(name)
        if not key:
            continue
        previous = environ.get(key)
        if previous is None:
            environ[key] = value
        elif key == "HTTP_COOKIE":
            environ[key] = previous + "; " + value
        else:
            environ[key] = previous + "," + value


def build_environ(
    base: dict[str, Any], head: RequestHead, remote: Any, wsgi_input: Any
) -> dict[str, Any]:
    """The environ of ``head``; ``remote`` is the peer's address (a tuple for TCP)."""
    environ = base.copy()
    path, query = split_target(head.target)
    environ["REQUEST_METHOD"] = head.method
    environ["PATH_INFO"] = path
    environ["QUERY_STRING"] = query
    environ["RAW_URI"] = head.target
    environ["SERVER_PROTOCOL"] = head.protocol
    environ["wsgi.input"] = wsgi_input
    if isinstance(remote, tuple) and len(remote) >= 2:
        environ["REMOTE_ADDR"] = str(remote[0])
        environ["REMOTE_PORT"] = str(remote[1])
    else:
        environ["REMOTE_ADDR"] = str(remote or "")
    _add_headers(environ, head.headers)
    return environ


LEAN_BASE_KEYS = ("wsgi.url_scheme", "wsgi.errors", "SERVER_NAME", "SERVER_PORT", "SCRIPT_NAME")
"""The server-wide keys a lean environ carries (what a same-origin CORS check reads)."""


def lean_base(full_base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """What every lean environ starts from: :data:`LEAN_BASE_KEYS` of a server's base
    environ, and the keys the deployment added (``WSGIServer(environ=...)``)."""
    base = {key: full_base[key] for key in LEAN_BASE_KEYS if key in full_base}
    base.update(extra)
    return base


def lean_environ(
    base: dict[str, Any], head: RequestHead, path: str, query: str, wsgi_input: Any
) -> dict[str, Any] | None:
    """The environ of the direct route (:meth:`gsocketio.wsgi.WSGIApp.direct_route`): the
    method, path, query, body, header fields as in :func:`build_environ`, and ``base``
    (:func:`lean_base`); not the CGI and WSGI constants, the peer's address, the raw socket.
    None for a request asking for an upgrade, which needs the socket (the general way)."""
    environ = base.copy()
    environ["REQUEST_METHOD"] = head.method
    environ["PATH_INFO"] = path
    environ["QUERY_STRING"] = query
    environ["wsgi.input"] = wsgi_input
    _add_headers(environ, head.headers)
    if "HTTP_UPGRADE" in environ:
        return None
    return environ
