"""Bounds and deadlines of the HTTP front door; each one and its answer is in docs/security.md."""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["DEFAULT_HTTP_LIMITS", "HTTPLimits"]


@dataclass(frozen=True, slots=True)
class HTTPLimits:
    """What one connection may send and how long it may take.

    Timeouts are seconds for a *whole* phase, not per read (``None``: unbounded): a head or a
    body trickled one byte at a time still ends at its deadline.
    """

    #: the request line ("GET /path?query HTTP/1.1"), without its CRLF; longer: 414
    max_request_line: int = 8192
    #: the whole head (request line and header lines); larger: 400
    max_head_size: int = 65536
    #: header lines in one head; more: 400
    max_headers: int = 100
    #: one chunk-size line of a chunked body, extensions included; longer: 400
    max_chunk_line: int = 4096
    #: the trailer section of a chunked body, in bytes and in lines; more: 400
    max_trailer_size: int = 8192
    max_trailers: int = 32
    #: requests a client may send ahead of their predecessor's response; the one that crosses
    #: it is answered with ``Connection: close`` and the connection closes after it
    max_pipelined: int = 100
    #: bytes of a body the application did not read that are skipped to keep the connection
    #: alive; a larger unread rest closes it
    max_discard: int = 65536
    #: from the end of one response (or the accept) to the end of the next request head
    head_timeout: float | None = 60.0
    #: from the end of the head to the end of the body
    body_timeout: float | None = 60.0
    #: for writing one whole response (a client that stops reading is dropped)
    send_timeout: float | None = 60.0

    def with_timeout(self, timeout: float | None) -> HTTPLimits:
        """These limits with every deadline set to ``timeout`` (the seed's ``http_timeout``)."""
        return replace(self, head_timeout=timeout, body_timeout=timeout, send_timeout=timeout)


DEFAULT_HTTP_LIMITS = HTTPLimits()
