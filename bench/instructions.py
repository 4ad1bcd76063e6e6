"""Instructions per ack (echo) or per delivery (broadcast), counted by valgrind's callgrind.

Timings on this 2-core machine move with whatever else runs; callgrind counts the user-space
instructions the server executes, which repeat to within 1-3% for the same code and load
(kernel time, i.e. the syscalls themselves, is not counted). The bench server of each tree runs
under callgrind with instrumentation off; it is switched on when the lean load generator opens
its measured window and off at its end, so start-up and connection setup are left out.
Before/after work compares a tree of another revision with ``--tree``:

    .venv/bin/python bench/instructions.py [--scenario echo|broadcast] [--repeat 2]
                                           [--clients N] [--size BYTES] [--binary]
                                           [--tree DIR ...]

Under callgrind the server runs ~50x slower, so the load is small (20 echo clients; 500
broadcast clients, 50 broadcasts): per-message cost, not scaling, is what this measures.
``--clients`` changes the echo client count (instructions per ack at 20 vs 200 vs 500 show
work that grows with the number of connections). Keep it at or below ~500: each client's
round trip is ~50x slower too, and past the server's 1 s linger the readers park.
``--size`` / ``--binary`` set the echo payload (as in ``bench/run.py``): large payloads show
per-byte work (copies, conversions) that 32 B messages hide.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import ENV, HERE, PY, ROOT, Cell, LoadProcess, free_port, load_cmd, wait_listening

VALGRIND = shutil.which("valgrind") or "valgrind"
CONTROL = shutil.which("callgrind_control") or "callgrind_control"
ANNOTATE = shutil.which("callgrind_annotate") or "callgrind_annotate"


KEEP: Path | None = None


def count(tree: Path, cell: Cell, workdir: Path) -> tuple[int, int]:
    """(instructions in the measured window, acks or deliveries in it) for one run."""
    port = free_port()
    out = workdir / f"callgrind.{port}"
    env = dict(ENV, PYTHONPATH=str(tree))
    server = subprocess.Popen(
        [
            VALGRIND,
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            PY,
            str(tree / "bench" / "servers" / "gsocketio_echo.py"),
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(port, server, timeout=120)
        load = LoadProcess(load_cmd(cell, f"http://127.0.0.1:{port}"), timeout=600)
        result = None
        while (line := load.next_json()) is not None:
            if line.get("phase") == "start":
                subprocess.run([CONTROL, "-i", "on", str(server.pid)], capture_output=True)
            else:
                result = line
        subprocess.run([CONTROL, "-i", "off", str(server.pid)], capture_output=True)
        subprocess.run([CONTROL, "-d", str(server.pid)], capture_output=True, check=True)
        load.stop()
    finally:
        server.terminate()
        server.wait(timeout=60)
    if result is None or "error" in result:
        raise SystemExit(f"load generator failed: {result}")
    done = int(result["deliveries"] if cell.scenario == "broadcast" else result["acks"])
    dumps = sorted(workdir.glob(f"callgrind.{port}*"), key=lambda p: p.stat().st_size)
    totals = subprocess.run([ANNOTATE, str(dumps[-1])], capture_output=True, text=True).stdout
    total = next(x for x in totals.splitlines() if "PROGRAM TOTALS" in x)
    if KEEP is not None:  # --keep: for callgrind_annotate
        KEEP.mkdir(parents=True, exist_ok=True)
        name = f"callgrind.{tree.name}.{cell.clients}.{cell.size}{'b' if cell.binary else ''}"
        shutil.copy(dumps[-1], KEEP / f"{name}.{port}")
    return int(total.split()[0].replace(",", "")), done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=["echo", "broadcast"], default="echo")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--clients", type=int, default=20, help="echo clients (default 20)")
    parser.add_argument("--tree", type=Path, action="append", default=[], help="another tree")
    parser.add_argument("--keep", type=Path, help="copy each run's callgrind output here")
    parser.add_argument("--size", type=int, default=32, help="echo payload bytes (default 32)")
    parser.add_argument("--binary", action="store_true", help="echo a binary attachment")
    args = parser.parse_args()
    global KEEP
    KEEP = args.keep
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    if args.scenario == "echo":
        cell = Cell("echo", clients=args.clients, seconds=8, size=args.size, binary=args.binary)
    else:
        cell = Cell("broadcast", clients=500, broadcasts=50, rounds=2)
    trees = [ROOT, *args.tree]
    unit = "ack" if cell.scenario == "echo" else "delivery"
    figures: dict[Path, list[float]] = {tree: [] for tree in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            for tree in trees:  # interleaved, so drift hits every tree alike
                instructions, done = count(tree, cell, Path(tmp))
                figures[tree].append(instructions / done)
                print(
                    f"{tree}: {instructions:,} instructions / {done:,} = "
                    f"{instructions / done:,.0f} per {unit}",
                    file=sys.stderr,
                )
    print(f"| tree | instructions per {unit} (each run) | ÷ this tree |")
    print("|---|---|---|")
    base = min(figures[ROOT])
    for tree in trees:
        runs = ", ".join(f"{v:,.0f}" for v in figures[tree])
        print(f"| {tree} | {runs} | {min(figures[tree]) / base:.3f} |")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
