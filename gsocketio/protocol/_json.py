"""The one strict JSON codec of every wire, with ``JSON.parse``/``JSON.stringify`` semantics.

:func:`loads` refuses what ``JSON.parse`` refuses (``NaN``, ``Infinity``) and numbers that
overflow to infinity (``1e400``, an integer past Python's int-string limit), which could not be
sent back, raising ``ValueError`` like ``json.loads``; :func:`dumps` writes compact JSON, keeps
non-ASCII, refuses non-finite floats (:class:`~gsocketio.exceptions.EncodeError`) and writes
``decimal.Decimal`` as a number; :func:`legacy_dumps` is its 0.9 variant (bytes as Node's
``Buffer`` JSON, JavaScript line terminators escaped); :func:`check_depth` bounds nesting
before a recursive parser sees the text.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable
from itertools import accumulate
from typing import Any, Final

from gsocketio.exceptions import EncodeError, NestingTooDeepError
from gsocketio.protocol._text import js_escape

__all__ = ["BinaryFound", "check_depth", "dumps", "legacy_dumps", "loads", "probing_dumps"]

BINARY_TYPES: Final = (bytes, bytearray, memoryview)

_NOT_STRUCTURAL: Final = bytes(code for code in range(256) if code not in b'"[]{}')
_TO_SQUARE: Final = bytes.maketrans(b"{}", b"[]")
_DEPTH_STEP: Final = {ord("["): 1, ord("]"): -1}
_SMALL_TEXT: Final = 2048
_PEEL_PASSES: Final = 8
_INFINITIES: Final = (math.inf, -math.inf)


# --- encoding --------------------------------------------------------------------------------


class BinaryFound(Exception):
    """Raised inside :func:`probing_dumps`: the data holds bytes, take the binary path."""


def _decimal_number(obj: Any) -> float | None:
    """``obj`` as a float when it is a ``decimal.Decimal``, else None.

    Looked up in ``sys.modules``: a Decimal can only exist once its module is imported, so
    ``import gsocketio`` does not import :mod:`decimal`. The float is what ``JSON.parse`` makes
    of the exact digits (both round to the nearest double).
    """
    decimal = sys.modules.get("decimal")
    if decimal is None or not isinstance(obj, decimal.Decimal):
        return None
    if not obj.is_finite():
        raise EncodeError(f"{obj} is not a JSON number")
    return float(obj)


def _unencodable(obj: Any) -> TypeError:
    return TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _default(obj: Any) -> Any:
    number = _decimal_number(obj)
    if number is None:
        raise _unencodable(obj)
    return number


def _probe_default(obj: Any) -> Any:
    if isinstance(obj, BINARY_TYPES):
        raise BinaryFound
    return _default(obj)


def _buffer_default(obj: Any) -> Any:
    if isinstance(obj, BINARY_TYPES):
        return {"type": "Buffer", "data": list(bytes(obj))}
    return _default(obj)


def _compact_encoder(default: Callable[[Any], Any]) -> Callable[[Any], str]:
    """``JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode``.

    Built on the same C encoder ``JSONEncoder.encode`` uses, minus its Python layers (they
    took half the time of encoding a small ack); the stock method where there is no C encoder.
    ``default`` runs only for values JSON has no type for (the fallback, never the common path).
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has it
        stock = json.JSONEncoder(
            separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=default
        ).encode

        def encode_stock(obj: Any) -> str:
            try:
                return stock(obj)
            except ValueError as exc:
                raise _encode_error(exc) from None

        return encode_stock
    escape = json.encoder.encode_basestring

    def encode(obj: Any) -> str:
        # A fresh markers dict per call, as JSONEncoder does: cycles raise ValueError.
        try:
            return "".join(make({}, default, escape, None, ":", ",", False, False, False)(obj, 0))
        except ValueError as exc:
            raise _encode_error(exc) from None

    return encode


def _encode_error(exc: ValueError) -> EncodeError:
    return exc if isinstance(exc, EncodeError) else EncodeError(str(exc))


dumps: Final = _compact_encoder(_default)
"""Serialize like ``JSON.stringify``: compact, non-ASCII kept, Decimal as a number.

NaN and ±Infinity raise :class:`EncodeError` (a ``ValueError``): ``JSON.parse`` would reject the
whole packet and the client drop its connection. Unknown types raise ``TypeError``."""

probing_dumps: Final = _compact_encoder(_probe_default)
""":func:`dumps` that raises :class:`BinaryFound` at the first bytes value: a text-only packet
is serialized in one pass instead of being walked for binary first."""

_buffer_dumps = _compact_encoder(_buffer_default)


def legacy_dumps(obj: Any) -> str:
    """:func:`dumps` for 0.9 clients: bytes as ``{"type":"Buffer","data":[...]}`` (what
    ``JSON.stringify`` makes of a Node ``Buffer``; 0.9 has no binary) and U+2028/U+2029 and
    lone surrogates ``\\u``-escaped (the 0.9 client parses ack arguments with ``/(.*)/``)."""
    return js_escape(_buffer_dumps(obj))


# --- decoding --------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(literal: str) -> float:
    number = float(literal)
    if number in _INFINITIES:
        raise ValueError(f"number {literal[:24]} out of range (JavaScript reads Infinity)")
    return number


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
_FAST_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
# What decode() scans with, called directly (typeshed does not declare the attribute).
_scan_once: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
_fast_scan_once: Callable[[str, int], tuple[Any, int]] = _FAST_DECODER.scan_once  # type: ignore[attr-defined]

