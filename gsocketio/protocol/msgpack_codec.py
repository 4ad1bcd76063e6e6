"""A strict msgpack codec, stdlib only, speaking the dialect of notepack.io 2.2 (npm).

notepack.io is what ``socket.io-msgpack-parser`` 3.0.2 encodes with, in Node and in the
browser bundle. Beyond the msgpack spec's basic types it uses three extension values, all of
extension type 0: ``undefined`` (fixext 1), ``Date`` (fixext 8: milliseconds since the epoch,
big-endian signed) and, from Node, a non-Buffer ``ArrayBuffer``/typed array (ext 8/16/32 with
the raw bytes). They decode to ``None``, an aware UTC :class:`~datetime.datetime` and ``bytes``;
:func:`packb` writes ``datetime`` as a Date (naive ones taken as UTC) and never writes the
others (``bytes`` goes out as msgpack bin, which both notepack builds decode to binary).

Decoding is written for hostile input: every length is checked against the bytes left before
anything is sliced or allocated (an array header announcing 2**32 items in five bytes is
refused at once), nesting is bounded, map keys must be strings (a JavaScript object's are), and
unknown extension types, the reserved byte 0xc1, invalid UTF-8 and trailing bytes are refused
with :class:`~gsocketio.exceptions.InvalidMsgpackError`.
"""

from __future__ import annotations

import struct
import sys
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from gsocketio.exceptions import InvalidMsgpackError, NestingTooDeepError

__all__ = ["UNDEFINED", "packb", "unpackb"]


