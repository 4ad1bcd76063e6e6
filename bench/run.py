"""Run the benchmarks: gsocketio, python-socketio (gevent) and Node socket.io in the same run.

Each server runs pinned to core 0 and the Node load generator to core 1 (taskset), one server
at a time, on an ephemeral port of 127.0.0.1. Prints absolute figures and ratios, and writes
JSON to bench/results/.

    .venv/bin/python bench/run.py [--scenario echo] [--clients 100] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
NODE = shutil.which("node") or "node"

SERVERS: dict[str, list[str]] = {
    "gsocketio": [PY, str(HERE / "servers" / "gsocketio_echo.py")],
    "python-socketio (gevent)": [PY, str(HERE / "servers" / "pysio_echo.py")],
    "node socket.io": [NODE, str(HERE / "servers" / "node_echo.js")],
}


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


def pin(core: int, cmd: list[str]) -> list[str]:
    return ["taskset", "-c", str(core), *cmd] if shutil.which("taskset") and os.cpu_count() and os.cpu_count() > 1 else cmd  # type: ignore[operator]


def run_one(name: str, cmd: list[str], args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    env = dict(os.environ, NODE_PATH=str(ROOT / "node_modules"))
    server = subprocess.Popen(pin(0, [*cmd, str(port)]), env=env, cwd=ROOT)
    try:
        wait_listening(port, server)
        load = subprocess.run(
            pin(1, [NODE, str(HERE / "load" / "echo_load.js"), f"http://127.0.0.1:{port}",
                    str(args.clients), str(args.seconds), str(args.size), args.transport]),
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=args.seconds + 90,
        )
        lines = [ln for ln in load.stdout.splitlines() if ln.startswith("{")]
        result: dict[str, Any] = json.loads(lines[-1]) if lines else {"error": load.stderr[-500:]}
        result["server_rss_kib"] = rss_kib(server.pid)
        return result
    finally:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)


def versions() -> dict[str, str]:
    from importlib.metadata import version

    out = {"python": platform.python_version(), "node": subprocess.run(
        [NODE, "--version"], capture_output=True, text=True).stdout.strip()}
    for dist in ("gsocketio", "python-socketio", "python-engineio", "gevent", "gevent-websocket",
                 "websockets"):
        try:
            out[dist] = version(dist)
        except Exception:  # noqa: BLE001 - a missing peer is reported, not fatal
            out[dist] = "not installed"
    pkg = ROOT / "node_modules" / "socket.io" / "package.json"
    out["socket.io (node)"] = json.loads(pkg.read_text())["version"] if pkg.exists() else "missing"
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--transport", default="websocket", choices=["websocket", "polling"])
    parser.add_argument("--only", action="append", help="run only these servers")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for name, cmd in SERVERS.items():
        if args.only and name not in args.only:
            continue
        print(f"== {name}", flush=True)
        results[name] = run_one(name, cmd, args)
        print(json.dumps(results[name]), flush=True)
    base = results.get("gsocketio", {}).get("rate")
    print(f"\necho with ack, {args.clients} clients, {args.transport}, {args.size}-byte payload, "
          f"{args.seconds}s; server on core 0, load on core 1")
    print("| server | acks/s | p50 ms | p99 ms | RSS MiB | gsocketio ÷ server |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        rate = r.get("rate")
        ratio = f"{base / rate:.2f}" if base and rate else "-"
        print(f"| {name} | {rate or r.get('error')!s:.8} | {r.get('p50_ms')} | {r.get('p99_ms')} | "
              f"{r.get('server_rss_kib', 0) / 1024:.1f} | {ratio} |")
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out_dir / f"echo-{args.transport}-{stamp}.json").write_text(json.dumps(
        {"args": vars(args), "versions": versions(), "results": results}, indent=2))
    print("versions:", json.dumps(versions()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
