"""Run the benchmarks: gsocketio, Node socket.io and python-socketio (gevent) in the same run.

Each server runs pinned to core 0 and the Node load generator to core 1 (taskset), one server
at a time, on an ephemeral port of 127.0.0.1. Prints absolute figures and the gsocketio ÷ peer
ratios, and writes JSON to bench/results/.

Scenarios (``--scenario``, repeatable; ``all`` runs every one):

``echo``       ``--clients`` (100) clients over WebSocket, each in a closed loop
               ``emit("echo", payload, ack)`` for ``--seconds``: acks/s, p50/p99 latency, and the
               server's CPU time per ack over the measured window (steadier than acks/s on a
               shared machine). ``--binary`` sends the payload as a binary attachment.
``polling``    the same over HTTP long-polling only.
``broadcast``  ``--clients`` (1000) WebSocket clients in one room; one of them emits
               ``broadcast`` ``--broadcasts`` (100) times in a burst, the server emits each to
               the room: deliveries/s across all clients (median of ``--rounds`` rounds).
``idle``       ``--clients`` (2000) idle WebSocket connections: server RSS at rest and its
               growth per socket.

``--matrix`` runs issue 14's scaling matrix instead (see bench/matrix.py): echo at 10/100/
1,000/5,000 clients, payloads 32 B to 64 KiB as text and binary, idle at 1,000/10,000
connections and one broadcast, every server interleaved, as Markdown tables for
docs/benchmarks.md. ``--groups``, ``--echo-clients``, ``--sizes``, ``--payload-clients`` and
``--idle-clients`` shrink it (e.g. for a quick check of the harness).

The load generator is ``bench/load/lean.js`` by default: a minimal Engine.IO 4 / Socket.IO 5
client on raw TCP sockets, so the load side is not the saturated one; its CPU use over the
window is reported next to every figure and a loud warning is printed above 85% of its core.
``--load client`` uses socket.io-client 4.x instead (the older generators, kept to compare).

``--repeat N`` runs every server N times, interleaved (A B C A B C ...), and reports medians.
``--admin`` adds "gsocketio (admin production)" and "gsocketio (admin development)": the same
server with ``sio.instrument(auth=False, mode=...)`` and no admin connected.
``--baseline DIR`` adds "gsocketio (baseline)": the same server script importing the
``gsocketio`` package found in DIR (a copy of another revision's source tree), for
before/after figures from one interleaved run; ``--baseline-label`` names it otherwise (say
"gsocketio (compiled)" for a copy from scripts/compiled_tree.py). Every run, wait and loop is
bounded in time.

    .venv/bin/python bench/run.py [--scenario echo] [--clients N] [--seconds 10] [--repeat 1]
    .venv/bin/python bench/run.py --matrix [--repeat 2] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import matrix
from harness import (
    ENV,
    HERE,
    SERVERS,
    Cell,
    gsocketio_origin,
    raise_fd_limit,
    run_cell,
    saturation_warning,
)
from harness import versions as tool_versions

SCENARIOS = ("echo", "polling", "broadcast", "idle")
DEFAULT_CLIENTS = {"echo": 100, "polling": 100, "broadcast": 1000, "idle": 2000}


# --- reporting --------------------------------------------------------------------------------

# scenario -> (title, [(column, key, format)], the key ratios are computed on, higher is better)
Column = tuple[str, str, matrix.Fmt]
MIB = "{:.1f}".format
ECHO: list[Column] = [
    ("acks/s", "rate", matrix.num),
    ("CPU µs/ack", "cpu_us_per_ack", matrix.one),
    ("p50 ms", "p50_ms", matrix.two),
    ("p99 ms", "p99_ms", matrix.two),
    ("load CPU %", "load_cpu_pct", matrix.num),
]
TABLES: dict[str, tuple[str, list[Column], str, bool]] = {
    "echo": ("acks/s", ECHO, "rate", True),
    "polling": ("acks/s", ECHO, "rate", True),
    "broadcast": (
        "deliveries/s",
        [
            ("deliveries/s", "rate", matrix.num),
            ("CPU µs/delivery", "cpu_us_per_delivery", matrix.two),
            ("load CPU %", "load_cpu_pct", matrix.num),
        ],
        "rate",
        True,
    ),
    "idle": (
        "KiB/socket",
        [
            ("KiB/socket", "kib_per_socket", matrix.one),
            ("RSS at rest MiB", "rss_before_kib", lambda v: MIB(v / 1024)),
            ("RSS MiB", "rss_after_kib", lambda v: MIB(v / 1024)),
        ],
        "kib_per_socket",
        False,
    ),
}


def report(cell: Cell, results: dict[str, dict[str, Any]], repeat: int) -> None:
    title, columns, key, higher = TABLES[cell.scenario]
    base = results.get("gsocketio", {}).get(key)
    print(f"\n{cell.label}; median of {repeat} run(s); server on core 0, load on core 1")
    print("| server | " + " | ".join(c[0] for c in columns) + " | gsocketio ÷ server |")
    print("|---" * (len(columns) + 2) + "|")
    for name, r in results.items():
        cells = [matrix.cell_text(r, k, fmt) for _, k, fmt in columns]
        if "error" in r:
            cells[0] = "error: " + str(r["error"])[:60]
        print(f"| {name} | " + " | ".join(cells) + f" | {matrix.ratio(base, r.get(key))} |")
    print(f"(ratio of {title}: {'higher' if higher else 'lower'} is better for gsocketio)")


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[*SCENARIOS, "all", "matrix"],
        help="what to run (repeatable; default echo; matrix = --matrix)",
    )
    parser.add_argument(
        "--clients", type=int, help="default: 100 (echo, polling), 1000 (broadcast), 2000 (idle)"
    )
    parser.add_argument("--seconds", type=int, default=10, help="echo/polling duration")
    parser.add_argument("--size", type=int, default=32, help="payload bytes")
    parser.add_argument("--binary", action="store_true", help="echo a binary attachment")
    parser.add_argument("--broadcasts", type=int, default=100, help="broadcasts per round")
    parser.add_argument("--rounds", type=int, default=3, help="broadcast rounds (median)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per server (median)")
    parser.add_argument(
        "--transport",
        choices=["websocket", "polling"],
        help="echo over this transport (same as --scenario polling)",
    )
    parser.add_argument(
        "--load",
        choices=["lean", "client"],
        default="lean",
        help="load generator: lean raw-socket client (default) or socket.io-client",
    )
    parser.add_argument("--only", action="append", help="run only these servers")
    parser.add_argument(
        "--pysio-as-shipped",
        action="store_true",
        help="python-socketio without TCP_NODELAY (pywsgi's default; replies stall on Nagle)",
    )
    parser.add_argument(
        "--baseline",
        metavar="DIR",
        help="also run gsocketio from the source tree in DIR (before/after)",
    )
    parser.add_argument(
        "--baseline-label",
        default="gsocketio (baseline)",
        help="the name of the --baseline server in the results (and for --only)",
    )
    parser.add_argument(
        "--admin",
        action="store_true",
        help="also run gsocketio instrumented for the Admin UI (production, development)",
    )
    group = parser.add_argument_group("scaling matrix (--matrix)")
    group.add_argument("--matrix", action="store_true", help="run the scaling matrix")
    group.add_argument(
        "--groups", default=",".join(matrix.GROUPS), help="comma list of matrix groups"
    )
    group.add_argument("--echo-clients", type=ints, default=[10, 100, 1000, 5000])
    group.add_argument("--sizes", type=ints, default=[32, 1024, 16384, 65536])
    group.add_argument("--payload-clients", type=int, default=100)
    group.add_argument("--idle-clients", type=ints, default=[1000, 10000])
    group.add_argument("--broadcast-clients", type=int, default=1000)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    limit = raise_fd_limit()
    scenarios = args.scenario or ["echo"]
    if "all" in scenarios:
        scenarios = list(SCENARIOS)
    if args.transport == "polling":
        scenarios = ["polling" if s == "echo" else s for s in scenarios]
    servers = {name: (cmd, ENV) for name, cmd in SERVERS.items()}
    if args.pysio_as_shipped:
        name = "python-socketio (gevent)"
        servers[name] = (SERVERS[name], dict(ENV, BENCH_PYSIO_NAGLE="1"))
    if args.baseline:
        tree = str(Path(args.baseline).resolve())
        servers[args.baseline_label] = (SERVERS["gsocketio"], dict(ENV, PYTHONPATH=tree))
    if args.admin:  # sio.instrument(mode=...) with no admin connected: what it costs per event
        for mode in ("production", "development"):
            env = dict(ENV, GSOCKETIO_BENCH_ADMIN=mode)
            servers[f"gsocketio (admin {mode})"] = (SERVERS["gsocketio"], env)
    chosen = {
        n: s
        for n, s in servers.items()
        if not args.only or n in args.only or (args.admin and n.startswith("gsocketio (admin"))
    }
    found = tool_versions()
    found["python-socketio TCP_NODELAY"] = "off" if args.pysio_as_shipped else "on"
    for name, (_, env) in chosen.items():
        if name.startswith("gsocketio"):
            found[f"{name} imports"] = gsocketio_origin(env)
    print("versions:", json.dumps(found), f"file descriptor limit: {limit}", flush=True)
    if args.matrix or "matrix" in scenarios:
        groups = [g for g in args.groups.split(",") if g]
        unknown = set(groups) - set(matrix.GROUPS)
        if unknown:
            print(f"unknown matrix groups: {sorted(unknown)}", file=sys.stderr)
            return 2
        plan = matrix.Plan(
            groups=groups,
            echo_clients=args.echo_clients,
            sizes=args.sizes,
            payload_clients=args.payload_clients,
            idle_clients=args.idle_clients,
            broadcast_clients=args.broadcast_clients,
            seconds=args.seconds,
            repeat=args.repeat,
        )
        return matrix.main(plan, chosen, found)
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    for scenario in dict.fromkeys(scenarios):
        cell = Cell(
            scenario,
            args.clients or DEFAULT_CLIENTS[scenario],
            args.seconds,
            args.size,
            args.binary and scenario == "echo",
            args.broadcasts,
            args.rounds,
            args.load,
        )
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in chosen}
        for i in range(args.repeat):
            for name, (cmd, env) in chosen.items():
                print(f"== {cell.label} | {name} ({i + 1}/{args.repeat})", flush=True)
                result = run_cell(cmd, cell, env)
                runs[name].append(result)
                print(json.dumps(result), flush=True)
                warning = saturation_warning(name, cell, result)
                if warning:
                    print(warning, flush=True)
        results = {name: matrix.median(rs) for name, rs in runs.items()}
        report(cell, results, args.repeat)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        (out_dir / f"{scenario}-{stamp}.json").write_text(
            json.dumps(
                {
                    "scenario": scenario,
                    "args": vars(args),
                    "versions": found,
                    "results": results,
                    "runs": runs,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
