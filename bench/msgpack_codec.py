"""What ``serializer="msgpack"`` costs per packet next to JSON: encode and decode, in-process.

One small chat event (``["chat", {nick, text, ts}]`` with an ack id) through
:mod:`gsocketio.protocol.msgpack_parser` and through the default text codec; for reference,
the C ``msgpack`` package on the same map (not used by gsocketio: ``protocol/`` is stdlib
only). Prints the best of ``--repeat`` timings of ``--number`` calls, in µs per call.

Usage: ``python bench/msgpack_codec.py [--number 5000] [--repeat 15]``
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable
from typing import Any

from gsocketio.protocol import socketio as text
from gsocketio.protocol.msgpack_parser import decode, encode

PACKET = text.Packet(
    text.PacketType.EVENT,
    "/",
    ["chat", {"nick": "alice", "text": "hello world", "ts": 1764581479.123}],
    12,
)


def cases() -> dict[str, Callable[[], Any]]:
    binary = encode(PACKET)[0]
    line = text.encode(PACKET)[0]
    decoder = text.Decoder()
    found: dict[str, Callable[[], Any]] = {
        "msgpack encode": lambda: encode(PACKET),
        "msgpack decode": lambda: decode(binary),
        "json encode": lambda: text.encode(PACKET),
        "json decode": lambda: decoder.feed(line),
    }
    try:
        import msgpack
    except ImportError:
        return found
    entry = {"type": 2, "nsp": "/", "data": PACKET.data, "id": 12}
    found["C msgpack packb (reference)"] = lambda: msgpack.packb(entry)
    found["C msgpack unpackb (reference)"] = lambda: msgpack.unpackb(binary)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--number", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    for name, fn in cases().items():
        best = min(timeit.repeat(fn, number=args.number, repeat=args.repeat)) / args.number
        print(f"{name:32s} {best * 1e6:7.2f} µs")


if __name__ == "__main__":
    main()
