"""HTTP details of the Engine.IO server: error answers (the Node server's JSON bodies, 400 or
403 for code 4), CORS (python-engineio's ``cors_allowed_origins`` semantics: ``None`` same
origin only, ``"*"`` any, a string/list of origins, a callable, ``[]`` off; a request without
``Origin`` is allowed, a refused one gets ``400 {"code":3}``), the JSONP page check, cookies
and response compression.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

Headers = list[tuple[str, str]]
StartResponse = Callable[..., Any]

UNKNOWN_TRANSPORT = 0
UNKNOWN_SID = 1
BAD_HANDSHAKE_METHOD = 2
BAD_REQUEST = 3
FORBIDDEN = 4
UNSUPPORTED_PROTOCOL_VERSION = 5

ERROR_MESSAGES = {
    UNKNOWN_TRANSPORT: "Transport unknown",
    UNKNOWN_SID: "Session ID unknown",
    BAD_HANDSHAKE_METHOD: "Bad handshake method",
    BAD_REQUEST: "Bad request",
    FORBIDDEN: "Forbidden",
    UNSUPPORTED_PROTOCOL_VERSION: "Unsupported protocol version",
}

STATUS_TEXT = {
    200: "200 OK",
    204: "204 No Content",
    304: "304 Not Modified",
    400: "400 Bad Request",
    403: "403 Forbidden",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    413: "413 Payload Too Large",
}


def error_body(code: int) -> bytes:
    """The official JSON body for an Engine.IO error code."""
    return json.dumps(
        {"code": code, "message": ERROR_MESSAGES[code]}, separators=(",", ":")
    ).encode()


def respond(
    start_response: StartResponse, status: int, headers: Headers, body: bytes = b""
) -> list[bytes]:
    """Start a response with a Content-Length and return the WSGI body."""
    headers.append(("Content-Length", str(len(body))))
    start_response(STATUS_TEXT[status], headers)
    return [body]


def respond_error(start_response: StartResponse, code: int, headers: Headers) -> list[bytes]:
    """Answer an Engine.IO error exactly like the official server (403 for FORBIDDEN)."""
    headers.append(("Content-Type", "application/json"))
    return respond(start_response, 403 if code == FORBIDDEN else 400, headers, error_body(code))


# --- CORS ------------------------------------------------------------------------------------

OriginSpec = str | Sequence[str] | Callable[[str], bool] | None


def _referer_origin(referer: object) -> str:
    """``<scheme>://<host>`` of an http(s) ``Referer`` URL ("" for anything else)."""
    if not isinstance(referer, str):
        return ""
    try:
        parts = urlsplit(referer)
    except ValueError:  # e.g. an unbalanced "[" in the host
        return ""
    host = parts.netloc.rpartition("@")[2]  # never userinfo
    if parts.scheme not in ("http", "https") or not host:
        return ""
    return f"{parts.scheme}://{host}"


def _normalize_origin(origin: str) -> str:
    """Lower-case scheme and host and drop a default port, so equal origins compare equal."""
    origin = origin.strip().rstrip("/").lower()
    for scheme, port in (("http://", ":80"), ("https://", ":443")):
        if origin.startswith(scheme) and origin.endswith(port):
            return origin[: -len(port)]
    return origin


