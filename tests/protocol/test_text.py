"""The one text helper equals each helper it replaced (kept here as oracles), over generated text."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from gsocketio.protocol import engineio, legacy, legacy_http
from gsocketio.protocol._text import Utf16View, js_escape, js_string_literal, utf16_len

PROPERTY = settings(derandomize=True, deadline=None, max_examples=400)

# Every kind of character that matters: ASCII, BMP, astral, the line terminators, surrogates.
texts = st.text(
    alphabet=st.sampled_from('a:\ufffd\u00e9\u2028\u2029\U0001f600\U00010000\ud800\udfff\\"/<')
)
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_JS_UNSAFE = re.compile("[\u2028\u2029\ud800-\udfff]")


def units(text: str) -> bytes:
    """The UTF-16 code units of ``text``: a JavaScript string's identity."""
    return text.encode("utf-16-le", "surrogatepass")


def old_utf16_length(text: str) -> int:
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def old_units_slice(text: str, start: int, end: int) -> str:
    """``legacy._Units.slice`` and ``engineio``'s ``window`` closure (they were equal)."""
    if text.isascii() or _ASTRAL.search(text) is None:
        return text[start:end]
    raw = text.encode("utf-16-le", "surrogatepass")
    return raw[2 * start : 2 * end].decode("utf-16-le", "surrogatepass")


def old_take(text: str, start: int, end: int) -> str | None:
    """``engineio``'s ``take`` closure; None where it raised."""
    if text.isascii() or _ASTRAL.search(text) is None:
        return text[start:end]
    raw = text.encode("utf-16-le", "surrogatepass")
    try:
        return raw[2 * start : 2 * end].decode("utf-16-le")
    except UnicodeDecodeError:
        return None


def old_js_string_literal(text: str) -> str:
    return _JS_UNSAFE.sub(lambda m: f"\\u{ord(m[0]):04x}", json.dumps(text, ensure_ascii=False))


def old_eio_jsonp_literal(text: str) -> str:
    literal = json.dumps(text, ensure_ascii=False)
    return literal.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


@PROPERTY
@given(texts)
def test_utf16_len_is_both_old_functions(text: str) -> None:
    assert utf16_len(text) == old_utf16_length(text) == legacy.utf16_length(text)
    assert utf16_len(text) == Utf16View(text).length


@PROPERTY
@given(texts, st.integers(0, 12), st.integers(0, 12))
def test_view_slices_are_the_old_slicers(text: str, start: int, end: int) -> None:
    view = Utf16View(text)
    assert view.slice(start, end) == old_units_slice(text, start, end)
    try:
        strict: str | None = view.strict_slice(start, end)
    except UnicodeDecodeError:
        strict = None
    assert strict == old_take(text, start, end)


@PROPERTY
@given(texts)
def test_js_string_literal_is_the_old_legacy_one(text: str) -> None:
    assert js_string_literal(text) == old_js_string_literal(text)
    assert legacy_http.js_string_literal is js_string_literal
    assert units(json.loads(js_string_literal(text))) == units(text)  # same JS string
    assert "\u2028" not in js_string_literal(text) and "\u2029" not in js_string_literal(text)


@PROPERTY
@given(texts.filter(lambda t: not any("\ud800" <= c <= "\udfff" for c in t)))
def test_eio_jsonp_escaping_is_unchanged_without_lone_surrogates(text: str) -> None:
    assert engineio.encode_jsonp(text, 3) == f"___eio[3]({old_eio_jsonp_literal(text)});"


def test_eio_jsonp_now_escapes_lone_surrogates_too() -> None:
    wrapped = engineio.encode_jsonp("a\udc00b", 0)
    assert wrapped == '___eio[0]("a\\udc00b");'
    wrapped.encode("utf-8")


@PROPERTY
@given(texts)
def test_js_escape_keeps_the_json_value(text: str) -> None:
    literal = json.dumps([text], ensure_ascii=False)
    escaped = js_escape(literal)
    assert [units(item) for item in json.loads(escaped)] == [units(text)]
    assert not _JS_UNSAFE.search(escaped)
    assert js_escape("plain ascii") == "plain ascii"
