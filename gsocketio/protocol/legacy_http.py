"""The 0.9 transports' JavaScript wrappers, sans-I/O: jsonp-polling and htmlfile.

jsonp-polling answers ``io.j[<i>]("<payload>");`` (also a JSONP handshake, or
``io.j[<i>](new Error("..."))`` when refused) and takes POSTs ``d=<JSON string>``; htmlfile
streams a prologue then one ``<script>_("<payload>");</script>`` per push. Literals are
``JSON.stringify`` output made script-safe by :func:`~gsocketio.protocol._text.js_escape`;
htmlfile chunks also escape ``/`` (as the 0.9 server does) and ``<`` (no ``</script>`` or
``<!--`` reaches the HTML parser) and double each backslash before a slash, because the 0.9.16
client strips one (``data.replace(/\\\\\\//g, '/')``) after evaluating the chunk.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qsl

from gsocketio.exceptions import EncodeError, PayloadFormatError, PayloadTooLargeError
from gsocketio.protocol import _json
from gsocketio.protocol._text import js_string_literal
from gsocketio.protocol.limits import DEFAULT_LIMITS, Limits

__all__ = [
    "HTMLFILE_PROLOGUE",
    "decode_jsonp_body",
    "encode_htmlfile_prologue",
    "encode_htmlfile_script",
    "encode_jsonp",
    "encode_jsonp_error",
    "js_string_literal",
]

HTMLFILE_PROLOGUE: Final = (
    "<html><body><script>var _ = function (msg) { parent.s._(msg, document); };</script>"
    + " " * 173
)
"""What the 0.9 server writes first on an htmlfile stream; the padding makes IE render early."""


def _check_index(index: int) -> None:
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise EncodeError(f"JSONP index must be a non-negative int, not {index!r}")


def encode_jsonp(data: str, index: int) -> str:
    """``io.j[<index>]("<data>");``: a jsonp-polling reply (a payload) or a JSONP handshake."""
    _check_index(index)
    return f"io.j[{index}]({js_string_literal(data)});"


def encode_jsonp_error(message: str, index: int) -> str:
    """``io.j[<index>](new Error("<message>"));``: a refused JSONP handshake (HTTP status 200)."""
    _check_index(index)
    return f"io.j[{index}](new Error({js_string_literal(message)}));"


def decode_jsonp_body(body: bytes | str, *, limits: Limits = DEFAULT_LIMITS) -> str:
    """The payload of a jsonp-polling POST: form field ``d`` holding a JSON-encoded string."""
    if len(body) > limits.max_payload:
        raise PayloadTooLargeError(f"body of {len(body)} bytes > {limits.max_payload}")
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        fields = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=64)
    except ValueError as exc:  # includes UnicodeDecodeError and too many fields
        raise PayloadFormatError(f"bad form-encoded body: {exc}") from exc
    values = [value for key, value in fields if key == "d"]
    if len(values) != 1:
        raise PayloadFormatError(f"expected one 'd' field, got {len(values)}")
    encoded = values[0]
    if not encoded.startswith('"'):  # only a string may reach json.loads: no nesting to recurse
        raise PayloadFormatError("the 'd' field must hold a JSON string")
    try:
        payload = _json.loads(encoded)
    except ValueError as exc:
        raise PayloadFormatError(f"the 'd' field is not a JSON string: {exc}") from exc
    if not isinstance(payload, str):
        raise PayloadFormatError("the 'd' field must hold a JSON string")
    return payload


def encode_htmlfile_prologue() -> str:
    """The first chunk of an htmlfile stream (:data:`HTMLFILE_PROLOGUE`)."""
    return HTMLFILE_PROLOGUE


def encode_htmlfile_script(data: str) -> str:
    """``<script>_("<data>");</script>``: one push (a packet or payload) on an htmlfile stream."""
    compensated = data.replace("\\/", "\\\\/")  # the client strips one backslash before '/'
    literal = js_string_literal(compensated).replace("/", "\\/").replace("<", "\\u003c")
    return f"<script>_({literal});</script>"