class CorsPolicy:
    """Decides whether an ``Origin`` may talk to us and which CORS headers to answer with."""

    __slots__ = ("_allowed", "_any", "_check", "_credentials", "enabled")

    def __init__(self, allowed: OriginSpec, credentials: bool) -> None:
        self._credentials = credentials
        self._any = False
        self._check: Callable[[str], bool] | None = None
        self._allowed: frozenset[str] | None = None  # None = same origin
        self.enabled = True
        if allowed is None:
            return
        if isinstance(allowed, str):
            if allowed == "*":
                self._any = True
            else:
                self._allowed = frozenset({_normalize_origin(allowed)})
        elif callable(allowed):
            self._check = allowed
        else:
            origins = list(allowed)
            if not origins:
                self.enabled = False
            elif "*" in origins:
                self._any = True
            else:
                self._allowed = frozenset(_normalize_origin(o) for o in origins)

    def is_allowed(self, environ: Mapping[str, Any]) -> bool:
        """True when the request has no Origin, or an Origin this policy accepts."""
        origin = environ.get("HTTP_ORIGIN")
        if not origin or not self.enabled or self._any:
            return True
        return self._accepts(origin, environ)

    def allows_script(self, environ: Mapping[str, Any]) -> bool:
        """For JSONP, which a cross-site ``<script>`` can load without any CORS check: the
        ``Origin``, else the ``Referer``'s origin, must be accepted; a request with neither
        is refused (``referrerpolicy="no-referrer"`` would otherwise bypass the check),
        unless the policy accepts every origin or CORS is handled elsewhere (``[]``)."""
        if not self.enabled or self._any:
            return True
        origin = environ.get("HTTP_ORIGIN") or _referer_origin(environ.get("HTTP_REFERER"))
        return bool(origin) and self._accepts(origin, environ)

    def _accepts(self, origin: str, environ: Mapping[str, Any]) -> bool:
        if self._check is not None:
            return bool(self._check(origin))
        if self._allowed is not None:
            return _normalize_origin(origin) in self._allowed
        return _normalize_origin(origin) == _own_origin(environ)

    def headers(self, environ: Mapping[str, Any], preflight: bool = False) -> Headers:
        """CORS response headers for an allowed request (empty without an Origin)."""
        origin = environ.get("HTTP_ORIGIN")
        if not origin or not self.enabled:
            return []
        headers = [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
        if self._credentials:
            headers.append(("Access-Control-Allow-Credentials", "true"))
        if preflight:
            headers.append(("Access-Control-Allow-Methods", "OPTIONS, GET, POST"))
            requested = environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS")
            if requested:
                headers.append(("Access-Control-Allow-Headers", requested))
        return headers


def _own_origin(environ: Mapping[str, Any]) -> str:
    scheme = environ.get("HTTP_X_FORWARDED_PROTO") or environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_X_FORWARDED_HOST") or environ.get("HTTP_HOST")
    if not host:
        host = environ.get("SERVER_NAME", "") + ":" + str(environ.get("SERVER_PORT", ""))
    scheme = scheme.split(",")[0].strip()
    host = host.split(",")[0].strip()
    return _normalize_origin(f"{scheme}://{host}")


# --- cookie ----------------------------------------------------------------------------------

CookieSpec = bool | str | Mapping[str, Any] | None

_COOKIE_DEFAULTS: dict[str, Any] = {"name": "io", "path": "/", "httponly": True, "samesite": "Lax"}


def cookie_attributes(spec: CookieSpec) -> dict[str, Any] | None:
    """Normalise the ``cookie`` option; None means "set no cookie" (the default, as upstream).

    ``True`` gives the official defaults (``io``, ``Path=/``, ``HttpOnly``, ``SameSite=Lax``),
    a string names the cookie, a mapping overrides attributes (``name``, ``path``, ``domain``,
    ``secure``, ``httponly``, ``samesite``, ``max_age``, ``expires``; camelCase accepted).
    """
    if spec is None or spec is False:
        return None
    attrs = dict(_COOKIE_DEFAULTS)
    if isinstance(spec, str):
        attrs["name"] = spec
    elif isinstance(spec, Mapping):
        for key, value in spec.items():
            attrs[key.replace("-", "_").lower().replace("maxage", "max_age")] = value
    return attrs


def format_cookie(attrs: Mapping[str, Any], value: str) -> str:
    """``Set-Cookie`` value carrying the session id."""
    parts = [f"{attrs['name']}={value}"]
    if attrs.get("path"):
        parts.append(f"Path={attrs['path']}")
    if attrs.get("domain"):
        parts.append(f"Domain={attrs['domain']}")
    if attrs.get("max_age") is not None:
        parts.append(f"Max-Age={int(attrs['max_age'])}")
    if attrs.get("expires"):
        parts.append(f"Expires={attrs['expires']}")
    if attrs.get("httponly"):
        parts.append("HttpOnly")
    if attrs.get("secure"):
        parts.append("Secure")
    samesite = attrs.get("samesite")
    if samesite:
        parts.append("SameSite=" + (samesite if isinstance(samesite, str) else "Strict"))
    return "; ".join(parts)


# --- compression -----------------------------------------------------------------------------


def choose_encoding(accept_encoding: str | None) -> str | None:
    """``gzip`` or ``deflate`` from an Accept-Encoding header (highest q wins; gzip on ties)."""
    if not accept_encoding:
        return None
    best: str | None = None
    best_q = 0.0
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        coding = coding.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, val = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(val)
                except ValueError:
                    q = 0.0
        candidates: Iterable[str]
        if coding == "*":
            candidates = ("gzip", "deflate")
        elif coding in ("gzip", "deflate"):
            candidates = (coding,)
        else:
            continue
        for candidate in candidates:
            better = q > best_q or (q == best_q and q > 0 and candidate == "gzip")
            if better:
                best, best_q = candidate, q
    return best if best_q > 0 else None


def compress(data: bytes, encoding: str) -> bytes:
    """gzip or zlib-wrapped deflate (what HTTP calls ``deflate``)."""
    compressor = zlib.compressobj(wbits=31 if encoding == "gzip" else 15)
    return compressor.compress(data) + compressor.flush()
