"""The one JSON codec: strict like ``JSON.parse``, compact like ``JSON.stringify``, one depth check.

The references are the standard library and the two depth checkers it replaced (the regex +
running-sum one of the 0.9 codec is kept here as the oracle), never the code under test.
"""

from __future__ import annotations

import decimal
import json
import math
import re
import subprocess
import sys
from itertools import accumulate
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gsocketio.exceptions import (
    EncodeError,
    InvalidJSONError,
    NestingTooDeepError,
)
from gsocketio.protocol import _json
from gsocketio.protocol import legacy as legacy_codec
from gsocketio.protocol import socketio as sio
from gsocketio.protocol.socketio import Decoder, Packet, PacketType, encode

PROPERTY = settings(derandomize=True, deadline=None, max_examples=400)

# --- the retired 0.9 depth checker, as an oracle ------------------------------------------------

_JSON_STRING_RE = re.compile(r'"[^"\\]*+(?:\\[\s\S][^"\\]*+)*+"|"[\s\S]*')
_NOT_BRACKET_RE = re.compile(r"[^\[\]{}]+")
_BRACKET_DELTA = {"[": 1, "{": 1, "]": -1, "}": -1}


def old_legacy_too_deep(text: str, max_depth: int) -> bool:
    brackets = _NOT_BRACKET_RE.sub("", _JSON_STRING_RE.sub("", text))
    return max(accumulate(map(_BRACKET_DELTA.__getitem__, brackets)), default=0) > max_depth


def too_deep(text: str, max_depth: int) -> bool:
    try:
        _json.check_depth(text, max_depth)
    except NestingTooDeepError:
        return True
    return False


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.sampled_from('ab[]{}"\\\u2028é\U0001f600 ,:')),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=40,
)


@PROPERTY
@given(json_values, st.integers(min_value=1, max_value=12), st.booleans())
def test_check_depth_agrees_with_the_retired_checker(value: Any, depth: int, ascii: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii)
    assert too_deep(text, depth) == old_legacy_too_deep(text, depth)


@pytest.mark.parametrize(
    ("text", "depth", "expected"),
    [
        ("[" * 33 + "]" * 33, 32, True),
        ("[" * 32 + "]" * 32, 32, False),
        ('["' + "[" * 100 + '"]', 2, False),  # brackets inside a string do not count
        ('["\\\\",' + "[" * 5 + "]" * 5 + "]", 4, True),  # an escaped backslash ends no string
        ('["\\"' + "[" * 5 + '"]', 2, False),  # an escaped quote does not end the string
        ("[" * 5000, 32, True),  # unbalanced: the prefix a parser reads is too deep
        ('{"a":' * 40 + "1" + "}" * 40, 32, True),
    ],
)
def test_check_depth_examples(text: str, depth: int, expected: bool) -> None:
    assert too_deep(text, depth) is expected
    assert old_legacy_too_deep(text, depth) is expected


def test_both_decoders_use_the_one_check() -> None:
    deep = "[" * 101 + "]" * 101  # Limits.max_depth is 100
    with pytest.raises(NestingTooDeepError):
        Decoder().feed('2["e",' + deep + "]")
    with pytest.raises(NestingTooDeepError):
        legacy_codec.decode_packet("4:::" + deep)


# --- numbers as JavaScript reads them (issue 9) -------------------------------------------------

BIG_INT = "1" * 5000  # past Python's int-string limit; JavaScript reads Infinity
HUGE = "1e400"  # a double overflows: JavaScript reads Infinity, which JSON cannot carry back


@pytest.mark.parametrize("number", [BIG_INT, HUGE, "-1e400", "1" + "0" * 400 + ".5"])
def test_numbers_that_overflow_are_refused_cleanly(number: str) -> None:
    with pytest.raises(ValueError):
        _json.loads(f"[{number}]")
    with pytest.raises(InvalidJSONError):
        Decoder().feed(f'2["e",{number}]')
    with pytest.raises(InvalidJSONError):
        Decoder().feed(f'21["e",{number}]')
    with pytest.raises(InvalidJSONError):
        legacy_codec.decode_packet(f'5:::{{"name":"e","args":[{number}]}}')


