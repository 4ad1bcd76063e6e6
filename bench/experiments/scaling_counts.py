"""Why does the echo cost per ack grow with the client count (issue #14)? Counts per ack.

Runs the gsocketio bench echo server (pinned to core 0) with counters installed before it
starts, drives it with the lean load generator (core 1) at each client count, and prints, per
ack over the measured window: server user and system CPU, hub loop iterations, voluntary
context switches (the server blocked in ``epoll_wait``), lingering waits and their expiries,
parks (a reader greenlet ended, its connection waited on a watcher) and unparks, inline-handler
takeovers, reader starts, pool spawns that had to make a greenlet, flush callbacks and the
connections each wrote, garbage collections per generation and the time they took, and (with
``--switches``) greenlet switches. The counters are Python wrappers, so the CPU figures of this
script are inflated; take CPU per ack from ``bench/run.py``, the counts from here.

    PYTHONPATH=. .venv/bin/python bench/experiments/scaling_counts.py --clients 10,100,1000,5000
                                        [--seconds 5] [--switches] [--tree DIR] [--env K=V ...]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from harness import (  # noqa: E402
    ENV,
    PY,
    Cell,
    LoadProcess,
    budget,
    cpu_seconds,
    free_port,
    load_cmd,
    pin,
    raise_fd_limit,
    wait_listening,
)

# Installed in the server process before the bench server script runs (it monkey-patches
# first, as the script itself does). SIGUSR1 writes a snapshot of the counters.
PRELUDE = r"""
import sys
from gevent import monkey
monkey.patch_all()
import gc, json, os, runpy, signal, time
import gevent, greenlet
from gsocketio import greenlets as G
from gsocketio.engine import websocket as EW
from gsocketio.websocket import parking as P

C = {"gc0": 0, "gc1": 0, "gc2": 0, "gc_s": 0.0, "parks": 0, "unparks": 0, "lingers": 0,
     "linger_expired": 0, "takeovers": 0, "reads": 0, "spawns": 0, "new_greenlets": 0,
     "flush_runs": 0, "flushed": 0, "switches": 0}
_t = [0.0]
def _gc(phase, info):
    if phase == "start":
        _t[0] = time.perf_counter()
    else:
        dt = time.perf_counter() - _t[0]
        C["gc_s"] += dt
        C["gc%d_s" % info["generation"]] = C.get("gc%d_s" % info["generation"], 0.0) + dt
        C["gc%d" % info["generation"]] += 1
gc.callbacks.append(_gc)

WRAP = os.environ.get("COUNT_WRAP", "1") == "1"
import tracemalloc
if os.environ.get("TRACEMALLOC"):
    tracemalloc.start(8)
if os.environ.get("LINGER"):
    EW.LINGER = float(os.environ["LINGER"])
if os.environ.get("GC_THRESHOLD"):
    gc.set_threshold(*map(int, os.environ["GC_THRESHOLD"].split(",")))
def wrap(cls, name, before):
    orig = getattr(cls, name)
    if not WRAP:
        return orig
    def wrapper(self, *a, **k):
        before(self, *a)
        return orig(self, *a, **k)
    setattr(cls, name, wrapper)
    return orig

def inc(key):
    def f(*_):
        C[key] += 1
    return f

wrap(EW.WebSocketIO, "_read", inc("reads"))
wrap(EW.WebSocketIO, "_readable", inc("unparks"))
def _take(self, blocked):
    if self._reader is blocked:
        C["takeovers"] += 1
wrap(EW.WebSocketIO, "_take_over", _take)
orig_wr = P.Parking.wait_readable
HIST = {}
def wait_readable(self, timeout):
    C["lingers"] += 1
    t0 = time.monotonic()
    came = orig_wr(self, timeout)
    dt = time.monotonic() - t0
    b = "%s<%g" % ("came" if came else "expired", next(x for x in (0.001, 0.01, 0.1, 0.3, 0.6, 0.9, 1.0, 1.2, 2, 1e9) if dt < x))
    HIST[b] = HIST.get(b, 0) + 1
    if not came:
        C["linger_expired"] += 1
    return came
if WRAP:
    P.Parking.wait_readable = wait_readable
wrap(P.Parking, "when_readable", inc("parks"))
def _spawn(self, fn, *args):
    C["spawns"] += 1
    if not self._idle:
        C["new_greenlets"] += 1
wrap(G.WorkerPool, "spawn", _spawn)
def _run(self):
    C["flush_runs"] += 1
    C["flushed"] += len(self._pending)
wrap(G.FlushQueue, "_run", _run)
if os.environ.get("COUNT_SWITCHES") == "1":
    def _trace(event, args):
        if event in ("switch", "throw"):
            C["switches"] += 1
    greenlet.settrace(_trace)

def snapshot(*_):
    out = dict(C)
    out["iterations"] = gevent.get_hub().loop.iteration
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches"):
                out["vcsw"] = int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches"):
                out["ivcsw"] = int(line.split()[1])
    out["gc_objects"] = len(gc.get_objects())
    out["gc_count"] = gc.get_count()
    out["hist"] = dict(HIST)
    with open(os.environ["COUNTS_FILE"], "a") as f:
        f.write(json.dumps(out) + "\n")
