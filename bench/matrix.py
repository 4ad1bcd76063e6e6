"""The scaling matrix of issue 14: every cell for every server in one interleaved run, as Markdown.

Cells: echo at several client counts (cost per ack against N shows super-linear growth), echo
at payload sizes 32 B to 64 KiB as text and as binary attachments, idle connections (RSS at
rest and per socket), and one broadcast. Each repetition walks all cells, and each cell runs
every server in turn (A B C A B C ...), so drift on a shared machine spreads over all servers;
figures are medians over repetitions. The tables go to stdout and to bench/results/ as .md
and .json (every individual run included).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from harness import HERE, Cell, run_cell, saturation_warning, size_label

GROUPS = ("echo", "payload", "binary", "idle", "broadcast")
Fmt = Callable[[float], str]


@dataclass
class Plan:
    """What the matrix covers; the defaults are issue 14's."""

    groups: Sequence[str] = GROUPS
    echo_clients: Sequence[int] = (10, 100, 1000, 5000)
    sizes: Sequence[int] = (32, 1024, 16384, 65536)
    payload_clients: int = 100
    idle_clients: Sequence[int] = (1000, 10000)
    broadcast_clients: int = 1000
    seconds: int = 10
    repeat: int = 1

    def cells(self) -> dict[str, list[Cell]]:
        """Cells per group; a cell in two groups (echo 100 x 32 B) is measured once."""
        s = self.seconds
        out: dict[str, list[Cell]] = {}
        for group in self.groups:
            if group == "echo":
                out[group] = [Cell("echo", n, s) for n in self.echo_clients]
            elif group in ("payload", "binary"):
                binary = group == "binary"
                out[group] = [
                    Cell("echo", self.payload_clients, s, size, binary) for size in self.sizes
                ]
            elif group == "idle":
                out[group] = [Cell("idle", n) for n in self.idle_clients]
            elif group == "broadcast":
                out[group] = [Cell("broadcast", self.broadcast_clients)]
        return out

    def estimate_seconds(self, servers: int) -> float:
        unique = {c for cells in self.cells().values() for c in cells}
        per = sum((c.seconds if c.scenario == "echo" else 12) + 4 + c.clients / 500 for c in unique)
        return per * servers * self.repeat


def median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per numeric key, the median over the runs that produced it; errors when all failed."""
    good = [r for r in runs if "error" not in r]
    if not good:
        return dict(runs[-1]) if runs else {"error": "not run"}
    merged: dict[str, Any] = dict(good[0])
    for key, value in good[0].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            merged[key] = statistics.median(
                r[key] for r in good if isinstance(r.get(key), int | float)
            )
    merged["load_saturated"] = any(r.get("load_saturated") for r in good)
    merged["runs"] = len(good)
    return merged


def run_matrix(
    plan: Plan, servers: dict[str, tuple[list[str], dict[str, str]]]
) -> tuple[dict[Cell, dict[str, list[dict[str, Any]]]], list[str]]:
    """Every cell for every server, ``plan.repeat`` times, interleaved; returns runs and warnings."""
    unique = list(dict.fromkeys(c for cells in plan.cells().values() for c in cells))
    runs: dict[Cell, dict[str, list[dict[str, Any]]]] = {
        c: {name: [] for name in servers} for c in unique
    }
    warnings: list[str] = []
    for i in range(plan.repeat):
        for cell in unique:
            for name, (cmd, env) in servers.items():
                print(f"== {cell.label} | {name} ({i + 1}/{plan.repeat})", flush=True)
                result = run_cell(cmd, cell, env)
                runs[cell][name].append(result)
                print(json.dumps(result), flush=True)
                warning = saturation_warning(name, cell, result)
                if warning:
                    print(warning, flush=True)
                    warnings.append(warning)
    return runs, warnings


# --- Markdown ----------------------------------------------------------------------------------


def num(v: float) -> str:
    return f"{v:,.0f}"


def one(v: float) -> str:
    return f"{v:,.1f}"


def two(v: float) -> str:
    return f"{v:,.2f}"


def cell_text(r: dict[str, Any], key: str, fmt: Fmt) -> str:
    value = r.get(key)
    if not isinstance(value, int | float):
        return "error" if "error" in r else "-"
    return fmt(value) + (" ⚠" if r.get("load_saturated") else "")


def ratio(ours: Any, theirs: Any) -> str:
    ok = isinstance(ours, int | float) and isinstance(theirs, int | float) and theirs
    return f"{ours / theirs:.2f}" if ok else "-"


def pivot(
    title: str,
    rows: list[tuple[str, dict[str, dict[str, Any]]]],
    key: str,
    fmt: Fmt,
    better: str,
    growth: bool = False,
) -> list[str]:
    """Rows x servers for one figure, then gsocketio ÷ each peer. With ``growth`` every cell
    also shows the figure relative to the first row's (cost at N ÷ cost at the smallest N)."""
    names = list(rows[0][1]) if rows else []
    peers = [n for n in names if n != "gsocketio"]
    head = ["", *names, *(f"gsocketio ÷ {p}" for p in peers)]
    out = [f"**{title}** ({better} is better for the ratio)", ""]
    out += ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    first = rows[0][1] if rows else {}
    for label, results in rows:
        cells = []
        for name in names:
            text = cell_text(results[name], key, fmt)
            base = first.get(name, {}).get(key)
            value = results[name].get(key)
            if growth and isinstance(value, int | float) and isinstance(base, int | float) and base:
                text += f" ({value / base:.2f}x)"
            cells.append(text)
        ours = results.get("gsocketio", {}).get(key)
        cells += [ratio(ours, results[p].get(key)) for p in peers]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return [*out, ""]