@pytest.mark.parametrize(
    ("text", "value"),
    [("[1e308]", [1e308]), ("[-0.0]", [-0.0]), ("[1e-400]", [0.0]), ("[" + "9" * 300 + "]", None)],
)
def test_numbers_in_range_still_decode(text: str, value: Any) -> None:
    assert _json.loads(text) == (value if value is not None else json.loads(text))


# --- Decimal (issue 15) --------------------------------------------------------------------------

D = decimal.Decimal


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([D("1.10")], "[1.1]"),
        ({"price": D("19.99"), "n": 2}, '{"price":19.99,"n":2}'),
        ([D("-0")], "[-0.0]"),
        ([D("1E+2")], "[100.0]"),
        ([D("0.1") + D("0.2")], "[0.3]"),
    ],
)
def test_decimal_is_a_json_number(value: Any, expected: str) -> None:
    assert _json.dumps(value) == expected
    assert _json.legacy_dumps(value) == expected
    assert json.loads(expected) == json.loads(_json.dumps(value))


@pytest.mark.parametrize("bad", [D("NaN"), D("Infinity"), D("-Infinity"), D("1e400")])
def test_non_finite_decimal_is_an_encode_error(bad: decimal.Decimal) -> None:
    with pytest.raises(EncodeError):
        _json.dumps([bad])
    with pytest.raises(ValueError):
        encode(Packet(PacketType.EVENT, data=["e", bad]))


def test_decimal_in_every_encoder() -> None:
    event = Packet(PacketType.EVENT, data=["price", D("2.50")], id=3)
    assert encode(event) == ['23["price",2.5]']
    binary = encode(Packet(PacketType.EVENT, data=["price", D("2.50"), b"\x01"]))
    assert binary == ['51-["price",2.5,{"_placeholder":true,"num":0}]', b"\x01"]
    packet = legacy_codec.Packet(legacy_codec.PacketType.EVENT, name="p", args=[D("2.50")])
    assert legacy_codec.encode_packet(packet) == '5:::{"name":"p","args":[2.5]}'


def test_decimal_support_does_not_import_decimal() -> None:
    code = "import gsocketio.protocol._json, sys; print('decimal' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- one dumps, its variants ---------------------------------------------------------------------


def test_the_public_names_are_the_one_codec() -> None:
    from gsocketio.compat.virtsocket import default_json_dumps, default_json_loads
    from gsocketio.protocol.legacy_bridge import buffer_dumps

    assert sio.json_dumps is _json.dumps and sio.json_loads is _json.loads
    assert legacy_codec.default_dumps is _json.dumps
    assert legacy_codec.default_loads is _json.loads
    assert default_json_dumps is _json.dumps and default_json_loads is _json.loads
    assert buffer_dumps is _json.legacy_dumps


def old_buffer_dumps(value: Any) -> str:
    """What ``legacy.bridge.buffer_dumps`` was."""

    def default(obj: Any) -> Any:
        if isinstance(obj, bytes | bytearray | memoryview):
            return {"type": "Buffer", "data": list(bytes(obj))}
        raise TypeError(type(obj).__name__)

    text = json.dumps(
        value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=default
    )
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


no_lone_surrogates = st.text(
    alphabet=st.characters(exclude_categories=["Cs"]) | st.sampled_from("\u2028\u2029")
)
legacy_values = st.recursive(
    st.none() | st.integers() | st.binary(max_size=4) | no_lone_surrogates,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(no_lone_surrogates, inner),
    max_leaves=20,
)


@PROPERTY
@given(legacy_values)
def test_legacy_dumps_is_the_old_buffer_dumps(value: Any) -> None:
    assert _json.legacy_dumps(value) == old_buffer_dumps(value)


def test_legacy_dumps_also_escapes_lone_surrogates() -> None:
    text = _json.legacy_dumps(["\ud800", b"\x00\xff"])
    assert text == '["\\ud800",{"type":"Buffer","data":[0,255]}]'
    text.encode("utf-8")  # writable as UTF-8, which the raw surrogate was not


