"""Per-emit CPU cost of connection state recovery on the memory adapter, against Node's.

The same ``gsocketio.Server`` with and without ``connection_state_recovery`` and
``--sockets`` (100) registered sockets in room ``r`` whose delivery is a no-op (so the number
is the Socket.IO layer's and the adapter's, not the transport's): ``sio.emit`` to the room,
then to one sid (which, with recovery on, goes through the adapter like Node's does), each
``--emits`` (20 000) times, ``--repeat`` (3) interleaved rounds, medians. Then the same on
Node socket.io 4.x with and without ``connectionStateRecovery`` (``recovery_cost_node.js``,
fake sockets likewise), unless ``--no-node``. Bounded (≈ 15 s); it refuses when the 1-minute
load is ≥ ``--max-load`` (2): the figures are for a quiet machine.

    .venv/bin/python bench/recovery_cost.py [--emits 20000] [--sockets 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
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


def node_figures(emits: int, sockets: int, repeat: int) -> dict[str, dict[str, list[float]]]:
    """Run ``recovery_cost_node.js`` (needs ``node`` and the repo's node_modules)."""
    root = Path(__file__).resolve().parents[1]
    node = shutil.which("node")
    if node is None:
        sys.exit("node not found (or pass --no-node)")
    out = subprocess.run(
        [node, str(root / "bench" / "recovery_cost_node.js"), str(emits), str(sockets), str(repeat)],
        capture_output=True, text=True, timeout=120, check=True, cwd=root,
        env=dict(os.environ, NODE_PATH=str(root / "node_modules")),
    )  # fmt: skip
    figures: dict[str, dict[str, list[float]]] = json.loads(out.stdout)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--emits", type=int, default=20_000)
    parser.add_argument("--sockets", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-node", action="store_true", help="skip the Node socket.io run")
    parser.add_argument("--max-load", type=float, default=2.0)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    if load >= args.max_load:
        sys.exit(f"load average {load:.2f} >= {args.max_load}: not measuring on a busy machine")
    results: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeat):
        for recovery in (False, True):
            sio, sid = build(recovery, args.sockets)
            label = "recovery" if recovery else "plain"
            for target_name, target in (("room", "r"), ("sid", sid)):
                key: Any = (label, target_name)
                results.setdefault(key, []).append(per_emit_us(sio, target, args.emits))
    node = None if args.no_node else node_figures(args.emits, args.sockets, args.repeat)
    print(
        f"load {load:.2f}; {args.sockets} sockets in the room; CPU µs per emit (median of {args.repeat})"
    )
    head = f"{'target':<8}{'gsio':>8}{'+rec':>8}{'extra':>8}"
    print(head + (f"{'node':>10}{'+rec':>8}{'extra':>8}" if node else ""))
    for target_name in ("room", "sid"):
        plain = statistics.median(results[("plain", target_name)])
        rec = statistics.median(results[("recovery", target_name)])
        line = f"{target_name:<8}{plain:>8.2f}{rec:>8.2f}{rec - plain:>+8.2f}"
        if node:
            n_plain = statistics.median(node["plain"][target_name])
            n_rec = statistics.median(node["recovery"][target_name])
            line += f"{n_plain:>10.2f}{n_rec:>8.2f}{n_rec - n_plain:>+8.2f}"
        print(line)


if __name__ == "__main__":
    main()
