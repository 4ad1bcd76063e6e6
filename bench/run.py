"""Run the benchmarks: gsocketio, python-socketio (gevent) and Node socket.io in the same run.

Each server runs pinned to core 0 and the Node load generator to core 1 (taskset), one server
at a time, on an ephemeral port of 127.0.0.1. Prints absolute figures and the gsocketio ÷ peer
ratios, and writes JSON to bench/results/.

Scenarios (``--scenario``, repeatable; ``all`` runs every one):

``echo``       ``--clients`` (100) socket.io-client 4.x clients over WebSocket, each in a closed
               loop ``emit("echo", payload, ack)`` for ``--seconds``: acks/s, latency, and the
               server's CPU time per ack (steadier than acks/s on a shared machine).
``polling``    the same over HTTP long-polling only (``transports: ["polling"]``).
``broadcast``  ``--clients`` (1000) WebSocket clients in one room; one of them emits
               ``broadcast`` ``--broadcasts`` (100) times in a burst, the server emits each to
               the room: deliveries/s across all clients (median of ``--rounds`` rounds).
``idle``       ``--clients`` (2000) idle WebSocket connections: server RSS growth per socket.

The load generator is ``bench/load/lean.js`` by default: a minimal Engine.IO 4 / Socket.IO 5
client on raw TCP sockets, so the load side is never the saturated one; ``--load client`` uses
socket.io-client 4.x instead (the older generators, kept to compare).

``--repeat N`` runs every server N times, interleaved (A B C A B C ...), and reports medians:
use it on a machine where other work runs. ``--baseline DIR`` adds "gsocketio (baseline)": the
same server script importing the ``gsocketio`` package found in DIR (a copy of another
revision's source tree), for before/after figures from one interleaved run. Every run, wait
and loop is bounded in time.

    .venv/bin/python bench/run.py [--scenario echo] [--clients N] [--seconds 10] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
NODE = shutil.which("node") or "node"
LOAD = HERE / "load"

SERVERS: dict[str, list[str]] = {
    "gsocketio": [PY, str(HERE / "servers" / "gsocketio_echo.py")],
    "python-socketio (gevent)": [PY, str(HERE / "servers" / "pysio_echo.py")],
    "node socket.io": [NODE, str(HERE / "servers" / "node_echo.js")],
}
SCENARIOS = ("echo", "polling", "broadcast", "idle")
DEFAULT_CLIENTS = {"echo": 100, "polling": 100, "broadcast": 1000, "idle": 2000}
IDLE_SETTLE = 3.0  # seconds between "all connected" and the RSS sample


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server not listening on {port} after {timeout}s")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pin(core: int, cmd: list[str]) -> list[str]:
    cores = os.cpu_count() or 1
    return ["taskset", "-c", str(core), *cmd] if shutil.which("taskset") and cores > 1 else cmd


def last_json(text: str) -> dict[str, Any]:
    lines = [ln for ln in text.splitlines() if ln.startswith("{")]
    return dict(json.loads(lines[-1])) if lines else {}


# --- scenarios: each drives one running server and returns its figures ----------------------


LEAN_SCENARIOS = {"echo_load.js": "echo", "broadcast_load.js": "broadcast", "idle_load.js": "idle"}
LOAD_KIND = {"kind": "lean"}  # set from --load in main()


def load_cmd(script: str, *args: object) -> list[str]:
    """The load generator's command, pinned to core 1: the lean raw-socket client
    (bench/load/lean.js, the default) or socket.io-client (``--load client``)."""
    if LOAD_KIND["kind"] == "lean":
        cmd = [NODE, str(LOAD / "lean.js"), LEAN_SCENARIOS[script]]
    else:
        cmd = [NODE, str(LOAD / script)]
    return pin(1, [*cmd, *(str(a) for a in args)])


def run_echo(url: str, pid: int, args: argparse.Namespace, transport: str) -> dict[str, Any]:
    cpu0 = cpu_seconds(pid)
    load = subprocess.run(
        load_cmd("echo_load.js", url, args.clients, args.seconds, args.size, transport),
        env=ENV,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=args.seconds + 90,
    )
    result = last_json(load.stdout) or {"error": load.stderr[-500:]}
    if result.get("acks"):
        result["cpu_us_per_ack"] = 1e6 * (cpu_seconds(pid) - cpu0) / result["acks"]
    return result


def run_broadcast(url: str, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    cpu0 = cpu_seconds(pid)
    load = subprocess.run(
        load_cmd(
            "broadcast_load.js",
            url,
            args.clients,
            args.broadcasts,
            args.size,
            args.rounds,
            "websocket",
        ),
        env=ENV,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180 + 60 * args.rounds,
    )
    result = last_json(load.stdout) or {"error": load.stderr[-500:]}
    result["server_cpu_s"] = cpu_seconds(pid) - cpu0
    return result


def run_idle(url: str, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    time.sleep(1.0)
    before = rss_kib(pid)
    hold = IDLE_SETTLE + 5
    proc = subprocess.Popen(
        load_cmd("idle_load.js", url, args.clients, hold, "websocket"),
        env=ENV,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ready: dict[str, Any] = {}
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:  # readline is bounded by the script's own timeout
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("{"):
                ready = json.loads(line)
                break
        if not ready.get("ready"):
            return {"error": ready.get("error") or "load generator ended early"}
        time.sleep(IDLE_SETTLE)
        after = rss_kib(pid)
        out, _ = proc.communicate(timeout=hold + 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    final = last_json(out)
    connected = int(ready["connected"])
    return {
        "clients": connected,
        "alive_at_end": final.get("alive"),
        "connect_seconds": ready.get("connect_seconds"),
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_socket": (after - before) / connected if connected else None,
    }


def run_one(
    cmd: list[str], scenario: str, args: argparse.Namespace, env: dict[str, str]
) -> dict[str, Any]:
    port = free_port()
    server = subprocess.Popen(pin(0, [*cmd, str(port)]), env=env, cwd=ROOT)
    try:
        wait_listening(port, server)
        url = f"http://127.0.0.1:{port}"
        if scenario == "echo":
            result = run_echo(url, server.pid, args, "websocket")
        elif scenario == "polling":
            result = run_echo(url, server.pid, args, "polling")
        elif scenario == "broadcast":
            result = run_broadcast(url, server.pid, args)
        else:
            result = run_idle(url, server.pid, args)
        result["server_rss_kib"] = rss_kib(server.pid)
        return result
    finally:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)


# --- reporting --------------------------------------------------------------------------------

# scenario -> (title, [(column, key, format)], the key ratios are computed on, higher is better)
Column = tuple[str, str, Callable[[Any], str]]
NUM = "{:,.0f}".format
MS = "{:.1f}".format
KIB = "{:.1f}".format
TABLES: dict[str, tuple[str, list[Column], str, bool]] = {
    "echo": (
        "acks/s",
        [
            ("acks/s", "rate", NUM),
            ("CPU µs/ack", "cpu_us_per_ack", NUM),
            ("p50 ms", "p50_ms", MS),
            ("p99 ms", "p99_ms", MS),
        ],
        "rate",
        True,
    ),
    "polling": (
        "acks/s",
        [
            ("acks/s", "rate", NUM),
            ("CPU µs/ack", "cpu_us_per_ack", NUM),
            ("p50 ms", "p50_ms", MS),
            ("p99 ms", "p99_ms", MS),
        ],
        "rate",
        True,
    ),
    "broadcast": (
        "deliveries/s",
        [("deliveries/s", "rate", NUM), ("server CPU s", "server_cpu_s", MS)],
        "rate",
        True,
    ),
    "idle": (
        "KiB/socket",
        [
            ("KiB/socket", "kib_per_socket", KIB),
            ("RSS MiB", "rss_after_kib", lambda v: f"{v / 1024:.1f}"),
        ],
        "kib_per_socket",
        False,
    ),
}


def median_result(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per numeric key, the median over the runs that produced it."""
    good = [r for r in runs if "error" not in r] or runs
    merged: dict[str, Any] = dict(good[0])
    for key, value in good[0].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            values = [r[key] for r in good if isinstance(r.get(key), int | float)]
            merged[key] = statistics.median(values)
    merged["runs"] = len(good)
    return merged


