"""The package's loggers escape control characters in client data (socket-free; see
tests/hostile/test_hostile_legacy.py for the same over real sockets)."""

from __future__ import annotations

import importlib
import logging
import pkgutil

import pytest

import gsocketio
from gsocketio._logging import EscapeControlChars, escape_control_chars, get_logger


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain", "plain"),
        ("é 😀 中文", "é 😀 中文"),
        ("a\nb\r\tc", "a\\nb\\r\\tc"),
        ("\x00\x1b[31m\x7f", "\\x00\\x1b[31m\\x7f"),
        ("\x85\u2028\u2029", "\\x85\\u2028\\u2029"),
        ("\xa0", "\xa0"),  # not printable for Python, but not a control character either
    ],
)
def test_escape_control_chars(raw: str, escaped: str) -> None:
    assert escape_control_chars(raw) == escaped


def record(msg: object, args: object) -> logging.LogRecord:
    made = logging.LogRecord("gsocketio.test", logging.INFO, __file__, 1, msg, None, None)
    made.args = args  # type: ignore[assignment]
    return made


def test_filter_escapes_every_kind_of_argument() -> None:
    rec = record(
        "ns %s, event %r, error %s, count %d, missing %s",
        ("/a\nX", "e\nY", ValueError("bad\nZ"), 3, None),
    )
    assert EscapeControlChars().filter(rec) is True
    assert rec.getMessage() == ("ns /a\\nX, event 'e\\nY', error bad\\nZ, count 3, missing None")
    mapped = record("%(name)s", ({"name": "x\ny"},))
    mapped.args = {"name": "x\ny"}
    EscapeControlChars().filter(mapped)
    assert mapped.getMessage() == "x\\ny"
    forged = record(ValueError("msg\nitself"), ())
    EscapeControlChars().filter(forged)
    assert forged.getMessage() == "msg\\nitself"


def test_filter_survives_a_broken_str() -> None:
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no")

    rec = record("%r", (Broken(),))
    assert EscapeControlChars().filter(rec) is True  # the caller's log call does not raise


def test_get_logger_attaches_the_filter_once() -> None:
    first = get_logger("gsocketio.test.once")
    again = get_logger("gsocketio.test.once")
    assert first is again is logging.getLogger("gsocketio.test.once")
    assert sum(isinstance(f, EscapeControlChars) for f in first.filters) == 1


def test_every_package_logger_escapes() -> None:
    """Every module-level logger of the package comes from get_logger."""
    for info in pkgutil.walk_packages(gsocketio.__path__, "gsocketio."):
        if info.name in ("gsocketio.__main__", "gsocketio.sdjango", "gsocketio.sgunicorn"):
            continue  # the CLI (no client data) and the optional Django/gunicorn integrations
        importlib.import_module(info.name)
    names = [name for name in logging.root.manager.loggerDict if name.startswith("gsocketio.")]
    assert names
    for name in names:
        logger = logging.root.manager.loggerDict[name]
        if isinstance(logger, logging.Logger):
            assert any(isinstance(f, EscapeControlChars) for f in logger.filters), name
