"""HTTP long-polling bodies: reading POSTs within the size limit, encoding GET answers.

Formats (from the Engine.IO specs; the codecs are in :mod:`gsocketio.protocol.engineio`):

* v4: ``\\x1e``-separated text; binary data as ``b<base64>``. A v4 client never POSTs
  ``application/octet-stream``; the reference server refuses such a body (400, session closed).
* v3: the string payload ``<len>:<packet>`` (binary as ``b4<base64>``), or — when the client did
  not ask for ``b64`` and there is binary data — the binary payload
  (``application/octet-stream``), exactly when the reference server uses it. A POST is binary
  when its Content-Type says ``application/octet-stream``.
* JSONP (``j=<n>``): the GET answers ``___eio[<n>]("<payload>");``, the POST is the form field
  ``d=<payload>``; always the string payload.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gsocketio._logging import get_logger
from gsocketio.exceptions import PayloadFormatError
from gsocketio.protocol.engineio import (
    Packet,
    decode_jsonp_body,
    decode_payload_v3,
    decode_payload_v4,
    encode_jsonp,
    encode_payload_v3,
    encode_payload_v4,
)
from gsocketio.protocol.limits import Limits

log = get_logger("gsocketio.engine")

TEXT_TYPE = "text/plain; charset=UTF-8"
BINARY_TYPE = "application/octet-stream"
JSONP_TYPE = "text/javascript; charset=UTF-8"
_SEPARATOR = "\x1e"
_READ_CHUNK = 65536


def read_body(environ: Mapping[str, Any], limit: int) -> bytes | None:
    """The request body, or None when it is larger than ``limit`` (nothing more is read)."""
    stream = environ["wsgi.input"]
    declared = environ.get("CONTENT_LENGTH")
    if declared:
        try:
            length = int(declared)
        except ValueError:
            raise PayloadFormatError(f"bad Content-Length {declared!r}") from None
        if length > limit:
            return None
        data: bytes = stream.read(length) if length > 0 else b""
        return data
    chunks: list[bytes] = []
    total = 0
    while True:  # chunked: bounded by limit + 1 bytes
        chunk = stream.read(min(_READ_CHUNK, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > limit:
            return None
        chunks.append(chunk)


def decode_post(
    body: bytes, *, eio: int, content_type: str, jsonp: bool, limits: Limits
) -> list[Packet]:
    """Decode a POSTed payload; raises a :class:`gsocketio.ProtocolError` subclass."""
    binary = content_type.split(";", 1)[0].strip().lower() == BINARY_TYPE
    if jsonp:
        text = decode_jsonp_body(body, limits=limits)
        return (
            decode_payload_v4(text, limits=limits)
            if eio == 4
            else decode_payload_v3(text, limits=limits)
        )
    if eio == 4:
        if binary:
            raise PayloadFormatError("binary POST body on Engine.IO 4")
        return decode_payload_v4(body, limits=limits)
    return decode_payload_v3(body, limits=limits, binary=binary)


def _v4_payload(packets: Sequence[Packet]) -> str:
    try:
        return encode_payload_v4(packets)
    except ValueError:
        # Text with \x1e cannot be framed in a v4 polling payload (the spec's separator).
        kept = [p for p in packets if not (isinstance(p.data, str) and _SEPARATOR in p.data)]
        log.error(
            "dropped %d message(s) containing \\x1e (not sendable over v4 polling)",
            len(packets) - len(kept),
        )
        return encode_payload_v4(kept)


def encode_poll(
    packets: Sequence[Packet], *, eio: int, b64: bool, jsonp_index: int | None
) -> tuple[bytes, str]:
    """The body and Content-Type answering a GET with ``packets``."""
    payload: str | bytes
    if eio == 4:
        payload = _v4_payload(packets)
    else:
        binary = (
            not b64
            and jsonp_index is None
            and any(isinstance(packet.data, bytes) for packet in packets)
        )
        payload = encode_payload_v3(packets, binary=binary)
    if isinstance(payload, bytes):
        return payload, BINARY_TYPE
    if jsonp_index is not None:
        return encode_jsonp(payload, jsonp_index).encode(), JSONP_TYPE
    return payload.encode(), TEXT_TYPE
