"""Sans-I/O decoder of ``Transfer-Encoding: chunked`` request bodies, with bounds (RFC 9112 7.1).

The server frames bodies itself rather than feeding them to llhttp: that keeps a body from
ever being mistaken for the next head, and puts a bound on what llhttp would read without one
(chunk extensions, trailer fields: an endless trailer section was read without limit by the
previous server). Every chunk-size line is at most ``max_chunk_line`` bytes, sizes are 1-16 hex
digits, every CRLF is exactly CRLF, and the trailer section (discarded: WSGI has no place for
it) is bounded in bytes and lines, obs-fold refused.
"""

from __future__ import annotations

import re

from gsocketio.exceptions import HTTPBodyError
from gsocketio.http.limits import HTTPLimits

__all__ = ["ChunkedDecoder"]

_SIZE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
# chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ): no CTLs but HTAB
_EXTENSION = re.compile(rb"[ \t]*(;[\x09\x20-\x7e\x80-\xff]*)?")
_FIELD = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\x09\x20-\x7e\x80-\xff]*")


class ChunkedDecoder:
    """Decodes one chunked body from the front of a buffer; :attr:`done` once it ended."""

    __slots__ = ("_limits", "_remaining", "_state", "_trailer_bytes", "_trailers")

    def __init__(self, limits: HTTPLimits) -> None:
        self._limits = limits
        self._state = _SIZE
        self._remaining = 0
        self._trailer_bytes = 0
        self._trailers = 0

    @property
    def done(self) -> bool:
        return self._state == _DONE

    def decode(self, buf: bytearray, out: bytearray, want: int) -> None:
        """Move framing and up to ``want`` body bytes from ``buf`` (consumed) into ``out``.

        Stops when ``want`` bytes were produced, the body ended, or ``buf`` needs more
        input. Raises :class:`HTTPBodyError` for broken framing or a crossed bound.
        """
        limits = self._limits
        while buf:
            state = self._state
            if state == _DATA:
                n = min(self._remaining, len(buf), want)
                if n <= 0:
                    return
                out += buf[:n]
                del buf[:n]
                want -= n
                self._remaining -= n
                if self._remaining == 0:
                    self._state = _DATA_END
            elif state == _SIZE:
                end = buf.find(b"\r\n", 0, limits.max_chunk_line + 2)
                if end < 0:
                    if len(buf) > limits.max_chunk_line:
                        raise HTTPBodyError("chunk-size line too long")
                    return
                line = bytes(buf[:end])
                del buf[: end + 2]
                self._size_line(line)
            elif state == _DATA_END:
                if len(buf) < 2:
                    if buf != b"\r":
                        raise HTTPBodyError("chunk data not followed by CRLF")
                    return
                if buf[:2] != b"\r\n":
                    raise HTTPBodyError("chunk data not followed by CRLF")
                del buf[:2]
                self._state = _SIZE
            elif state == _TRAILER:
                if not self._trailer_line(buf):
                    return
            else:
                return

    def _size_line(self, line: bytes) -> None:
        size = _HEX.match(line)
        if size is None or _EXTENSION.fullmatch(line, size.end()) is None:
            raise HTTPBodyError(f"invalid chunk-size line {line[:40]!r}")
        self._remaining = int(size.group(), 16)
        self._state = _DATA if self._remaining else _TRAILER

    def _trailer_line(self, buf: bytearray) -> bool:
        """Consume one trailer line; False when it is not complete yet."""
        limits = self._limits
        room = limits.max_trailer_size - self._trailer_bytes
        end = buf.find(b"\r\n", 0, room + 2)
        if end < 0:
            if len(buf) > room:
                raise HTTPBodyError("trailer section too large")
            return False
        self._trailer_bytes += end + 2
        if self._trailer_bytes > limits.max_trailer_size:
            raise HTTPBodyError("trailer section too large")
        line = bytes(buf[:end])
        del buf[: end + 2]
        if not line:
            self._state = _DONE
            return True
        self._trailers += 1
        if self._trailers > limits.max_trailers:
            raise HTTPBodyError("too many trailer fields")
        if _FIELD.fullmatch(line) is None:  # obs-fold (leading space), no colon, bad token
            raise HTTPBodyError(f"invalid trailer field {line[:40]!r}")
        return True
