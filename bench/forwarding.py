"""Forwarded polling vs local polling (issue 12): what a request for another process's session costs.

Two gsocketio echo nodes share a node directory, both pinned to core 0 (the load generator,
bench/load/forward_load.js, to core 1). ``local`` (one worker): clients handshake with node A
and send every request to A. ``forwarded``: the handshake goes to A and every later request to
B, which forwards it to A over A's unix socket (the worst case: 100 % of requests forwarded).
``roundrobin`` (two workers behind a round-robin balancer): handshakes alternate between A and
B and each client's requests too, so half of them are forwarded. Reported per cell: acks/s,
p50/p99 round trip of one echo (POST + GET), and the CPU of both servers per ack.

    .venv/bin/python bench/forwarding.py [--seconds 4] [--clients 1,50]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ENV = dict(os.environ, NODE_PATH=str(ROOT / "node_modules"), PYTHONPATH=str(ROOT))
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def start_node(node_dir: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, str(HERE / "servers" / "gsocketio_node.py"), "0", node_dir],
        cwd=ROOT, env=ENV, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise SystemExit(f"node did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}"


def cell(owner: str, entry: str, pids: list[int], clients: int, seconds: float) -> dict[str, Any]:
    load = subprocess.Popen(
        ["taskset", "-c", "1", "node", str(HERE / "load" / "forward_load.js"), owner, entry,
         str(clients), str(seconds)],
        cwd=ROOT, env=ENV, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert load.stdout is not None
    first = json.loads(load.stdout.readline())
    if first.get("phase") != "start":
        raise SystemExit(f"load failed: {first}")
    before = [cpu_s(p) for p in pids]
    t0 = time.monotonic()
    result: dict[str, Any] = json.loads(load.stdout.readline())
    elapsed = time.monotonic() - t0
    after = [cpu_s(p) for p in pids]
    load.wait(timeout=10)
    if "error" in result:
        raise SystemExit(f"load failed: {result}")
    server_cpu = sum(a - b for a, b in zip(after, before, strict=True))
    result["server_cpu_pct"] = 100 * server_cpu / elapsed
    result["server_cpu_us_per_ack"] = 1e6 * server_cpu / max(1, result["acks"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--clients", default="1,50")
    args = parser.parse_args()
    print("load average:", os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="gsio-bench-nodes-") as node_dir:
        a, url_a = start_node(node_dir)
        b, url_b = start_node(node_dir)
        try:
            rows = []
            for clients in (int(c) for c in args.clients.split(",")):
                both = f"{url_a},{url_b}"
                modes = (("local", url_a, url_a), ("forwarded", url_a, url_b))
                for mode, owner, entry in (*modes, ("roundrobin", both, both)):
                    r = cell(owner, entry, [a.pid, b.pid], clients, args.seconds)
                    rows.append((clients, mode, r))
                    print(
                        f"{clients:>4} clients {mode:>10}: {r['acks_per_s']:8.0f} acks/s  "
                        f"p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  "
                        f"servers {r['server_cpu_us_per_ack']:.0f} µs CPU/ack "
                        f"({r['server_cpu_pct']:.0f}% of core 0)  load {r['self_cpu_pct']:.0f}%",
                        flush=True,
                    )
        finally:
            for proc in (a, b):
                proc.kill()
                proc.wait(timeout=5)


if __name__ == "__main__":
    main()
