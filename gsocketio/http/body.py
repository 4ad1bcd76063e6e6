"""``wsgi.input``: a request body read on demand, bounded by its framing and one deadline.

Nothing is read before the application asks (so ``Expect: 100-continue`` is answered only then,
and a refused upload is never received), and the whole body must arrive within
``body_timeout`` of the first read: a client trickling a byte every second cannot hold the
request open. Failures raise :class:`gsocketio.exceptions.HTTPBodyError` (an ``OSError``) and
mark the connection for closing; after the response the server skips a small unread rest
(:meth:`RequestBody.discard`) to keep the connection alive.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Protocol

from gsocketio.exceptions import HTTPBodyError
from gsocketio.http.chunked import ChunkedDecoder
from gsocketio.http.limits import HTTPLimits

__all__ = ["BodySource", "RequestBody"]

_READ_SIZE = 65536


class BodySource(Protocol):
    """What a body needs from its connection."""

    buf: bytearray

    def fill(self, deadline: float | None) -> bool:
        """Append received bytes to ``buf``; False on EOF; ``TimeoutError`` at ``deadline``."""
        ...

    def send_continue(self) -> None:
        """Send ``100 Continue``."""
        ...


class RequestBody:
    """The body of one request: ``Content-Length`` bytes, chunked, or empty."""

    __slots__ = (
        "_chunked",
        "_continue",
        "_deadline",
        "_decoded",
        "_limits",
        "_remaining",
        "_src",
        "failed",
    )
    _src: BodySource | None

    def __init__(
        self,
        source: BodySource,
        limits: HTTPLimits,
        length: int | None,
        chunked: bool,
        expect_continue: bool,
    ) -> None:
        self._limits = limits
        self._remaining = 0 if chunked else (length or 0)
        self._chunked = ChunkedDecoder(limits) if chunked else None
        self._decoded = bytearray()
        self._continue = expect_continue
        self._deadline: float | None = None
        self._src = source if (chunked or self._remaining) else None
        self.failed = False  # a read raised HTTPBodyError: the connection must close

    @property
    def done(self) -> bool:
        """True once the whole body was received (read or not)."""
        if self._chunked is not None:
            return self._chunked.done
        return self._remaining == 0

    @property
    def unread(self) -> int | None:
        """Bytes of the body still to receive, None when unknown (chunked)."""
        return None if self._chunked is not None and not self._chunked.done else self._remaining

    @property
    def continue_pending(self) -> bool:
        """True while the client may still wait for a ``100 Continue`` before sending."""
        return self._continue

    # --- the WSGI input stream ---------------------------------------------------------------

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self._read_all()
        if size == 0:
            return b""
        src = self._src
        if src is not None and self._chunked is None and not self._decoded:
            # A Content-Length body whose asked-for part is received already (a polling
            # POST, read with its length): what _take would return, without its loop.
            # tests/http/test_framing.py pins it to _take.
            n = size if size < self._remaining else self._remaining
            buf = src.buf
            if len(buf) >= n:
                piece = bytes(buf[:n])
                del buf[:n]
                self._remaining -= n
                if self._remaining == 0:
                    self._src = None
                return piece
        return self._take(size, stop_at_newline=False)

    def readline(self, size: int | None = -1) -> bytes:
        return self._take(size if size is not None and size >= 0 else -1, stop_at_newline=True)

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                return lines

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def _read_all(self) -> bytes:
        parts: list[bytes] = []
        while True:
            data = self._take(_READ_SIZE, stop_at_newline=False)
            if not data:
                return b"".join(parts)
            parts.append(data)

    # --- receiving -----------------------------------------------------------------------------

    def _take(self, size: int, *, stop_at_newline: bool) -> bytes:
        """Up to ``size`` bytes (-1: no limit), all of them unless the body ends first."""
        out = bytearray()
        while size < 0 or len(out) < size:
            want = _READ_SIZE if size < 0 else size - len(out)
            try:
                piece = self._next(want)
            except HTTPBodyError:
                self.failed = True
                raise
            if not piece:
                break
            if stop_at_newline:
                newline = piece.find(b"\n")
                if newline >= 0:
                    out += piece[: newline + 1]
                    self._unread(piece[newline + 1 :])
                    break
            out += piece
        return bytes(out)

    def _unread(self, data: bytes | bytearray) -> None:
        if data:
            self._decoded[:0] = data

    def _next(self, want: int) -> bytes:
        """Up to ``want`` bytes (at least one unless the body ended), blocking for them."""
        decoded = self._decoded
        if decoded:
            piece = bytes(decoded[:want])
            del decoded[:want]
            return piece
        src = self._src
        if src is None:
            return b""
        while True:
            if self._chunked is not None:
                self._chunked.decode(src.buf, decoded, want)
                if decoded:
                    piece = bytes(decoded)
                    decoded.clear()
                    return piece
                if self._chunked.done:
                    self._src = None
                    return b""
            else:
                remaining = self._remaining
                if remaining == 0:
                    self._src = None
                    return b""
                buf = src.buf
                if buf:
                    n = min(remaining, want, len(buf))
                    piece = bytes(buf[:n])
                    del buf[:n]
                    self._remaining = remaining - n
                    return piece
            self._receive(src)

    def _receive(self, src: BodySource) -> None:
        if self._continue:
            self._continue = False
            src.send_continue()
        if self._deadline is None and self._limits.body_timeout is not None:
            self._deadline = time.monotonic() + self._limits.body_timeout
        try:
            received = src.fill(self._deadline)
        except TimeoutError:
            raise HTTPBodyError("request body not received within body_timeout") from None
        except OSError as exc:  # reset by the client
            raise HTTPBodyError(f"request body not received: {exc}") from exc
        if not received:
            raise HTTPBodyError("the client closed the connection before the body ended")

    def discard(self, limit: int) -> bool:
        """Skip the unread rest if at most ``limit`` bytes; True when the body was consumed."""
        if self.done:
            return True
        unread = self.unread
        if self._continue or (unread is not None and unread > limit):
            return False  # never asked for (100-continue unanswered), or too big to skip
        skipped = 0
        try:
            while skipped <= limit:
                piece = self._next(_READ_SIZE)
                if not piece:
                    return True
                skipped += len(piece)
        except HTTPBodyError:
            self.failed = True
        return False
