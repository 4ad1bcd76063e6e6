"""Run one benchmark cell against one server process: the shared machinery of run.py and matrix.py.

A cell (scenario, clients, payload) is driven by the load generator as a subprocess pinned to
core 1 while the server runs pinned to core 0. Both processes' CPU time is read from
/proc/<pid>/stat when the load generator announces the measured window (``{"phase":"start"}``)
and when it prints its result, so CPU per ack excludes connection setup and the load
generator's own utilisation shows whether it, not the server, was the saturated side. Every
wait is bounded.
"""

from __future__ import annotations

import json
import os
import queue
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
NODE = shutil.which("node") or "node"
LOAD = HERE / "load"
# The servers import the gsocketio of the tree this bench/ belongs to (not whatever is installed).
ENV = dict(
    os.environ,
    NODE_PATH=str(ROOT / "node_modules"),
    PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
)

SERVERS: dict[str, list[str]] = {
    "gsocketio": [PY, str(HERE / "servers" / "gsocketio_echo.py")],
    "node socket.io": [NODE, str(HERE / "servers" / "node_echo.js")],
    "python-socketio (gevent)": [PY, str(HERE / "servers" / "pysio_echo.py")],
}
LOAD_SATURATED_PCT = 85.0  # load generator CPU above this share of its core: figure suspect
IDLE_SETTLE = 3.0  # seconds between "all connected" and the RSS sample
REST_SETTLE = 1.0  # seconds between "listening" and the at-rest RSS sample
CLIENT_SCRIPTS = {"echo": "echo_load.js", "broadcast": "broadcast_load.js", "idle": "idle_load.js"}


@dataclass(frozen=True)
class Cell:
    """One measurement: what the load generator does against each server."""

    scenario: str  # echo | polling | broadcast | idle
    clients: int
    seconds: int = 10
    size: int = 32
    binary: bool = False
    broadcasts: int = 100
    rounds: int = 3
    load: str = "lean"  # lean (bench/load/lean.js) | client (socket.io-client scripts)

    @property
    def label(self) -> str:
        if self.scenario == "idle":
            return f"idle {self.clients:,} connections"
        if self.scenario == "broadcast":
            return f"broadcast {self.clients:,} clients x {self.broadcasts}"
        kind = "binary" if self.binary else "text"
        return f"{self.scenario} {self.clients:,} clients {size_label(self.size)} {kind}"


def size_label(size: int) -> str:
    return f"{size // 1024} KiB" if size >= 1024 and size % 1024 == 0 else f"{size} B"


def raise_fd_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit, for this process and the children it starts."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return int(soft)


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


def rss_kib(pid: int) -> int | None:
    """Resident set size of a live process (None once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a live process so far (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fault_and_split(pid: int) -> tuple[int, float, float] | None:
    """(minor page faults, user CPU s, system CPU s) of a live process so far (None once gone):
    large payloads move the cost between user code and the kernel (page faults of freshly
    mapped buffers), which the CPU total alone does not show."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[7]), int(fields[11]) / tick, int(fields[12]) / tick


def pin(core: int, cmd: list[str]) -> list[str]:
    cores = os.cpu_count() or 1
    return ["taskset", "-c", str(core), *cmd] if shutil.which("taskset") and cores > 1 else cmd


def load_cmd(cell: Cell, url: str) -> list[str]:
    """The load generator's command line for a cell, pinned to core 1 (taskset execs it, so the
    child's pid is the generator's own)."""
    scenario = "echo" if cell.scenario == "polling" else cell.scenario
    transport = "polling" if cell.scenario == "polling" else "websocket"
    if scenario == "echo":
        kind = "binary" if cell.binary else "text"
        args: list[object] = [cell.clients, cell.seconds, cell.size, transport, kind]
    elif scenario == "broadcast":
        args = [cell.clients, cell.broadcasts, cell.size, cell.rounds, "websocket"]
    else:
        args = [cell.clients, IDLE_SETTLE + 5, "websocket"]
    if cell.load == "lean":
        cmd = [NODE, str(LOAD / "lean.js"), scenario, url]
    else:
        cmd = [NODE, str(LOAD / CLIENT_SCRIPTS[scenario]), url]
    return pin(1, [*cmd, *(str(a) for a in args)])


def budget(cell: Cell) -> float:
    """Seconds the load generator may take in all (its own hard stop is shorter)."""
    connect = 60 + cell.clients / 50
    if cell.scenario == "broadcast":
        return connect + 60 * cell.rounds + 30
    if cell.scenario == "idle":
        return connect + IDLE_SETTLE + 5 + 60
    return connect + cell.seconds + 30


