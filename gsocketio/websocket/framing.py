"""Fast paths around websockets' sans-I/O protocol for the frames almost every message uses:
:class:`FrameReader` cuts complete frames out of the byte stream and decodes the usual one (an
unfragmented, masked TEXT or BINARY frame without RSV bits) itself, handing every other frame
(control, fragments, anything invalid or oversized) to the protocol *whole*, and every byte once
an extension is negotiated or the connection closes; :func:`frame_message` frames one outgoing
server message; :class:`FrameCache` holds the frames of one flush's text messages. Validation is
never duplicated (measurements: docs/benchmarks.md).
"""

from __future__ import annotations

import codecs
import struct
from typing import Final, Protocol

from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import Protocol as WSProtocol
from websockets.protocol import State

try:  # the C speedup ships with websockets' binary wheels
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - a pure-Python build of websockets
    from websockets.utils import apply_mask

__all__ = ["SEEN", "SHARE_FROM", "FrameCache", "FrameReader", "frame_message"]

_FIN_TEXT: Final = 0x81  # first header byte: FIN, no RSV bits, opcode
_FIN_BINARY: Final = 0x82
_TEXT: Final = Opcode.TEXT.value
_BINARY: Final = Opcode.BINARY.value
_CONT: Final = Opcode.CONT.value
_HEADER_16: Final = struct.Struct("!BBH").pack
_HEADER_64: Final = struct.Struct("!BBQ").pack
_utf8_decoder = codecs.getincrementaldecoder("utf-8")
_VIEW_FROM: Final = 4096


class _Chunks(Protocol):
    def append(self, chunk: bytes, /) -> None: ...


def frame_message(out: _Chunks, data: str | bytes) -> None:
    """Append the unmasked frame(s) of one message to ``out`` (header and payload)."""
    if isinstance(data, str):
        payload = data.encode()
        head = _FIN_TEXT
    else:
        payload = data if type(data) is bytes else bytes(data)
        head = _FIN_BINARY
    size = len(payload)
    if size < 126:
        out.append(bytes((head, size)) + payload)
        return
    if size < 65536:
        out.append(_HEADER_16(head, 126, size))
    else:
        out.append(_HEADER_64(head, 127, size))
    out.append(payload)


class FrameCache(dict[int, tuple[str, list[bytes]]]):
    """The frames of text messages by the identity of the message, for one flush (filled by
    :meth:`gsocketio.websocket.WebSocket.send_nowait`). Each entry holds its message, so no
    other object can take that id while the cache lives; except :data:`SEEN`, which a message
    of :data:`SHARE_FROM` characters or more leaves at its first sighting: such a message is
    framed and cached from its second one on, so the one message of each connection in a
    flush (an echo, an ack) is not kept until the flush ends (docs/benchmarks.md, "Large
    payloads"). A marker holds nothing and has no frames (a cached message always has; it is
    told by that, not by identity: mypyc boxes a Final tuple anew at each use); another object
    may take its id, and is then cached (a miss, never a wrong frame)."""

    __slots__ = ()


SHARE_FROM: Final = 4096
SEEN: Final[tuple[str, list[bytes]]] = ("", [])


