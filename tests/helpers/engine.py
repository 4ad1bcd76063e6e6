"""Drive a real EngineServer over HTTP and WebSocket (requests, websocket-client)."""

from __future__ import annotations

import json
from typing import Any

import gevent
import requests
import websocket

from gsocketio.engine import EngineConnection, EngineServer
from tests.helpers.fakes import TIMEOUT, EchoHandler, wait_until

# Heartbeat tests use the protocol test suite's 300/200 ms; the others keep sessions alive
# longer than any test step takes, even on a loaded machine.
FAST = {"ping_interval": 0.3, "ping_timeout": 0.2}
FAST_LIVE = {"ping_interval": 0.3, "ping_timeout": 3.0}  # pinged often, answering is not rushed


class Engine:
    """A running engine: base URLs, the EngineServer and its handler."""

    def __init__(self, url: str, engine: EngineServer, handler: EchoHandler) -> None:
        self.url = url + "/socket.io/"
        self.ws_url = self.url.replace("http://", "ws://")
        self.engine = engine
        self.handler = handler

    def get(
        self, eio: int = 4, headers: dict[str, str] | None = None, **params: Any
    ) -> requests.Response:
        query = {"EIO": str(eio), "transport": "polling", **params}
        return requests.get(self.url, params=query, headers=headers, timeout=TIMEOUT)

    def post(
        self,
        body: str | bytes,
        eio: int = 4,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> requests.Response:
        query = {"EIO": str(eio), "transport": "polling", **params}
        data = body.encode() if isinstance(body, str) else body
        return requests.post(self.url, params=query, data=data, headers=headers, timeout=TIMEOUT)

    @property
    def page(self) -> dict[str, str]:
        """Headers of a request from a page of this server (what a JSONP script sends)."""
        return {"Referer": self.url.rsplit("/socket.io/", 1)[0] + "/chat.html"}

    def open(self, eio: int = 4, **params: Any) -> tuple[str, dict[str, Any]]:
        """Polling handshake; returns (sid, handshake data)."""
        response = self.get(eio, **params)
        assert response.status_code == 200, response.text
        text = response.text
        if eio == 3:
            length, _, text = text.partition(":")
            assert int(length) == len(text)
        assert text.startswith("0")
        data: dict[str, Any] = json.loads(text[1:])
        return data["sid"], data

    def ws(self, eio: int = 4, sid: str | None = None, extra: str = "") -> websocket.WebSocket:
        url = f"{self.ws_url}?EIO={eio}&transport=websocket" + (f"&sid={sid}" if sid else "")
        url += extra
        return websocket.create_connection(url, timeout=TIMEOUT)

    def conn(self, sid: str) -> EngineConnection:
        return self.engine.connections[sid]


def spawn_get(e: Engine, sid: str, eio: int = 4, **params: Any) -> gevent.Greenlet[..., Any]:
    """A GET left pending on the server (returns once the server holds it)."""
    greenlet = gevent.spawn(e.get, eio, sid=sid, **params)
    conn = e.conn(sid)
    wait_until(lambda: get_pending(conn), "the GET to be pending")
    return greenlet


def assert_error(response: requests.Response, status: int, code: int, message: str) -> None:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert (
        response.content
        == json.dumps({"code": code, "message": message}, separators=(",", ":")).encode()
    )


def get_pending(conn: EngineConnection) -> bool:
    """True while a long-polling GET of ``conn`` waits for packets."""
    return conn.polling is not None and conn.polling.get_active


def post_pending(conn: EngineConnection) -> bool:
    """True while a long-polling POST of ``conn`` is being read."""
    return conn.polling is not None and conn.polling.post_active
