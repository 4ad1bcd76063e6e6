"""Cross-node broadcasts: gsocketio's RedisAdapter beside its MemoryAdapter and Node's
``@socket.io/redis-adapter`` 8.3, in the same run, on the shared Redis at 127.0.0.1:6379.

Per stack: ``--clients`` (50) socket.io-client 4.x WebSocket clients join room ``r`` on node B;
node A emits ``--broadcasts`` (2000) broadcasts to the room in one burst (memory: one node, A
is B). Reported: deliveries/s at the clients, and the server CPU time (user+system, from
/proc) per broadcast on the publishing node A and on the receiving node B (B's includes the
fan-out to its clients). Then A makes ``--calls`` (300) sequential broadcasts-with-acks to the
room (``sio.to("r").timeout(5).call("ask")`` / Node's ``emitWithAck``), every client
answering: calls/s and CPU µs per call on A and B. Every stack runs ``--repeat`` times, interleaved; medians are shown.
Every process and wait is bounded; each run uses its own channel prefix.

    .venv/bin/python bench/cluster.py [--clients 50] [--broadcasts 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NODE = shutil.which("node") or "node"
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def start(stack: str, key: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    if stack == "node":
        cmd = [NODE, str(HERE / "servers" / "node_cluster.js"), str(port), key]
    else:
        cmd = [sys.executable, str(HERE / "servers" / "gsocketio_cluster.py"), str(port), key]
    env = dict(os.environ, NODE_PATH=str(ROOT / "node_modules"), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{stack} node did not start")


def run_once(stack: str, clients: int, broadcasts: int, calls: int) -> dict[str, float]:
    key = f"gsio-bench-{uuid.uuid4().hex}" if stack != "memory" else "memory"
    kind = "node" if stack == "node" else "gsocketio"
    a, url_a = start(kind, key)
    procs = [a]
    try:
        if stack == "memory":
            b, url_b = a, url_a
        else:
            b, url_b = start(kind, key)
            procs.append(b)
        load = subprocess.Popen(
            [NODE, str(HERE / "load" / "cluster_load.js"), url_b, str(clients), str(broadcasts)],
            env=dict(os.environ, NODE_PATH=str(ROOT / "node_modules")), stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        procs.append(load)  # type: ignore[arg-type]
        assert load.stdout is not None
        assert json.loads(load.stdout.readline()) == {"ready": True}
        time.sleep(0.5)
        cpu_a, cpu_b = cpu_seconds(a.pid), cpu_seconds(b.pid)
        with urllib.request.urlopen(f"{url_a}/burst?n={broadcasts}", timeout=60) as resp:
            resp.read()
        result = json.loads(load.stdout.readline())
        if "done" not in result:
            raise RuntimeError(f"{stack}: clients got {result} of {clients * broadcasts}")
        time.sleep(0.2)
        used_a, used_b = cpu_seconds(a.pid) - cpu_a, cpu_seconds(b.pid) - cpu_b
        cpu_a, cpu_b = cpu_seconds(a.pid), cpu_seconds(b.pid)
        began = time.monotonic()
        with urllib.request.urlopen(f"{url_a}/calls?n={calls}", timeout=120) as resp:
            resp.read()
        took = time.monotonic() - began
        call_a, call_b = cpu_seconds(a.pid) - cpu_a, cpu_seconds(b.pid) - cpu_b
        remote = stack != "memory"
        return {
            "deliveries_per_s": clients * broadcasts / max(result["done"], 1) * 1000,
            "publisher_us": used_a / broadcasts * 1e6,
            "receiver_us": (used_b / broadcasts * 1e6) if remote else 0.0,
            "calls_per_s": calls / took,
            "call_a_us": call_a / calls * 1e6,
            "call_b_us": (call_b / calls * 1e6) if remote else 0.0,
        }
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=5)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--broadcasts", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=300, help="sequential broadcast-acks")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    stacks = {"memory": "gsocketio, memory adapter (1 node)", "redis": "gsocketio, RedisAdapter (2 nodes)",
              "node": "Node socket.io + redis-adapter (2 nodes)"}  # fmt: skip
    runs: dict[str, list[dict[str, float]]] = {s: [] for s in stacks}
    for _ in range(args.repeat):
        for stack in stacks:
            runs[stack].append(run_once(stack, args.clients, args.broadcasts, args.calls))
    print(f"{args.clients} clients, {args.broadcasts} broadcasts, median of {args.repeat}")
    print(f"{'stack':44} {'deliveries/s':>13} {'A µs/bcast':>11} {'B µs/bcast':>11}"
          f" {'calls/s':>8} {'A µs/call':>10} {'B µs/call':>10}")  # fmt: skip
    summary: dict[str, Any] = {}
    for stack, label in stacks.items():
        med = {k: statistics.median(r[k] for r in runs[stack]) for k in runs[stack][0]}
        summary[stack] = med
        print(f"{label:44} {med['deliveries_per_s']:13.0f} {med['publisher_us']:11.1f}"
              f" {med['receiver_us']:11.1f} {med['calls_per_s']:8.0f} {med['call_a_us']:10.0f}"
              f" {med['call_b_us']:10.0f}")  # fmt: skip
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"cluster-{int(time.time())}.json").write_text(
        json.dumps({"args": vars(args), "runs": runs, "median": summary}, indent=1)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