class _Undefined:
    """JavaScript's ``undefined`` where it must be told from ``null`` (see :func:`unpackb`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Final = _Undefined()

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_BINARY: Final = (bytes, bytearray, memoryview)
_B: Final = struct.Struct(">B")
_H: Final = struct.Struct(">H")
_I: Final = struct.Struct(">I")
_Q: Final = struct.Struct(">Q")
_b: Final = struct.Struct(">b")
_h: Final = struct.Struct(">h")
_i: Final = struct.Struct(">i")
_q: Final = struct.Struct(">q")
_f: Final = struct.Struct(">f")
_d: Final = struct.Struct(">d")


# --- encoding --------------------------------------------------------------------------------


def packb(obj: Any) -> bytes:
    """Encode ``obj`` (None, bool, int, float, str, bytes-like, list/tuple, dict with str keys,
    datetime); anything else raises ``TypeError``, an int outside 64 bits ``OverflowError``."""
    out = bytearray()
    # the nesting bound: pure Python's RecursionError, also when compiled (no C stack overflow)
    _pack(obj, out, sys.getrecursionlimit())
    return bytes(out)


def _header(out: bytearray, size: int, fix: int | None, fix_limit: int, codes: bytes) -> None:
    """Write a length header: a fix form below ``fix_limit``, else the 8/16/32-bit code."""
    if fix is not None and size < fix_limit:
        out.append(fix | size)
    elif codes[0] and size < 0x100:
        out.append(codes[0])
        out.append(size)
    elif size < 0x10000:
        out.append(codes[1])
        out += _H.pack(size)
    elif size < 0x100000000:
        out.append(codes[2])
        out += _I.pack(size)
    else:
        raise OverflowError("msgpack cannot carry more than 2**32 - 1 items or bytes")


def _pack_int(value: int, out: bytearray) -> None:
    if value >= 0:
        if value < 0x80:
            out.append(value)
        elif value < 0x100:
            out += b"\xcc" + _B.pack(value)
        elif value < 0x10000:
            out += b"\xcd" + _H.pack(value)
        elif value < 0x100000000:
            out += b"\xce" + _I.pack(value)
        elif value < 0x10000000000000000:
            out += b"\xcf" + _Q.pack(value)
        else:
            raise OverflowError(f"integer {value} does not fit msgpack's 64 bits")
    elif value >= -0x20:
        out.append(value & 0xFF)
    elif value >= -0x80:
        out += b"\xd0" + _b.pack(value)
    elif value >= -0x8000:
        out += b"\xd1" + _h.pack(value)
    elif value >= -0x80000000:
        out += b"\xd2" + _i.pack(value)
    elif value >= -0x8000000000000000:
        out += b"\xd3" + _q.pack(value)
    else:
        raise OverflowError(f"integer {value} does not fit msgpack's 64 bits")


def _pack(obj: Any, out: bytearray, budget: int) -> None:
    kind = type(obj)
    # The common small forms are written inline: a call per header doubled the cost.
    if kind is str:
        raw = obj.encode("utf-8")
        if len(raw) < 32:
            out.append(0xA0 | len(raw))
        else:
            _header(out, len(raw), None, 0, b"\xd9\xda\xdb")
        out += raw
    elif obj is None:
        out.append(0xC0)
    elif kind is bool:
        out.append(0xC3 if obj else 0xC2)
    elif kind is int:
        if 0 <= obj < 0x80:
            out.append(obj)
        else:
            _pack_int(obj, out)
    elif kind is float:
        out.append(0xCB)
        out += _d.pack(obj)
    elif kind is list or kind is tuple:
        if budget <= 0:
            raise RecursionError("data nested deeper than the recursion limit")
        if len(obj) < 16:
            out.append(0x90 | len(obj))
        else:
            _header(out, len(obj), None, 0, b"\x00\xdc\xdd")
        for item in obj:
            _pack(item, out, budget - 1)
    elif kind is dict:
        if budget <= 0:
            raise RecursionError("data nested deeper than the recursion limit")
        if len(obj) < 16:
            out.append(0x80 | len(obj))
        else:
            _header(out, len(obj), None, 0, b"\x00\xde\xdf")
        for key, value in obj.items():
            if type(key) is not str and not isinstance(key, str):
                raise TypeError(f"msgpack map keys must be str, not {type(key).__name__}")
            _pack(str(key), out, budget)
            _pack(value, out, budget - 1)
    elif isinstance(obj, _BINARY):
        raw = obj if kind is bytes else bytes(obj)
        _header(out, len(raw), None, 0, b"\xc4\xc5\xc6")
        out += raw
    else:
        _pack_subclass(obj, out, budget)


def _pack_subclass(obj: Any, out: bytearray, budget: int) -> None:
    """Subclasses of the basic types (``IntEnum``, ``StrEnum``, ...) and datetimes."""
    if isinstance(obj, datetime):
        moment = obj if obj.tzinfo is not None else obj.replace(tzinfo=UTC)
        millis = (moment - _EPOCH) // timedelta(milliseconds=1)
        out += b"\xd7\x00" + _q.pack(millis)
    elif isinstance(obj, bool):
        out.append(0xC3 if obj else 0xC2)
    elif isinstance(obj, int):
        _pack_int(int(obj), out)
    elif isinstance(obj, float):
        _pack(float(obj), out, budget)
    elif isinstance(obj, str):
        _pack(str(obj), out, budget)
    elif isinstance(obj, list | tuple):
        _pack(list(obj), out, budget)
    elif isinstance(obj, dict):
        _pack(dict(obj), out, budget)
    else:
        raise TypeError(f"Object of type {type(obj).__name__} cannot be encoded as msgpack")


# --- decoding --------------------------------------------------------------------------------


def unpackb(data: bytes, *, max_depth: int = 100, top_undefined: Any = None) -> Any:
    """Decode exactly one msgpack value filling all of ``data``.

    Arrays and maps nested deeper than ``max_depth`` raise
    :class:`~gsocketio.exceptions.NestingTooDeepError`; malformed input
    :class:`~gsocketio.exceptions.InvalidMsgpackError`. ``undefined`` decodes to None, except
    as a direct value of a top-level map, where it decodes to ``top_undefined`` (pass
    :data:`UNDEFINED` to tell "key present, undefined" from ``null``, as a JavaScript reader
    would).
    """
    value, pos = _unpack(data, 0, max_depth, top_undefined)
    if pos != len(data):
        raise InvalidMsgpackError(f"{len(data) - pos} bytes after the msgpack value")
    return value


def _truncated() -> InvalidMsgpackError:
    return InvalidMsgpackError("truncated msgpack value")


def _unpack(data: bytes, pos: int, depth: int, undefined: Any = None) -> tuple[Any, int]:
    """One value at ``pos``: (value, position after it). ``depth`` is what nesting is left."""
    size = len(data)
    if pos >= size:
        raise _truncated()
    code = data[pos]
    pos += 1
    if code <= 0x7F:
        return code, pos
    if 0xA0 <= code <= 0xBF:  # fixstr, inline: the most frequent value after small ints
        end = pos + (code & 0x1F)
        if end <= size:
            try:
                return data[pos:end].decode("utf-8"), end
            except UnicodeDecodeError:
                pass  # _str raises the precise error
        return _str(data, pos, code & 0x1F)
    if code >= 0xE0:
        return code - 0x100, pos
    if 0x90 <= code <= 0x9F:
        return _array(data, pos, code & 0x0F, depth)
    if 0x80 <= code <= 0x8F:
        return _map(data, pos, code & 0x0F, depth, undefined)
    if code == 0xC0:
        return None, pos
    if code == 0xC2:
        return False, pos
    if code == 0xC3:
        return True, pos
    reader = _FIXED.get(code)
    if reader is not None:
        fmt, kind = reader
        end = pos + fmt.size
        if end > size:
            raise _truncated()
        (length,) = fmt.unpack_from(data, pos)
        if kind == "num":
            return length, end
        if kind == "str":
            return _str(data, end, length)
        if kind == "bin":
            return _bin(data, end, length)
        if kind == "array":
            return _array(data, end, length, depth)
        if kind == "map":
            return _map(data, end, length, depth, undefined)
        return _ext(data, end, length, code, undefined)
    if 0xD4 <= code <= 0xD8:  # fixext 1, 2, 4, 8, 16
        return _ext(data, pos, 1 << (code - 0xD4), code, undefined)
    raise InvalidMsgpackError(f"reserved msgpack byte 0x{code:02x}")


def _str(data: bytes, pos: int, length: int) -> tuple[str, int]:
    end = pos + length
    if end > len(data):
        raise _truncated()
    try:
        return data[pos:end].decode("utf-8"), end
    except UnicodeDecodeError as exc:
        raise InvalidMsgpackError(f"msgpack string is not UTF-8: {exc.reason}") from exc


def _bin(data: bytes, pos: int, length: int) -> tuple[bytes, int]:
    end = pos + length
    if end > len(data):
        raise _truncated()
    return data[pos:end], end


def _array(data: bytes, pos: int, count: int, depth: int) -> tuple[list[Any], int]:
    if depth <= 0:
        raise NestingTooDeepError("msgpack nesting too deep")
    if count > len(data) - pos:  # each item takes at least one byte
        raise _truncated()
    items: list[Any] = []
    append = items.append
    for _ in range(count):
        item, pos = _unpack(data, pos, depth - 1)
        append(item)
    return items, pos


def _map(
    data: bytes, pos: int, count: int, depth: int, undefined: Any
) -> tuple[dict[str, Any], int]:
    if depth <= 0:
        raise NestingTooDeepError("msgpack nesting too deep")
    if 2 * count > len(data) - pos:
        raise _truncated()
    result: dict[str, Any] = {}
    size = len(data)
    inner = depth - 1
    for _ in range(count):
        # A fixstr key is decoded inline (nearly every key is one); anything else, or an
        # error, takes the general path, which raises the precise error.
        if pos >= size:
            raise _truncated()
        code = data[pos]
        end = pos + 1 + (code & 0x1F)
        key: Any = None
        if 0xA0 <= code <= 0xBF and end <= size:
            try:
                key = data[pos + 1 : end].decode("utf-8")
            except UnicodeDecodeError:
                key = None
        if key is None:
            key, end = _unpack(data, pos, inner)
            if type(key) is not str:
                raise InvalidMsgpackError(f"msgpack map key of type {type(key).__name__}")
        result[key], pos = _unpack(data, end, inner, undefined)
    return result, pos


def _ext(data: bytes, pos: int, length: int, code: int, undefined: Any) -> tuple[Any, int]:
    """notepack's extension values (type 0): undefined, Date, ArrayBuffer; others refused.
    ``pos`` is at the type byte, ``code`` the msgpack code that announced the extension."""
    end = pos + 1 + length
    if end > len(data):
        raise _truncated()
    ext_type = data[pos]
    if ext_type != 0:
        signed = ext_type - 0x100 if ext_type > 0x7F else ext_type
        raise InvalidMsgpackError(f"unsupported msgpack extension type {signed}")
    if code == 0xD4:  # fixext 1: undefined
        return undefined, end
    if code == 0xD7:  # fixext 8: Date
        (millis,) = _q.unpack_from(data, pos + 1)
        try:
            return _EPOCH + timedelta(milliseconds=millis), end
        except OverflowError as exc:
            raise InvalidMsgpackError("msgpack Date out of range") from exc
    if code in (0xC7, 0xC8, 0xC9):  # ext 8/16/32: ArrayBuffer
        return data[pos + 1 : end], end
    raise InvalidMsgpackError(f"unsupported msgpack fixext of {length} bytes")


_FIXED: Final[dict[int, tuple[struct.Struct, str]]] = {
    0xC4: (_B, "bin"),
    0xC5: (_H, "bin"),
    0xC6: (_I, "bin"),
    0xC7: (_B, "ext"),
    0xC8: (_H, "ext"),
    0xC9: (_I, "ext"),
    0xCA: (_f, "num"),
    0xCB: (_d, "num"),
    0xCC: (_B, "num"),
    0xCD: (_H, "num"),
    0xCE: (_I, "num"),
    0xCF: (_Q, "num"),
    0xD0: (_b, "num"),
    0xD1: (_h, "num"),
    0xD2: (_i, "num"),
    0xD3: (_q, "num"),
    0xD9: (_B, "str"),
    0xDA: (_H, "str"),
    0xDB: (_I, "str"),
    0xDC: (_H, "array"),
    0xDD: (_I, "array"),
    0xDE: (_H, "map"),
    0xDF: (_I, "map"),
}
"""Codes followed by a fixed-size number: the value itself, or the length of what follows."""