def detail(
    rows: list[tuple[str, dict[str, dict[str, Any]]]], columns: list[tuple[str, str, Fmt]]
) -> list[str]:
    """One row per cell and server, with the load generator's CPU next to the figures."""
    cols = [*columns, ("server CPU %", "server_cpu_pct", num), ("load CPU %", "load_cpu_pct", num)]
    head = ["cell", "server", *(c[0] for c in cols)]
    out = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for label, results in rows:
        for name, r in results.items():
            cells = [cell_text(r, k, f) for _, k, f in cols]
            if "error" in r:
                cells[0] = "error: " + str(r["error"])[:60].replace("|", "/")
            out.append(f"| {label} | {name} | " + " | ".join(cells) + " |")
    return [*out, ""]


ECHO_COLUMNS: list[tuple[str, str, Fmt]] = [
    ("acks/s", "rate", num),
    ("CPU µs/ack", "cpu_us_per_ack", one),
    ("p50 ms", "p50_ms", two),
    ("p99 ms", "p99_ms", two),
]
IDLE_COLUMNS: list[tuple[str, str, Fmt]] = [
    ("RSS at rest MiB", "rss_before_kib", lambda v: f"{v / 1024:.1f}"),
    ("RSS MiB", "rss_after_kib", lambda v: f"{v / 1024:.1f}"),
    ("KiB/socket", "kib_per_socket", one),
]
BROADCAST_COLUMNS: list[tuple[str, str, Fmt]] = [
    ("deliveries/s", "rate", num),
    ("CPU µs/delivery", "cpu_us_per_delivery", two),
]


