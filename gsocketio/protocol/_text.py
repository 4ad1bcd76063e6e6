"""Strings as JavaScript sees them: UTF-16 lengths and slices, and safe script literals.

Payload length prefixes (Engine.IO 3, Socket.IO 0.9) count UTF-16 code units, JavaScript's
``String.length``, so an astral character counts two: :func:`utf16_len` and :class:`Utf16View`
(plain ``str`` indexing unless the text holds an astral character, then UTF-16-LE bytes, two per
unit: no per-character Python loop). :func:`js_escape` makes JSON text safe inside a script
(U+2028/U+2029, which pre-ES2019 engines and the 0.9 client's ``/(.*)/`` treat as line
terminators, and lone surrogates, which cannot be written as UTF-8); :func:`js_string_literal`
is a string's escaped JSON literal.
"""

from __future__ import annotations

import re
from json.encoder import encode_basestring
from typing import Final

__all__ = ["Utf16View", "js_escape", "js_string_literal", "utf16_len"]

_ASTRAL: Final = re.compile("[\U00010000-\U0010ffff]")
_JS_UNSAFE: Final = re.compile("[\u2028\u2029\ud800-\udfff]")


def utf16_len(text: str) -> int:
    """JavaScript's ``text.length``: astral characters count two."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) >> 1


class Utf16View:
    """A string indexed in UTF-16 code units; ``length`` is JavaScript's ``String.length``."""

    __slots__ = ("_raw", "_text", "length")

    def __init__(self, text: str) -> None:
        self._text = text
        self._raw: bytes | None = None
        self.length = len(text)
        if not text.isascii() and _ASTRAL.search(text) is not None:
            self._raw = text.encode("utf-16-le", "surrogatepass")
            self.length = len(self._raw) >> 1

    def slice(self, start: int, end: int) -> str:
        """Units ``start:end``; a cut inside a surrogate pair leaves a lone surrogate."""
        if self._raw is None:
            return self._text[start:end]
        return self._raw[2 * start : 2 * end].decode("utf-16-le", "surrogatepass")

    def strict_slice(self, start: int, end: int) -> str:
        """Units ``start:end``; ``UnicodeDecodeError`` if the cut splits a surrogate pair."""
        if self._raw is None:
            return self._text[start:end]
        return self._raw[2 * start : 2 * end].decode("utf-16-le")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match[0]):04x}"


def js_escape(json_text: str) -> str:
    """``json_text`` with U+2028, U+2029 and lone surrogates ``\\u``-escaped (same JSON value,
    valid in any JavaScript string literal and encodable as UTF-8)."""
    if json_text.isascii():
        return json_text
    return _JS_UNSAFE.sub(_escape, json_text)


def js_string_literal(text: str) -> str:
    """A double-quoted JavaScript string literal for ``text``: ``JSON.stringify`` plus
    :func:`js_escape`."""
    return js_escape(encode_basestring(text))