class LoadProcess:
    """The load generator as a subprocess whose JSON lines are read by a thread, so every
    wait for the next line has a deadline."""

    def __init__(self, cmd: list[str], timeout: float) -> None:
        self.proc = subprocess.Popen(
            cmd, env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.deadline = time.monotonic() + timeout
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        threading.Thread(target=self._pump, args=(self.proc.stdout, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, False), daemon=True).start()

    def _pump(self, stream: IO[str], is_stdout: bool) -> None:
        for line in stream:
            if is_stdout:
                self.lines.put(line)
            elif len(self.stderr) < 50:
                self.stderr.append(line)
        if is_stdout:
            self.lines.put(None)

    def next_json(self) -> dict[str, Any] | None:
        """The next JSON line, or None at end of output or past the deadline."""
        while True:
            left = self.deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                return None
            if line.startswith("{"):
                return dict(json.loads(line))

    def error(self, what: str) -> dict[str, Any]:
        return {"error": what, "stderr": "".join(self.stderr)[-500:]}

    def stop(self, grace: float = 15.0) -> None:
        """Give the generator ``grace`` seconds to exit on its own (it does right after its
        last line), then kill it."""
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


Window = tuple[float, float | None, float | None, tuple[int, float, float] | None]


def _window(server: int, load: int) -> Window:
    return time.monotonic(), cpu_seconds(server), cpu_seconds(load), fault_and_split(server)


def run_load(cell: Cell, url: str, server_pid: int) -> dict[str, Any]:
    """Echo, polling or broadcast: the load generator's result plus CPU over the window."""
    load = LoadProcess(load_cmd(cell, url), budget(cell))
    try:
        start = _window(server_pid, load.proc.pid)  # replaced at {"phase": "start"}
        while True:
            line = load.next_json()
            if line is None:
                return load.error("load generator ended without a result or timed out")
            if line.get("phase") == "start":
                start = _window(server_pid, load.proc.pid)
                continue
            end = _window(server_pid, load.proc.pid)
            break
    finally:
        load.stop()
    result = line
    if "error" in result:
        result["stderr"] = "".join(load.stderr)[-500:]
        return result
    wall = end[0] - start[0]
    if start[1] is not None and end[1] is not None:
        result["server_cpu_s"] = end[1] - start[1]
        result["server_cpu_pct"] = 100 * (end[1] - start[1]) / wall
    if start[2] is not None and end[2] is not None:  # /proc of the load generator itself
        result["load_cpu_pct"] = 100 * (end[2] - start[2]) / wall
    elif "self_cpu_pct" in result:  # it exited before the sample: its own getrusage figure
        result["load_cpu_pct"] = result["self_cpu_pct"]
    ops = result.get("acks") or result.get("deliveries")
    if ops and "server_cpu_s" in result:
        key = "cpu_us_per_ack" if "acks" in result else "cpu_us_per_delivery"
        result[key] = 1e6 * result["server_cpu_s"] / ops
    if ops and start[3] is not None and end[3] is not None:  # where the server's CPU went
        result["server_minflt_per_op"] = (end[3][0] - start[3][0]) / ops
        result["server_user_us_per_op"] = 1e6 * (end[3][1] - start[3][1]) / ops
        result["server_sys_us_per_op"] = 1e6 * (end[3][2] - start[3][2]) / ops
    return result


def run_idle(cell: Cell, url: str, server_pid: int) -> dict[str, Any]:
    """Idle connections: server RSS at rest, then its growth per connected socket."""
    time.sleep(REST_SETTLE)
    before = rss_kib(server_pid)
    load = LoadProcess(load_cmd(cell, url), budget(cell))
    try:
        ready = load.next_json() or {}
        if not ready.get("ready"):
            return load.error(str(ready.get("error") or "load generator ended early"))
        time.sleep(IDLE_SETTLE)
        after = rss_kib(server_pid)
        final = load.next_json() or {}
    finally:
        load.stop()
    connected = int(ready["connected"])
    if before is None or after is None:
        return {"error": "server exited during the idle run", "clients": connected}
    return {
        "clients": connected,
        "alive_at_end": final.get("alive"),
        "connect_seconds": ready.get("connect_seconds"),
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_socket": (after - before) / connected if connected else None,
    }


def run_cell(cmd: list[str], cell: Cell, env: dict[str, str]) -> dict[str, Any]:
    """Start the server pinned to core 0 on a free port, run the cell, stop the server."""
    port = free_port()
    server = subprocess.Popen(pin(0, [*cmd, str(port)]), env=env, cwd=ROOT)
    try:
        wait_listening(port, server)
        url = f"http://127.0.0.1:{port}"
        if cell.scenario == "idle":
            result = run_idle(cell, url, server.pid)
        else:
            result = run_load(cell, url, server.pid)
        rss = rss_kib(server.pid) if server.poll() is None else None
        if rss is None:
            result.setdefault("error", f"server exited with {server.poll()}")
        else:
            result["server_rss_kib"] = rss
    except (RuntimeError, OSError) as exc:  # server never listened, or a process vanished
        result = {"error": str(exc)}
    finally:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)
    if (result.get("load_cpu_pct") or 0) > LOAD_SATURATED_PCT:
        result["load_saturated"] = True
    return result


def saturation_warning(name: str, cell: Cell, result: dict[str, Any]) -> str | None:
    """The loud line printed when the load generator, not the server, may be the bottleneck."""
    if not result.get("load_saturated"):
        return None
    return (
        f"!!! WARNING: load generator used {result['load_cpu_pct']:.0f}% of its core "
        f"({cell.label}, {name}): this figure may measure the load generator, not the server"
    )


def gsocketio_origin(env: dict[str, str]) -> str:
    """Where a server started with ``env`` imports gsocketio from (baseline vs this tree), and
    whether its protocol core is an extension module (a mypyc-compiled copy, see
    bench/experiments/mypyc_core.py). ``-P``: the server scripts do not have the current
    directory on their path, so the probe must not either (from the tree root it would
    otherwise always report this tree)."""
    code = (
        "import os, gsocketio, gsocketio.protocol.socketio as m; "
        "print(os.path.dirname(gsocketio.__file__), "
        "'(compiled core)' if not m.__file__.endswith('.py') else '')"
    )
    cmd = [PY, "-P", "-c", code]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    return out.stdout.strip() or out.stderr.strip()[-200:]


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    node = subprocess.run([NODE, "--version"], capture_output=True, text=True, timeout=30)
    out = {"python": sys.version.split()[0], "node": node.stdout.strip()}
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
        except PackageNotFoundError:
            out[dist] = "not installed"
    for pkg in ("socket.io", "socket.io-client"):
        path = ROOT / "node_modules" / pkg / "package.json"
        out[f"{pkg} (node)"] = (
            json.loads(path.read_text())["version"] if path.exists() else "missing"
        )
    return out