# Finite without the hook: a double overflows only for a number with an exponent of three or
# more digits, or (an exponent of at most 99) with at least 210 integer digits, since below that
# the magnitude stays under 10**308. Both show in C-speed passes over the text's ASCII bytes;
# dropping the non-ASCII characters can only join runs, never split a number (its characters
# are ASCII and contiguous), and digits inside a string only raise false alarms (the strict
# decoder answers them), so the check may err towards the hook, never away from it.
_DIGIT_RUNS: Final = bytes(ord("0") if code in b"0123456789" else ord(" ") for code in range(256))
_LONG_RUN: Final = 210
_LONG_ZEROS: Final = b"0" * _LONG_RUN
_SHORT_TEXT: Final = 128  # shorter: the hook costs less than looking at the text
_SAMPLE: Final = 96  # the first characters, where a float-heavy text shows (counts cost)
_FEW_DOTS: Final = 4
# Each starts with a literal letter, which the regex engine finds by a fast scan.
_EXPONENTS: Final = (re.compile(rb"e[-+]?[0-9]{3}"), re.compile(rb"E[-+]?[0-9]{3}"))


def _may_overflow(text: str) -> bool:
    """Whether ``text`` could hold a number that reads as infinity (conservative)."""
    data = text.encode("ascii", "ignore")
    for exponent in _EXPONENTS:
        if exponent.search(data) is not None:
            return True
    return _LONG_ZEROS in data.translate(_DIGIT_RUNS)


def _float_heavy(text: str) -> bool:
    """Whether the start of ``text`` looks like numbers rather than strings: four "." or more
    in its first 96 characters and fewer than one quote per two "." (a list of IP addresses
    has more)."""
    dots = text.count(".", 0, _SAMPLE)
    return dots >= _FEW_DOTS and text.count('"', 0, _SAMPLE) * 2 < dots


def loads(text: str) -> Any:
    """Parse strict JSON, as ``JSON.parse`` does, refusing numbers that overflow to infinity.

    Raises ``ValueError`` (``json.JSONDecodeError`` for syntax) on anything refused.
    """
    # ``NaN``/``Infinity`` literals are refused by ``parse_constant`` in both decoders. The
    # ``parse_float`` hook that refuses ``1e400`` costs a Python call per float, so it is left
    # out for a float-heavy text (:func:`_float_heavy`) that :func:`_may_overflow` clears; for
    # the others (a short text, few floats) the hook costs less than looking.
    scan = _scan_once
    if len(text) >= _SHORT_TEXT and _float_heavy(text) and not _may_overflow(text):
        scan = _fast_scan_once
    # The decoder's scanner directly (a third of the time of ``decode`` for a small event);
    # whitespace around the value, trailing data and errors take ``decode`` for its handling.
    try:
        obj, end = scan(text, 0)
    except StopIteration:
        return _decoder_of(scan).decode(text)
    if end != len(text):
        return _decoder_of(scan).decode(text)
    return obj


def _decoder_of(scan: Callable[[str, int], tuple[Any, int]]) -> json.JSONDecoder:
    return _FAST_DECODER if scan is _fast_scan_once else _DECODER


# --- nesting ---------------------------------------------------------------------------------


def _exceeds(brackets: bytes, max_depth: int) -> bool:
    """Whether a string of ``[`` and ``]`` nests deeper than ``max_depth`` anywhere."""
    if b"[" * (max_depth + 1) in brackets:
        return True
    # Each pass removes exactly one level (the pairs adjacent once their contents are gone),
    # so a few passes settle the usual shallow data in C; deeper or unbalanced input gets the
    # exact running depth.
    peeled = brackets
    for _ in range(min(max_depth, _PEEL_PASSES)):
        if not peeled:
            return False
        shorter = peeled.replace(b"[]", b"")
        if len(shorter) == len(peeled):
            break
        peeled = shorter
    if not peeled:
        return False
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets))) > max_depth


def check_depth(text: str, max_depth: int) -> None:
    """Raise :class:`NestingTooDeepError` for nesting deeper than ``max_depth``.

    Exact for valid JSON; for invalid JSON an upper bound over the prefix a parser reads before
    it fails. Only C-level string methods run, no per-character Python loop: a big text costs a
    fraction of ``json.loads`` and a small one (the usual event) two ``str.count`` calls.
    """
    if len(text) <= _SMALL_TEXT and text.count("[") + text.count("{") <= max_depth:
        return
    # Outside strings valid JSON is ASCII, so dropping other characters changes no structure.
    data = text.encode("ascii", "ignore")
    if b"\\" in data:
        # Drop escaped backslashes, then escaped quotes: every quote left opens or closes a
        # string (left-to-right pairing is how JSON reads escapes).
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = data.translate(None, _NOT_STRUCTURAL)
    if skeleton.count(b"[") + skeleton.count(b"{") <= max_depth:
        return
    # Removing adjacent quotes keeps every bracket on its side of every string, and drops the
    # bracket-free strings; the few strings left (with brackets inside) are cut out by parity.
    skeleton = skeleton.replace(b'""', b"")
    if b'"' in skeleton:
        skeleton = b"".join(skeleton.split(b'"')[::2])
    if _exceeds(skeleton.translate(_TO_SQUARE), max_depth):
        raise NestingTooDeepError(f"JSON nesting deeper than {max_depth}")
