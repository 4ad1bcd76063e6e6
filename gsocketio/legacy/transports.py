"""The five 0.9 transports: how packets travel over HTTP requests and WebSockets (gevent I/O).

Each function serves one ``/<resource>/1/<transport>/<sid>`` request for a known
:class:`~gsocketio.legacy.connection.LegacyConnection` (:func:`answer_without_session` for an
unknown sid), as the 0.9 Node server did: **xhr-polling** ``GET`` waits up to the polling
duration for the queued packets (``\\ufffd``-framed when several) or ``8::`` and ``POST``
answers ``1``; **jsonp-polling** wraps that ``GET`` answer as ``io.j[<i>]("...");`` and takes
form-encoded ``d=<JSON string>`` POSTs; **htmlfile** keeps one chunked ``GET`` open (a prologue,
then one ``<script>`` per push) and takes POSTs; **websocket** and **flashsocket** carry one
packet per text frame both ways and end the session with the socket. A ``POST`` over
``max_http_buffer_size`` gets ``413``, a malformed one ``400``, and either closes the session.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import gevent

from gsocketio._logging import get_logger
from gsocketio.engine.polling import read_body
from gsocketio.exceptions import ProtocolError, WebSocketError, WebSocketHandshakeError
from gsocketio.legacy.connection import LegacyConnection, Receiver
from gsocketio.legacy.http import (
    HTML,
    JAVASCRIPT,
    TEXT,
    Headers,
    StartResponse,
    digits_param,
    respond,
)
from gsocketio.protocol.legacy import encode_payload
from gsocketio.protocol.legacy_http import (
    decode_jsonp_body,
    encode_htmlfile_prologue,
    encode_htmlfile_script,
    encode_jsonp,
)
from gsocketio.protocol.limits import Limits
from gsocketio.protocol.reasons import DisconnectReason
from gsocketio.websocket.connection import WebSocket, accept_websocket

__all__ = [
    "ALL_TRANSPORTS",
    "NOT_HANDSHAKEN",
    "TRANSPORT_NOT_SUPPORTED",
    "Request",
    "answer_without_session",
    "serve",
]

log = get_logger("gsocketio.legacy")

ALL_TRANSPORTS: Final = ("websocket", "flashsocket", "htmlfile", "xhr-polling", "jsonp-polling")
"""Every transport, in the order the 0.9 server advertised them."""
WEBSOCKETS: Final = frozenset({"websocket", "flashsocket"})
NOT_HANDSHAKEN: Final = "7:::1+0"
"""Error "client not handshaken", advice "reconnect": the 0.9 answer to an unknown sid."""
TRANSPORT_NOT_SUPPORTED: Final = "7:::0"
NOOP: Final = "8::"
POST_REPLY: Final = "1"


@dataclass(slots=True)
class Request:
    """One transport request, parsed by the endpoint."""

    transport: str
    environ: dict[str, Any]
    start_response: StartResponse
    headers: Headers  # CORS headers to answer with
    query: Mapping[str, str]


def serve(conn: LegacyConnection, req: Request, *, limits: Limits, polling_duration: float) -> Any:
    """Serve a request for a known session (the method was checked by the endpoint)."""
    method = req.environ.get("REQUEST_METHOD", "GET")
    if req.transport in WEBSOCKETS:
        return _websocket(conn, req, limits.max_payload)
    if method == "POST":
        return _post(conn, req, limits)
    if req.transport == "htmlfile":
        return _htmlfile(conn, req)
    return _poll(conn, req, polling_duration)


def _polling_reply(req: Request, payload: str) -> list[bytes]:
    if req.transport == "jsonp-polling":
        index = digits_param(req.query, "i") or 0
        req.headers.append(("X-XSS-Protection", "0"))
        return respond(
            req.start_response, 200, req.headers, encode_jsonp(payload, index), JAVASCRIPT
        )
    return respond(req.start_response, 200, req.headers, payload, TEXT)


def answer_without_session(req: Request, packet: str, max_payload: int) -> Any:
    """Deliver one error packet in the framing of ``req.transport`` (unknown sid), as the 0.9
    server did: polling replies, an htmlfile script, or a WebSocket frame then close."""
    method = req.environ.get("REQUEST_METHOD", "GET")
    if req.transport in WEBSOCKETS and method == "GET":
        try:
            ws = accept_websocket(req.environ, max_message_size=max_payload)
        except WebSocketHandshakeError as exc:
            log.info("legacy websocket handshake refused: %s", exc)
            return respond(req.start_response, 400, req.headers, b"Bad Request\n")
        try:
            ws.send(packet)
            ws.close()
        except WebSocketError as exc:
            log.debug("error packet not delivered: %s", exc)
        return []
    if req.transport == "htmlfile" and method == "GET":
        body = encode_htmlfile_prologue() + encode_htmlfile_script(packet)
        return respond(req.start_response, 200, req.headers, body, HTML)
    if method == "POST":
        return respond(req.start_response, 200, req.headers, packet, TEXT)
    return _polling_reply(req, packet)


# --- polling ---------------------------------------------------------------------------------


def _poll(conn: LegacyConnection, req: Request, duration: float) -> list[bytes]:
    receiver = conn.attach()
    try:
        items = conn.wait(receiver, duration)
    finally:
        conn.detach(receiver)
    if items:
        payload = encode_payload(items)
    elif conn.closed:
        payload = NOT_HANDSHAKEN  # it timed out or was dropped: let the client start over
    else:
        payload = NOOP
    return _polling_reply(req, payload)


def _post(conn: LegacyConnection, req: Request, limits: Limits) -> list[bytes]:
    start_response, headers = req.start_response, req.headers
    try:
        body = read_body(req.environ, limits.max_payload)
    except ProtocolError as exc:  # a bad Content-Length
        conn.fail(DisconnectReason.PARSE_ERROR, str(exc))
        return respond(start_response, 400, headers, b"Bad Request\n")
    except OSError as exc:
        conn.fail(DisconnectReason.TRANSPORT_ERROR, f"POST body not received: {exc}")
        return respond(start_response, 400, headers, b"Bad Request\n")
    if body is None:
        conn.fail(DisconnectReason.TRANSPORT_ERROR, f"POST body over {limits.max_payload} bytes")
        headers.append(("Connection", "close"))
        return respond(start_response, 413, headers, b"Payload Too Large\n")
    try:
        if req.transport == "jsonp-polling":
            text = decode_jsonp_body(body, limits=limits)
        else:
            text = body.decode("utf-8")
    except (ProtocolError, UnicodeDecodeError) as exc:
        conn.fail(DisconnectReason.PARSE_ERROR, f"bad POST body: {exc}")
        return respond(start_response, 400, headers, b"Bad Request\n")
    if not conn.receive_payload(text):
        return respond(start_response, 400, headers, b"Bad Request\n")
    return respond(start_response, 200, headers, POST_REPLY, TEXT)


# --- htmlfile --------------------------------------------------------------------------------


def _htmlfile(conn: LegacyConnection, req: Request) -> Iterator[bytes]:
    req.headers.append(("Content-Type", HTML))
    req.start_response("200 OK", req.headers)  # no Content-Length: pywsgi streams it chunked
    return _stream(conn)


def _stream(conn: LegacyConnection) -> Iterator[bytes]:
    """The htmlfile body; attaching happens on first iteration so ``close()`` always detaches
    (a generator that never started runs no ``finally``)."""
    receiver = conn.attach()
    try:
        yield encode_htmlfile_prologue().encode()
        while True:
            items = conn.wait(receiver, None)
            if items:
                yield encode_htmlfile_script(encode_payload(items)).encode()
            if not conn.is_current(receiver) or (conn.closed and not conn.session.has_outgoing()):
                return
    finally:
        conn.detach(receiver)


# --- websocket -------------------------------------------------------------------------------


def _websocket(conn: LegacyConnection, req: Request, max_payload: int) -> list[bytes]:
    if req.environ.get("REQUEST_METHOD", "GET") != "GET":
        return respond(req.start_response, 400, req.headers, b"Bad Request\n")
    try:
        ws = accept_websocket(req.environ, max_message_size=max_payload)
    except WebSocketHandshakeError as exc:
        log.info("%s: legacy websocket handshake refused: %s", conn.sid, exc)
        return respond(req.start_response, 400, req.headers, b"Bad Request\n")
    receiver = conn.attach()
    receiver.abort = ws.abort
    writer = gevent.spawn(_write_loop, conn, receiver, ws)
    try:
        while conn.is_current(receiver) and not conn.closed:
            message = ws.receive()
            if message is None:
                break
            if isinstance(message, bytes):
                conn.fail(
                    DisconnectReason.PARSE_ERROR, "binary frame (the 0.9 protocol is text only)"
                )
                break
            if not conn.receive_text(message):
                break
    finally:
        if conn.closed:  # closed by us or the client: let the writer deliver what is left
            receiver.set()
            writer.join(timeout=ws.close_timeout)
        conn.detach(receiver, transport_gone=True)
        receiver.set()
        writer.join(timeout=ws.close_timeout)
        if not writer.dead:
            writer.kill(block=True, timeout=1)
    return []


def _write_loop(conn: LegacyConnection, receiver: Receiver, ws: WebSocket) -> None:
    """The only writer of ``ws``: one packet per frame, until the session or socket ends."""
    try:
        while True:
            items = conn.wait(receiver, None)
            if items and not ws.send_nowait(items):
                ws.flush()
            if not conn.is_current(receiver) or (conn.closed and not conn.session.has_outgoing()):
                return
    except WebSocketError as exc:
        log.debug("%s: websocket write failed: %s", conn.sid, exc)
        if conn.is_current(receiver):
            conn.detach(receiver, transport_gone=True)
    finally:
        try:
            ws.close()
        except WebSocketError as exc:
            log.debug("%s: closing the websocket failed: %s", conn.sid, exc)
