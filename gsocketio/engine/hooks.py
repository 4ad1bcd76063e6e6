"""Node's engine events around the Engine.IO endpoint: ``initial_headers``, ``headers`` and
``connection_error`` (``sio.on_engine(...)``).

They wrap the endpoint at the WSGI level, outside the engine: a request pays for them only
when one is registered. ``initial_headers(headers, environ)`` runs for a handshake (a request
without ``sid``), then ``headers(headers, environ)`` for every successful response, both
appending to the response's header list (a cookie, say), WebSocket 101 responses included.
``connection_error(err)`` gets an :class:`EngineConnectionError` for each request the engine
refused, with Node's code and message (0 "Transport unknown" … 5 "Unsupported protocol
version").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, Final

from gsocketio._logging import get_logger
from gsocketio.exceptions import GSocketIOError

__all__ = ["ENGINE_EVENTS", "EngineConnectionError", "EngineHooks"]

log = get_logger("gsocketio.engine")

ENGINE_EVENTS: Final = frozenset({"initial_headers", "headers", "connection_error"})

EXTRA_HEADERS_KEY: Final = "gsocketio.extra_headers"
"""Environ key: headers :func:`gsocketio.websocket.connection.accept_websocket` adds to its 101
(it writes that response on the raw socket, not through ``start_response``)."""

Headers = list[tuple[str, str]]
App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class EngineConnectionError(GSocketIOError):
    """A request the engine refused, as Node's ``connection_error`` describes it."""

    def __init__(self, code: int, message: str, environ: dict[str, Any]) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.environ = environ  # Node's ``err.req``


def _is_handshake(environ: dict[str, Any]) -> bool:
    query: str = environ.get("QUERY_STRING") or ""
    return not any(part.startswith("sid=") for part in query.split("&"))


class EngineHooks:
    """The registered engine listeners; :meth:`serve` runs the endpoint with them."""

    def __init__(self) -> None:
        self.listeners: dict[str, list[Callable[..., Any]]] = {}

    @property
    def active(self) -> bool:
        return bool(self.listeners)

    def add(self, event: str, fn: Callable[..., Any]) -> None:
        if event not in ENGINE_EVENTS:
            raise ValueError(f"unknown engine event {event!r}; one of {sorted(ENGINE_EVENTS)}")
        self.listeners.setdefault(event, []).append(fn)

    def _extra(self, environ: dict[str, Any]) -> Headers:
        extra: Headers = []
        events = ("initial_headers", "headers") if _is_handshake(environ) else ("headers",)
        for event in events:
            for fn in self.listeners.get(event, ()):
                try:
                    fn(extra, environ)
                except Exception:
                    log.exception("error in the engine's %s listener", event)
        return extra

    def serve(
        self, app: App, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Run ``app`` (the engine's endpoint) with the listeners around it."""
        wants_headers = "headers" in self.listeners or "initial_headers" in self.listeners
        if wants_headers and environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            environ[EXTRA_HEADERS_KEY] = self._extra(environ)
        status_seen: list[str] = []

        def start(status: str, headers: Headers, exc_info: Any = None) -> Any:
            status_seen.append(status)
            if wants_headers and status[:3] == "200":
                headers.extend(self._extra(environ))
            if exc_info is not None:
                return start_response(status, headers, exc_info)
            return start_response(status, headers)

        body = app(environ, start)
        refused = status_seen and status_seen[0][:3] in ("400", "403")
        if refused and "connection_error" in self.listeners:
            chunks = list(body)
            self._report(b"".join(chunks), environ)
            return chunks
        return body

    def _report(self, body: bytes, environ: dict[str, Any]) -> None:
        try:
            described = json.loads(body)
            code, message = int(described["code"]), str(described["message"])
        except (ValueError, KeyError, TypeError):
            return  # not an Engine.IO error answer (a transport-level 400)
        error = EngineConnectionError(code, message, environ)
        for fn in self.listeners.get("connection_error", ()):
            try:
                fn(error)
            except Exception:
                log.exception("error in the engine's connection_error listener")