class FrameReader:
    """Turns received bytes into complete messages (``str`` or ``bytes``) appended to
    ``messages``, which the reader takes in order and clears."""

    __slots__ = (
        "_binary_parts",
        "_buffer",
        "_decoder",
        "_fragmented",
        "_max_size",
        "_text_parts",
        "messages",
        "protocol",
    )

    def __init__(self, protocol: WSProtocol, max_size: int) -> None:
        self.protocol = protocol
        # A list (the reader takes them by index): an empty list costs 56 bytes, an empty
        # deque 760, and an idle connection has an empty one (#14).
        self.messages: list[str | bytes] = []
        self._max_size = max_size
        self._buffer = bytearray()  # the start of a frame not completely received yet
        self._fragmented = False  # a fragmented message is going through the protocol
        self._text_parts: list[str] = []
        self._binary_parts: list[bytes] = []
        self._decoder: codecs.IncrementalDecoder | None = None

    def feed(self, data: bytes) -> None:
        """Take bytes from the socket; ``b""`` is EOF."""
        p = self.protocol
        if not data:
            p.receive_eof()
            self._take_events()
        elif p._state is State.OPEN and not p.extensions:  # _state: no property call
            self._split(data)
        else:
            p.receive_data(data)
            self._take_events()

    def _split(self, data: bytes) -> None:
        buffer = self._buffer
        buffered = bool(buffer)
        buf: bytes | bytearray
        if buffered:
            buffer += data
            buf = buffer
        else:
            buf = data
        end = len(buf)
        pos = 0
        messages = self.messages
        while end - pos >= 2:
            head = buf[pos]
            size = buf[pos + 1]
            masked = size & 0x80
            size &= 0x7F
            start = pos + 2
            if size == 126:
                if end - start < 2:
                    break
                size = int.from_bytes(buf[start : start + 2], "big")
                start += 2
            elif size == 127:
                if end - start < 8:
                    break
                size = int.from_bytes(buf[start : start + 8], "big")
                start += 8
            if size > self._max_size:
                pos = self._to_protocol(buf, pos, end)  # fails the connection (1009)
                break
            stop = start + 4 + size if masked else start + size
            if stop > end:
                break
            if masked and not self._fragmented and head in (_FIN_TEXT, _FIN_BINARY):
                # a large payload is unmasked through a view, not a copy (apply_mask takes it)
                body = (
                    buf[start + 4 : stop]
                    if size < _VIEW_FROM
                    else memoryview(buf)[start + 4 : stop]
                )
                payload = apply_mask(body, buf[start : start + 4])
                del body  # a view of the buffer would keep it from resizing
                if head == _FIN_BINARY:
                    messages.append(payload)
                else:
                    try:
                        messages.append(payload.decode())
                    except UnicodeDecodeError as exc:
                        self._fail_invalid_utf8(exc)
                        pos = end  # the failed protocol discards all further input
                        break
                pos = stop
                continue
            opcode = head & 0x0F
            if opcode in (_TEXT, _BINARY):
                self._fragmented = not head & 0x80
            elif opcode == _CONT and head & 0x80:
                self._fragmented = False
            self._to_protocol(buf, pos, stop)
            pos = stop
            if self.protocol.state is not State.OPEN:  # the rest is the protocol's to discard
                pos = self._to_protocol(buf, pos, end)
                break
        if buffered:
            del buffer[:pos]
        elif pos < end:
            buffer += buf[pos:]

    def _to_protocol(self, buf: bytes | bytearray, start: int, stop: int) -> int:
        if start < stop:
            self.protocol.receive_data(bytes(buf[start:stop]))
            self._take_events()
        return stop

    def _take_events(self) -> None:
        """Queue the messages the protocol parsed (fragmented ones are joined here)."""
        for frame in self.protocol.events_received():
            if not isinstance(frame, Frame):  # a base Protocol only yields frames
                continue
            opcode = frame.opcode
            if opcode is Opcode.TEXT:
                if frame.fin:
                    try:
                        self.messages.append(bytes(frame.data).decode())
                    except UnicodeDecodeError as exc:
                        self._fail_invalid_utf8(exc)
                        break
                    continue
                self._decoder = _utf8_decoder()
                self._text_parts = []
            elif opcode is Opcode.BINARY:
                if frame.fin:
                    self.messages.append(bytes(frame.data))
                    continue
                self._decoder = None
                self._binary_parts = []
            elif opcode is not Opcode.CONT:
                continue  # PING (the protocol queued the PONG), PONG, CLOSE
            if self._decoder is not None:
                # Decode fragment by fragment so invalid UTF-8 fails before the message ends.
                try:
                    self._text_parts.append(self._decoder.decode(bytes(frame.data), frame.fin))
                except UnicodeDecodeError as exc:
                    self._fail_invalid_utf8(exc)
                    break
                if frame.fin:
                    self.messages.append("".join(self._text_parts))
                    self._text_parts = []
                    self._decoder = None
            else:
                self._binary_parts.append(bytes(frame.data))
                if frame.fin:
                    self.messages.append(b"".join(self._binary_parts))
                    self._binary_parts = []

    def _fail_invalid_utf8(self, exc: UnicodeDecodeError) -> None:
        self._text_parts = []
        self._decoder = None
        self.protocol.fail(CloseCode.INVALID_DATA, f"invalid UTF-8 at position {exc.start}")
