"""Profile gsocketio's server during an echo run with py-spy, for profile-first speed work.

The gsocketio bench server runs pinned to core 0; the lean load generator and
``py-spy record --nonblocking`` (non-blocking: py-spy's default mode stops the process per sample
and wrongly blames the recv line) run on core 1. Sampling starts when the load generator opens
its measured window, so connection setup is left out. py-spy's raw collapsed stacks are kept
and turned into a speedscope JSON (open at https://www.speedscope.app) and a flamegraph SVG
(icicle: callers on top), all in bench/results/; the hottest functions by own and by total
samples are printed for docs/benchmarks.md.

    .venv/bin/python bench/profile_echo.py [--clients 100] [--seconds 10] [--size 32] [--binary] [--polling]
                                      [--rate 200] [--tree DIR] [--name before]
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

from harness import (
    ENV,
    HERE,
    SERVERS,
    Cell,
    LoadProcess,
    budget,
    free_port,
    load_cmd,
    pin,
    raise_fd_limit,
    saturation_warning,
    wait_listening,
)

PYSPY = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^():]*):(?P<line>\d+)\)$")
Stacks = list[tuple[list[str], int]]


def function_of(frame: str) -> str:
    """``name (file:line)`` without the line: samples add up per function."""
    m = FRAME.match(frame)
    return f"{m['name']} ({m['file']})" if m else frame


def read_collapsed(path: Path) -> Stacks:
    """py-spy raw output: one ``frame;frame;...;leaf count`` line per distinct stack."""
    stacks: Stacks = []
    for line in path.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks.append((frames.split(";"), int(count)))
    return stacks


def speedscope(stacks: Stacks, name: str) -> dict[str, Any]:
    """A speedscope "sampled" profile: frame table plus weighted root-to-leaf stacks."""
    index: dict[str, int] = {}
    frames: list[dict[str, Any]] = []
    samples: list[list[int]] = []
    for stack, _ in stacks:
        ids = []
        for frame in stack:
            if frame not in index:
                index[frame] = len(frames)
                m = FRAME.match(frame)
                entry: dict[str, Any] = {"name": frame}
                if m:
                    entry = {"name": m["name"], "file": m["file"], "line": int(m["line"])}
                frames.append(entry)
            ids.append(index[frame])
        samples.append(ids)
    weights = [count for _, count in stacks]
    return {
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "shared": {"frames": frames},
        "profiles": [
            {
                "type": "sampled",
                "name": name,
                "unit": "none",
                "startValue": 0,
                "endValue": sum(weights),
                "samples": samples,
                "weights": weights,
            }
        ],
        "name": name,
        "exporter": "gsocketio bench/profile_echo.py (py-spy raw)",
    }


def flamegraph_svg(stacks: Stacks, title: str, width: int = 1600, row: int = 17) -> str:
    """An icicle graph: each function a box as wide as its share of samples, callees below
    (lines of one function merged; the speedscope file keeps them apart)."""
    tree: dict[str, Any] = {"n": 0, "kids": {}}
    depth = 0
    for stack, count in stacks:
        node = tree
        node["n"] += count
        for frame in map(function_of, stack):
            node = node["kids"].setdefault(frame, {"n": 0, "kids": {}})
            node["n"] += count
        depth = max(depth, len(stack))
    total = tree["n"] or 1
    parts: list[str] = []

    def draw(node: dict[str, Any], x: float, level: int) -> None:
        for frame, kid in sorted(node["kids"].items()):
            w = width * kid["n"] / total
            if w >= 0.3:
                hue = zlib.crc32(frame.encode()) % 40
                label = frame if len(frame) * 7 < w else frame[: max(0, int(w / 7) - 2)] + ".."
                share = 100 * kid["n"] / total
                parts.append(
                    f"<g><title>{html.escape(frame)} ({kid['n']} samples, {share:.1f}%)</title>"
                    f'<rect x="{x:.1f}" y="{30 + level * row}" width="{w:.1f}" height="{row - 1}"'
                    f' fill="hsl({hue + 10},85%,62%)"/>'
                    + (
                        f'<text x="{x + 2:.1f}" y="{30 + level * row + 12}">'
                        f"{html.escape(label)}</text>"
                        if w > 21
                        else ""
                    )
                    + "</g>"
                )
                draw(kid, x, level + 1)
            x += w

    draw(tree, 0.0, 0)
    height = 40 + (depth + 1) * row
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="monospace" font-size="11">'
        f'<text x="4" y="18" font-size="14">{html.escape(title)} ({total} samples)</text>'
        + "".join(parts)
        + "</svg>\n"
    )


def hottest(stacks: Stacks, top: int) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Functions by own samples (leaf) and by total samples (anywhere on the stack)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for stack, count in stacks:
        functions = [function_of(f) for f in stack]
        if functions:
            own[functions[-1]] += count
        for function in set(functions):
            total[function] += count
    return own.most_common(top), total.most_common(top)


def profile(args: argparse.Namespace) -> int:
    raise_fd_limit()
    env = dict(ENV, PYTHONPATH=str(Path(args.tree).resolve())) if args.tree else ENV
    scenario = "polling" if args.polling else "echo"
    cell = Cell(scenario, args.clients, args.seconds, args.size, args.binary)
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    stem = out_dir / f"profile-{args.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    raw = stem.with_suffix(".collapsed.txt")
    port = free_port()
    server = subprocess.Popen(pin(0, [*SERVERS["gsocketio"], str(port)]), env=env)
    spy: subprocess.Popen[bytes] | None = None
    try:
        wait_listening(port, server)
        load = LoadProcess(load_cmd(cell, f"http://127.0.0.1:{port}"), budget(cell))
        try:
            line = load.next_json()
            if not line or line.get("phase") != "start":
                print(f"load generator did not start: {line} {''.join(load.stderr)}")
                return 1
            spy_cmd = [PYSPY, "record", "--nonblocking", "--rate", str(args.rate)]
            spy_cmd += ["--duration", str(max(1, args.seconds - 1)), "--format", "raw"]
            spy_cmd += ["--output", str(raw), "--pid", str(server.pid)]
            spy = subprocess.Popen(pin(1, spy_cmd), stdout=subprocess.DEVNULL)
            result = load.next_json() or {"error": "no result from the load generator"}
        finally:
            load.stop()
        if spy is not None:
            spy.wait(timeout=args.seconds + 30)
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
            spy.wait(timeout=10)
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)
    if spy is None or spy.returncode != 0 or not raw.exists():
        print(f"py-spy failed (exit {spy.returncode}); is ptrace allowed for this user?")
        return 1
    stacks = read_collapsed(raw)
    title = f"gsocketio {cell.label} ({args.name}, py-spy --nonblocking {args.rate} Hz)"
    stem.with_suffix(".speedscope.json").write_text(json.dumps(speedscope(stacks, title)))
    stem.with_suffix(".svg").write_text(flamegraph_svg(stacks, title))
    print(json.dumps(result))
    warning = saturation_warning("gsocketio", cell, result)
    if warning:
        print(warning)
    own, total = hottest(stacks, args.top)
    samples = sum(c for _, c in stacks) or 1
    for heading, rows in (("own samples", own), ("total samples", total)):
        print(f"\n| function ({heading}) | % of samples |\n|---|---|")
        for frame, count in rows:
            print(f"| `{frame}` | {100 * count / samples:.1f} |")
    print(f"\nwrote {stem.name}.svg, .speedscope.json and .collapsed.txt in bench/results/")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--size", type=int, default=32, help="payload bytes")
    parser.add_argument("--binary", action="store_true", help="binary attachment payload")
    parser.add_argument(
        "--polling", action="store_true", help="the same echo over HTTP long-polling"
    )
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--tree", metavar="DIR", help="profile the gsocketio found in DIR")
    parser.add_argument("--name", default="echo", help="tag in the output file names")
    parser.add_argument("--top", type=int, default=15, help="rows in the hottest-function tables")
    return profile(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