def markdown(
    plan: Plan,
    medians: dict[Cell, dict[str, dict[str, Any]]],
    warnings: list[str],
) -> str:
    out = [
        f"Scaling matrix: median of {plan.repeat} interleaved run(s), {plan.seconds} s per echo "
        "cell; server pinned to core 0, lean load generator to core 1. ⚠ = the load generator "
        "used more than 85% of its core (figure may be load-bound). CPU figures cover the "
        "measured window only (connection setup excluded).",
        "",
    ]
    for group, cells in plan.cells().items():
        rows = [(_row_label(group, c), medians[c]) for c in cells]
        if group == "echo":
            out += [f"### echo with ack, 32 B text, by client count ({plan.seconds} s)", ""]
            out += pivot("acks/s at N clients", rows, "rate", num, "higher")
            out += pivot(
                "server CPU µs/ack at N clients", rows, "cpu_us_per_ack", one, "lower", True
            )
            out += pivot("p50 latency ms at N clients", rows, "p50_ms", two, "lower")
            out += pivot("p99 latency ms at N clients", rows, "p99_ms", two, "lower")
            out += detail(rows, ECHO_COLUMNS)
        elif group in ("payload", "binary"):
            kind = "binary attachment" if group == "binary" else "text (JSON string)"
            out += [
                f"### echo with ack, {kind}, by payload size, {plan.payload_clients} clients",
                "",
            ]
            out += pivot(f"acks/s by payload size ({group})", rows, "rate", num, "higher")
            out += pivot(
                f"server CPU µs/ack by payload size ({group})",
                rows,
                "cpu_us_per_ack",
                one,
                "lower",
                True,
            )
            out += pivot(f"p99 latency ms by payload size ({group})", rows, "p99_ms", two, "lower")
            out += detail(rows, ECHO_COLUMNS)
        elif group == "idle":
            out += ["### idle WebSocket connections: memory", ""]
            out += pivot("KiB of server RSS per idle socket", rows, "kib_per_socket", one, "lower")
            out += pivot(
                "server RSS at rest MiB (before any connection)",
                rows,
                "rss_before_kib",
                lambda v: f"{v / 1024:.1f}",
                "lower",
            )
            out += detail(rows, IDLE_COLUMNS)
        elif group == "broadcast":
            out += ["### broadcast to one room", ""]
            out += pivot("deliveries/s", rows, "rate", num, "higher")
            out += pivot("server CPU µs/delivery", rows, "cpu_us_per_delivery", two, "lower")
            out += detail(rows, BROADCAST_COLUMNS)
    out += [headroom(medians), ""]
    if warnings:
        out += ["### load generator warnings", "", *(f"- {w}" for w in warnings), ""]
    return "\n".join(out)


def headroom(medians: dict[Cell, dict[str, dict[str, Any]]]) -> str:
    """The busiest the load generator got in any cell: how much headroom the figures had."""
    busiest = [
        (r["load_cpu_pct"], cell.label, name)
        for cell, per in medians.items()
        for name, r in per.items()
        if isinstance(r.get("load_cpu_pct"), int | float)
    ]
    if not busiest:
        return "Load generator CPU: not measured."
    pct, label, name = max(busiest)
    return f"Highest load generator CPU (median): {pct:.0f}% of its core ({label}, {name})."


def _row_label(group: str, cell: Cell) -> str:
    if group == "echo":
        return f"{cell.clients:,} clients"
    if group in ("payload", "binary"):
        return size_label(cell.size)
    if group == "idle":
        return f"{cell.clients:,} connections"
    return f"{cell.clients:,} clients x {cell.broadcasts} broadcasts x {cell.rounds} rounds"


def main(
    plan: Plan,
    servers: dict[str, tuple[list[str], dict[str, str]]],
    found: dict[str, str],
) -> int:
    """Run the matrix, print the Markdown, write .md and .json to bench/results/."""
    print(
        f"matrix: {len(servers)} servers, about {plan.estimate_seconds(len(servers)) / 60:.0f} min",
        flush=True,
    )
    runs, warnings = run_matrix(plan, servers)
    medians = {c: {n: median(rs) for n, rs in per.items()} for c, per in runs.items()}
    text = markdown(plan, medians, warnings)
    print("\n" + text)
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out_dir / f"matrix-{stamp}.md").write_text(text + "\n")
    payload = {
        "plan": asdict(plan),
        "versions": found,
        "warnings": warnings,
        "cells": [
            {"cell": asdict(c), "label": c.label, "results": medians[c], "runs": runs[c]}
            for c in runs
        ],
    }
    (out_dir / f"matrix-{stamp}.json").write_text(json.dumps(payload, indent=2))
    print(f"\nwrote bench/results/matrix-{stamp}.md and .json", flush=True)
    if warnings:
        print(f"\n{len(warnings)} load generator warning(s): see above", flush=True)
    return 0