@pytest.mark.parametrize("bad", [[float("nan")], {"x": float("inf")}])
def test_every_dumps_refuses_non_finite_with_encode_error(bad: Any) -> None:
    for dumps in (_json.dumps, _json.legacy_dumps, _json.probing_dumps):
        with pytest.raises(EncodeError):
            dumps(bad)


# --- the float fast path: no parse_float hook where no number can overflow (issue 9) -----------


def _walk_finite(value: Any) -> None:
    if isinstance(value, float) and math.isinf(value):
        raise ValueError("infinite")
    if isinstance(value, list):
        for item in value:
            _walk_finite(item)
    elif isinstance(value, dict):
        for item in value.values():
            _walk_finite(item)


def reference_loads(text: str) -> Any:
    """The oracle: the standard library's decoder, then a walk refusing infinities."""
    value = json.loads(text, parse_constant=_json._reject_constant)
    _walk_finite(value)
    return value


def _outcome(fn: Any, text: str) -> tuple[str, Any]:
    try:
        return ("ok", fn(text))
    except ValueError:
        return ("refused", None)


number_literals = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.builds(
        lambda mantissa, exponent, sign, letter: f"{mantissa}{letter}{sign}{exponent}",
        st.sampled_from(["1", "9.99", "0.5", "17", "1" * 12]),
        st.integers(min_value=0, max_value=1200),
        st.sampled_from(["", "+", "-"]),
        st.sampled_from(["e", "E"]),
    ),
    st.builds(
        lambda digits, frac: digits + frac,
        st.text(alphabet="0123456789", min_size=1, max_size=420).filter(
            lambda d: d == "0" or d[0] != "0"
        ),
        st.sampled_from(["", ".5", ".0001", "e5", "e99", "e-5"]),
    ),
)
filler_strings = st.text(alphabet=st.sampled_from("e0E9-+. é\u2028x"), max_size=8)


@PROPERTY
@given(st.lists(number_literals | filler_strings.map(json.dumps), min_size=1, max_size=60))
def test_float_fast_path_agrees_with_the_strict_reference(items: list[str]) -> None:
    text = "[" + ",".join(items) + "]"
    assert _outcome(_json.loads, text) == _outcome(reference_loads, text)


@PROPERTY
@given(number_literals, st.integers(min_value=0, max_value=40))
def test_an_overflowing_number_is_never_missed(literal: str, position: int) -> None:
    floats = [f"{i}.25" for i in range(40)]
    floats.insert(position, literal)
    text = "[" + ",".join(floats) + "]"
    if math.isinf(float(literal)):
        assert _json._may_overflow(text)
        with pytest.raises(ValueError):
            _json.loads(text)
    else:
        assert _json.loads(text) == json.loads(text)


FLOATS = json.dumps(["echo", [i * 1.37 + 0.5 for i in range(50)]])


def test_a_float_heavy_text_takes_the_fast_decoder() -> None:
    # What the speed-up rests on (docs/benchmarks.md): 50 plain floats need no hook.
    assert _json._float_heavy(FLOATS)
    assert not _json._may_overflow(FLOATS)
    assert _json.loads(FLOATS) == json.loads(FLOATS)


@pytest.mark.parametrize(
    "bad", ["NaN", "Infinity", "-Infinity", "1e400", "-1E+400", "1" * 320 + ".5"]
)
def test_the_fast_decoder_still_refuses_what_json_parse_refuses(bad: str) -> None:
    text = FLOATS[:-2] + "," + bad + "]]"
    with pytest.raises(ValueError):
        _json.loads(text)
    # NaN and Infinity reach the fast decoder itself (nothing in their shape looks like an
    # overflow): its parse_constant refuses them.
    if bad.lstrip("-") in ("NaN", "Infinity"):
        assert not _json._may_overflow(text)


def test_strings_that_look_like_numbers_only_cost_the_strict_path() -> None:
    text = json.dumps(["e400", "9" * 300] + [i + 0.5 for i in range(40)])
    assert _json._may_overflow(text)  # a false alarm: the strict decoder answers
    assert _json.loads(text) == json.loads(text)