def report(scenario: str, results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    title, columns, key, higher = TABLES[scenario]
    base = results.get("gsocketio", {}).get(key)
    detail = {
        "echo": f"{args.clients} clients, WebSocket, {args.size}-byte payload, {args.seconds}s",
        "polling": f"{args.clients} clients, long-polling, {args.size}-byte payload, {args.seconds}s",
        "broadcast": f"{args.clients} clients, {args.broadcasts} broadcasts x {args.rounds} rounds",
        "idle": f"{args.clients} idle WebSocket connections",
    }[scenario]
    print(
        f"\n{scenario}: {detail}; median of {args.repeat} run(s); server on core 0, load on core 1"
    )
    print("| server | " + " | ".join(c[0] for c in columns) + " | gsocketio ÷ server |")
    print("|---" * (len(columns) + 2) + "|")
    for name, r in results.items():
        cells = []
        for _, k, fmt in columns:
            value = r.get(k)
            cells.append(fmt(value) if isinstance(value, int | float) else str(r.get("error", "-")))
        value = r.get(key)
        ratio = "-"
        if base and isinstance(value, int | float) and value:
            ratio = f"{base / value:.2f}"
        print(f"| {name} | " + " | ".join(cells) + f" | {ratio} |")
    print(f"(ratio of {title}: {'higher' if higher else 'lower'} is better for gsocketio)")


def versions() -> dict[str, str]:
    from importlib.metadata import version

    out = {
        "python": platform.python_version(),
        "node": subprocess.run(
            [NODE, "--version"], capture_output=True, text=True, timeout=30
        ).stdout.strip(),
    }
    for dist in (
        "gsocketio",
        "python-socketio",
        "python-engineio",
        "gevent",
        "gevent-websocket",
        "greenlet",
        "websockets",
    ):
        try:
            out[dist] = version(dist)
        except Exception:  # noqa: BLE001 - a missing peer is reported, not fatal
            out[dist] = "not installed"
    for pkg in ("socket.io", "socket.io-client"):
        path = ROOT / "node_modules" / pkg / "package.json"
        out[f"{pkg} (node)"] = (
            json.loads(path.read_text())["version"] if path.exists() else "missing"
        )
    return out


ENV = dict(os.environ, NODE_PATH=str(ROOT / "node_modules"))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[*SCENARIOS, "all"],
        help="what to run (repeatable; default echo)",
    )
    parser.add_argument(
        "--clients", type=int, help="default: 100 (echo, polling), 1000 (broadcast), 2000 (idle)"
    )
    parser.add_argument("--seconds", type=int, default=10, help="echo/polling duration")
    parser.add_argument("--size", type=int, default=32, help="payload bytes")
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
        "--baseline",
        metavar="DIR",
        help="also run gsocketio from the source tree in DIR (before/after)",
    )
    args = parser.parse_args()
    LOAD_KIND["kind"] = args.load
    scenarios = args.scenario or ["echo"]
    if "all" in scenarios:
        scenarios = list(SCENARIOS)
    if args.transport == "polling":
        scenarios = ["polling" if s == "echo" else s for s in scenarios]
    servers = dict(SERVERS)
    envs = {name: ENV for name in servers}
    if args.baseline:
        servers["gsocketio (baseline)"] = SERVERS["gsocketio"]
        envs["gsocketio (baseline)"] = dict(ENV, PYTHONPATH=str(Path(args.baseline).resolve()))
    chosen = {n: c for n, c in servers.items() if not args.only or n in args.only}
    clients_arg = args.clients
    found = versions()
    print("versions:", json.dumps(found), flush=True)
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    for scenario in dict.fromkeys(scenarios):
        args.clients = clients_arg or DEFAULT_CLIENTS[scenario]
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in chosen}
        for i in range(args.repeat):
            for name, cmd in chosen.items():
                print(f"== {scenario} {name} ({i + 1}/{args.repeat})", flush=True)
                result = run_one(cmd, scenario, args, envs[name])
                runs[name].append(result)
                print(json.dumps(result), flush=True)
        results = {name: median_result(rs) for name, rs in runs.items()}
        report(scenario, results, args)
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
