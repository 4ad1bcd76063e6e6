"""Log output for ``python -m gsocketio``: plain lines for people, JSON lines for collectors.

The JSON form is one object per line — ``time`` (UTC, ISO 8601 with milliseconds), ``level``,
``logger``, ``message`` and, when present, ``exc_info``/``stack_info`` as text — so a log
shipper needs no multi-line parsing. Any message, even one carrying client data with quotes,
newlines, control characters or lone surrogates, yields one valid line: the object is written
with ``ensure_ascii``, which escapes everything outside printable ASCII. Escaping client data
for the plain form is the package's job where it logs it, not this module's.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Final, TextIO

__all__ = ["FORMATS", "PLAIN_FORMAT", "JsonFormatter", "PlainFormatter", "configure_logging"]

PLAIN_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s %(message)s"
FORMATS: Final = ("plain", "json")


def _message(record: logging.LogRecord) -> str:
    """``record.getMessage()``, or the raw parts when the arguments do not fit the format."""
    try:
        return record.getMessage()
    except (TypeError, ValueError, KeyError):
        return f"{record.msg!s} {record.args!r}"


class PlainFormatter(logging.Formatter):
    """:data:`PLAIN_FORMAT`, and a record whose arguments do not fit still logs its parts."""

    def __init__(self) -> None:
        super().__init__(PLAIN_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        try:
            record.getMessage()
        except (TypeError, ValueError, KeyError):
            record.msg, record.args = _message(record), None
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """Formats each record as one line of JSON (see the module docstring for the keys)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
        }
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=True, default=str)


def configure_logging(
    level: str | int = "INFO", fmt: str = "plain", stream: TextIO | None = None
) -> logging.Handler:
    """Send every logger's records at ``level`` and above to ``stream`` (stderr) in ``fmt``.

    Replaces the root logger's handlers, so calling it twice does not duplicate lines. Raises
    ``ValueError`` for an unknown level or format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r} (choose from {', '.join(FORMATS)})")
    if isinstance(level, str):
        resolved = logging.getLevelName(level.upper())
        if not isinstance(resolved, int):
            raise ValueError(f"unknown log level {level!r}")
        level = resolved
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
