"""Per-emit CPU cost of connection state recovery on the memory adapter, in one process.

The same ``gsocketio.Server`` with and without ``connection_state_recovery`` and
``--sockets`` (100) registered sockets in room ``r`` whose delivery is a no-op (so the number
is the Socket.IO layer's and the adapter's, not the transport's): ``sio.emit`` to the room,
then to one sid (which, with recovery on, goes through the adapter like Node's does), each
``--emits`` (20 000) times, ``--repeat`` (3) interleaved rounds, medians. Bounded (≈ 10 s);
run only on a quiet machine (it refuses when the 1-minute load is ≥ 2).

    .venv/bin/python bench/recovery_cost.py [--emits 20000] [--sockets 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

import gsocketio
from gsocketio.adapters.base import Encoded
from gsocketio.socket import SocketIOWire


class NullRecipient:
    """Stands in for a socket: encodes like one, delivers nowhere."""

    def __init__(self, wire: SocketIOWire) -> None:
        self.wire = wire
        self.pid = None
        self.data = None

    def deliver(self, items: Encoded) -> None:
        pass


def build(recovery: bool, sockets: int) -> tuple[gsocketio.Server, str]:
    sio = gsocketio.Server(connection_state_recovery=recovery or None)
    wire = SocketIOWire()
    for i in range(sockets):
        sid = f"s{i:019d}"
        sio.adapter.add_socket("/", sid, NullRecipient(wire))
        sio.adapter.enter_room("/", sid, "r")
    return sio, "s" + "0" * 19


def per_emit_us(sio: gsocketio.Server, target: str, emits: int) -> float:
    start = time.process_time()
    for i in range(emits):
        sio.emit("tick", i, {"k": "v"}, to=target)
    return (time.process_time() - start) / emits * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--emits", type=int, default=20_000)
    parser.add_argument("--sockets", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    if load >= 2:
        sys.exit(f"load average {load:.2f} >= 2: not measuring on a busy machine")
    results: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeat):
        for recovery in (False, True):
            sio, sid = build(recovery, args.sockets)
            label = "recovery" if recovery else "plain"
            for target_name, target in (("room", "r"), ("sid", sid)):
                key: Any = (label, target_name)
                results.setdefault(key, []).append(per_emit_us(sio, target, args.emits))
    print(
        f"load {load:.2f}; {args.sockets} sockets in the room; CPU µs per emit (median of {args.repeat})"
    )
    print(f"{'target':<8}{'plain':>10}{'recovery':>10}{'extra':>10}")
    for target_name in ("room", "sid"):
        plain = statistics.median(results[("plain", target_name)])
        rec = statistics.median(results[("recovery", target_name)])
        print(f"{target_name:<8}{plain:>10.2f}{rec:>10.2f}{rec - plain:>+10.2f}")


if __name__ == "__main__":
    main()
