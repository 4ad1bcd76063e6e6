"""The package's loggers, which never let client data forge a log line.

Namespace and event names, sids, URLs and the messages of protocol errors come from clients
and reach log records as arguments; a newline in one would start a forged line in a plain-text
log. :func:`get_logger` returns ``logging.getLogger(name)`` with :class:`EscapeControlChars`
attached (once), which rewrites control characters (C0, DEL, C1, U+2028/U+2029) in a record's
message and string arguments as ``\\n``-style escapes before any handler formats it; other
arguments are escaped only if their ``str()`` holds one. Tracebacks are left as they are.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["EscapeControlChars", "escape_control_chars", "get_logger"]

_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_PLAIN: Final = (int, float, bool, type(None))


def _escape(match: re.Match[str]) -> str:
    char = match[0]
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_control_chars(text: str) -> str:
    """``text`` with every control character written as an escape (``\\n``, ``\\x1b``...)."""
    if text.isprintable():  # the usual case: one C-level scan, no regex
        return text
    return _CONTROL.sub(_escape, text)


class _Escaped:
    """Stands for an argument whose ``str()`` holds control characters (``%s`` and ``%r``)."""

    __slots__ = ("_repr", "_str")

    def __init__(self, value: Any, text: str) -> None:
        self._str = escape_control_chars(text)
        self._repr = escape_control_chars(repr(value))

    def __str__(self) -> str:
        return self._str

    def __repr__(self) -> str:
        return self._repr


def _safe(value: Any) -> Any:
    if type(value) is str:
        # Wrapped rather than replaced: ``%r`` still shows the repr of the original string.
        return value if value.isprintable() else _Escaped(value, value)
    if isinstance(value, _PLAIN):
        return value
    try:
        text = str(value)
    except Exception:  # noqa: BLE001 - a broken __str__ must not break the caller's log call
        return value
    if text.isprintable() or not _CONTROL.search(text):
        return value
    return _Escaped(value, text)


class EscapeControlChars(logging.Filter):
    """Escapes control characters in a record's message and arguments (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if type(record.msg) is str:
            record.msg = escape_control_chars(record.msg)
        else:
            record.msg = _safe(record.msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_safe(arg) for arg in args)
        elif isinstance(args, Mapping):
            record.args = {key: _safe(value) for key, value in args.items()}
        return True


_FILTER: Final = EscapeControlChars()


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with :class:`EscapeControlChars` attached."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, EscapeControlChars) for f in logger.filters):
        logger.addFilter(_FILTER)
    return logger