gevent.signal_handler(signal.SIGUSR1, snapshot)
def census(*_):
    from collections import Counter
    out = {}
    for g in (1,):
        c = Counter(type(o).__qualname__ for o in gc.get_objects(generation=g))
        out["gen%d" % g] = c.most_common(12)
        objs = gc.get_objects(generation=g)
        d = Counter()
        for o in objs:
            t = type(o).__qualname__
            if t == "method":
                d["method " + o.__func__.__qualname__] += 1
            elif t == "builtin_function_or_method":
                d["builtin %s.%s" % (type(o.__self__).__qualname__, o.__name__)] += 1
            if t in ("cell", "callback") and tracemalloc.is_tracing():
                tb = tracemalloc.get_object_traceback(o)
                if tb is not None:
                    d[t + " from " + " < ".join("%s:%d" % (f.filename.split("/")[-1], f.lineno) for f in tb)] += 1
            if t == "cell":
                try:
                    d["cell holds " + type(o.cell_contents).__qualname__] += 1
                except ValueError:
                    d["cell empty"] += 1
            elif t == "cell" and d["cells"] < 5:
                d["cells"] += 1
                for r in gc.get_referrers(o):
                    if r is objs:
                        continue
                    d["cell in " + getattr(r, "__qualname__", type(r).__qualname__)] += 1
                    if type(r) is tuple:
                        for r2 in gc.get_referrers(r):
                            if r2 is not objs:
                                d["cell tuple in %s %s" % (type(r2).__qualname__, getattr(r2, "__qualname__", ""))] += 1
            elif t == "list" and len(d) < 1000:
                d["list len %d" % min(len(o), 3)] += 1
            elif t == "callback":
                d["callback %r" % (getattr(o.callback, "__qualname__", o.callback),)] += 1
        out["detail%d" % g] = d.most_common(12)
        del objs
    with open(os.environ["COUNTS_FILE"] + ".census", "a") as f:
        f.write(json.dumps(out) + "\n")
gevent.signal_handler(signal.SIGUSR2, census)
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
"""

CENSUS = "--census" in sys.argv
PER_ACK = [
    "iterations",
    "vcsw",
    "lingers",
    "linger_expired",
    "parks",
    "unparks",
    "takeovers",
    "reads",
    "spawns",
    "new_greenlets",
    "flush_runs",
    "switches",
]


def user_sys(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tck, int(fields[12]) / tck


def one(tree: Path, clients: int, seconds: int, env: dict[str, str]) -> dict[str, Any]:
    port = free_port()
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        counts = Path(f.name)
    env = dict(env, COUNTS_FILE=str(counts), PYTHONPATH=str(tree))
    script = tree / "bench" / "servers" / "gsocketio_echo.py"
    if not script.exists():
        script = HERE / "servers" / "gsocketio_echo.py"
    server = subprocess.Popen(pin(0, [PY, "-c", PRELUDE, str(script), str(port)]), env=env)
    try:
        wait_listening(port, server)
        cell = Cell("echo", clients=clients, seconds=seconds)
        load = LoadProcess(load_cmd(cell, f"http://127.0.0.1:{port}"), budget(cell))
        start = (0.0, 0.0)
        result: dict[str, Any] = {}
        while (line := load.next_json()) is not None:
            if line.get("phase") == "start":
                start = user_sys(server.pid)
                server.send_signal(signal.SIGUSR1)
                if CENSUS:
                    for _ in range(3):
                        time.sleep(seconds / 4)
                        server.send_signal(signal.SIGUSR2)
            else:
                end = user_sys(server.pid)
                server.send_signal(signal.SIGUSR1)
                result = line
                break
        load.stop()
        time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=10)
    census = Path(str(counts) + ".census")
    if census.exists():
        print(census.read_text(), file=sys.stderr)
        census.unlink()
    snaps = [json.loads(x) for x in counts.read_text().splitlines()]
    counts.unlink()
    if len(snaps) < 2 or not result.get("acks"):
        raise SystemExit(f"no result: {result} {snaps}")
    a, b = snaps[0], snaps[1]
    acks = result["acks"]
    out: dict[str, Any] = {
        "clients": clients,
        "acks": acks,
        "rate": round(result["rate"]),
        "p50_ms": round(result["p50_ms"], 2),
        "p99_ms": round(result["p99_ms"], 2),
        "user_us": round(1e6 * (end[0] - start[0]) / acks, 2),
        "sys_us": round(1e6 * (end[1] - start[1]) / acks, 2),
    }
    for key in PER_ACK:
        if key in a:
            out[key] = round((b[key] - a[key]) / acks, 4)
    out["flushed_per_run"] = round(
        (b["flushed"] - a["flushed"]) / max(1, b["flush_runs"] - a["flush_runs"]), 2
    )
    out["gc"] = [b[f"gc{g}"] - a[f"gc{g}"] for g in range(3)]
    out["gc_us_per_ack"] = round(1e6 * (b["gc_s"] - a["gc_s"]) / acks, 3)
    out["gc_us_per_ack_by_gen"] = [
        round(1e6 * (b.get(f"gc{g}_s", 0) - a.get(f"gc{g}_s", 0)) / acks, 3) for g in range(3)
    ]
    out["gc_objects"] = b["gc_objects"]
    out["wait_hist"] = {k: b["hist"][k] - a["hist"].get(k, 0) for k in sorted(b["hist"])}
    out["load_cpu_pct"] = round(result.get("self_cpu_pct", 0))
    _ = cpu_seconds
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="10,100,1000,5000")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--switches", action="store_true", help="count greenlet switches")
    parser.add_argument("--no-wrap", action="store_true", help="no method wrappers (CPU)")
    parser.add_argument("--census", action="store_true", help="types in gen 0 and 1, 3 times")
    parser.add_argument("--tree", type=Path, default=HERE.parent)
    parser.add_argument("--env", action="append", default=[], help="K=V for the server")
    args = parser.parse_args()
    raise_fd_limit()
    env = dict(ENV)
    if args.switches:
        env["COUNT_SWITCHES"] = "1"
    if args.no_wrap:
        env["COUNT_WRAP"] = "0"
    for kv in args.env:
        k, _, v = kv.partition("=")
        env[k] = v
    rows = [one(args.tree, int(n), args.seconds, env) for n in args.clients.split(",")]
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
