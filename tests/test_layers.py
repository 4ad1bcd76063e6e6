"""The architecture rules of CONTRIBUTING.md, checked on the source tree (AST, no imports).

Every module of ``gsocketio/`` is parsed; an import anywhere in it counts (a deferred import
in a function body too), except under ``if TYPE_CHECKING:``. Importing a submodule is an edge
to that submodule only (Python also runs its parents' ``__init__``, but a parent package
importing its children is not a cycle worth reporting); ``from pkg import name`` is an edge to
``pkg.name`` when that is a module, else to ``pkg``. No allowlists: a rule that is wrong is
changed here and in CONTRIBUTING.md together, with the reason.
"""

from __future__ import annotations

import ast
import itertools
import re
import sys
from collections import deque
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

import gsocketio

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gsocketio"
MAX_LINES = 500


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported name, dotted, absolute
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(nodes: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """The import statements below ``nodes``, skipping ``if TYPE_CHECKING:`` bodies."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.AST] = list(reversed(nodes))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(reversed(node.orelse))
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))
    return found


@cache
def imports_of(module: str) -> tuple[Import, ...]:
    """What ``module`` imports at run time (absolute names; submodules resolved)."""
    path = modules()[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: list[Import] = []
    for node in _walk(tree.body):
        if isinstance(node, ast.Import):
            found.extend(Import(module, alias.name, node.lineno) for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package[: len(package) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            found.append(Import(module, sub if sub in modules() else base, node.lineno))
    return tuple(found)


def _internal(target: str) -> str | None:
    """The package module an import names (the longest existing prefix), or None."""
    if target != "gsocketio" and not target.startswith("gsocketio."):
        return None
    parts = target.split(".")
    while parts and ".".join(parts) not in modules():
        parts.pop()
    return ".".join(parts) if parts else None


@cache
def graph() -> dict[str, dict[str, int]]:
    """module -> {imported package module: line of the first such import}."""
    edges: dict[str, dict[str, int]] = {}
    for module in modules():
        out: dict[str, int] = {}
        for imp in imports_of(module):
            target = _internal(imp.target)
            if target is not None and target != module:
                out.setdefault(target, imp.line)
        edges[module] = out
    return edges


def _components(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work: list[tuple[str, list[str]]] = [(start, sorted(edges[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            if children:
                child = children.pop(0)
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, sorted(edges[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    result.append(sorted(component))
    return result


def _cycle_through(start: str, members: set[str], edges: dict[str, dict[str, int]]) -> list[str]:
    """A shortest import cycle from ``start`` back to itself inside one component."""
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(edges[node]):
            if child not in members:
                continue
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if child not in previous:
                previous[child] = node
                queue.append(child)
    raise AssertionError(f"{start} is in a component but on no cycle")  # pragma: no cover


def _show(path: list[str], edges: dict[str, dict[str, int]]) -> str:
    hops = [f"{a} (line {edges[a][b]})" for a, b in itertools.pairwise(path)]
    return " -> ".join([*hops, path[-1]])


def test_no_import_cycles() -> None:
    edges = graph()
    cycles = []
    for component in _components(edges):
        cycles.append(
            f"{len(component)} modules import each other: {', '.join(component)}\n"
            f"    e.g. {_show(_cycle_through(component[0], set(component), edges), edges)}"
        )
    assert not cycles, "import cycles (a deferred import counts):\n  " + "\n  ".join(cycles)


def test_the_cycle_finder_finds_cycles() -> None:
    """The finder itself: a cycle, its path, and no false report for a DAG."""
    edges = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3, "d": 4}, "d": {}, "e": {"d": 5}}
    assert _components(edges) == [["a", "b", "c"]]
    assert _cycle_through("a", {"a", "b", "c"}, edges) == ["a", "b", "c", "a"]
    assert _show(["a", "b", "a"], {"a": {"b": 7}, "b": {"a": 9}}) == "a (line 7) -> b (line 9) -> a"
    assert _components({"a": {"b": 1}, "b": {}}) == []


def test_deferred_imports_count_and_type_checking_ones_do_not() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import hidden\nelse:\n    import shown_else\n"
        "def f():\n    import deferred\n"
        "class C:\n    def m(self):\n        from pkg import deep\n"
    )
    names = [
        alias.name if isinstance(node, ast.Import) else f"{node.module}.{alias.name}"
        for node in _walk(ast.parse(source).body)
        for alias in node.names
    ]
    assert names == ["typing.TYPE_CHECKING", "shown_else", "deferred", "pkg.deep"]


def test_no_module_over_500_lines() -> None:
    long = {
        name: count
        for name, path in modules().items()
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines (split by concept): " + ", ".join(
        f"{name} ({count})" for name, count in sorted(long.items(), key=lambda kv: -kv[1])
    )


# --- protocol/ is sans-I/O ---------------------------------------------------------------

# Standard-library modules protocol/ must not use: I/O, sockets, concurrency, processes,
# clocks (time is passed in) and logging (a sans-I/O layer reports by return value or
# exception; the layer doing the I/O decides what to log).
PROTOCOL_FORBIDDEN_STDLIB = frozenset(
    {
        "_thread",
        "asyncio",
        "concurrent",
        "http.client",
        "http.server",
        "logging",
        "multiprocessing",
        "os",
        "select",
        "selectors",
        "signal",
        "socket",
        "socketserver",
        "ssl",
        "subprocess",
        "threading",
        "time",
        "urllib.request",
    }
)


def _forbidden_stdlib(target: str) -> bool:
    parts = target.split(".")
    return any(".".join(parts[:n]) in PROTOCOL_FORBIDDEN_STDLIB for n in range(1, len(parts) + 1))


CLOCK_CALLS = frozenset({"now", "utcnow", "today", "time", "monotonic", "perf_counter", "sleep"})
"""Calls that read (or wait on) a clock. ``datetime`` itself may be imported by protocol/ as a
value type (the msgpack codec's Date values); reading the time may not."""


def test_protocol_reads_no_clock() -> None:
    bad = []
    for module, path in modules().items():
        if module != "gsocketio.protocol" and not module.startswith("gsocketio.protocol."):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            call = node.func if isinstance(node, ast.Call) else None
            if isinstance(call, ast.Attribute) and call.attr in CLOCK_CALLS:
                bad.append(f"{module}:{call.lineno} calls .{call.attr}()")
    assert not bad, "protocol/ is given the time, it never reads a clock:\n  " + "\n  ".join(bad)


def test_protocol_is_sans_io() -> None:
    bad = []
    for module in modules():
        if module != "gsocketio.protocol" and not module.startswith("gsocketio.protocol."):
            continue
        for imp in imports_of(module):
            top = imp.target.split(".")[0]
            target = _internal(imp.target)
            if target is not None:
                ok = target == "gsocketio.exceptions" or layer_of(target) == "protocol"
            else:  # mypy_extensions: mypyc's compile-time marker, imported with a fallback
                ok = (
                    top in ("__future__", "mypy_extensions") or top in sys.stdlib_module_names
                ) and not _forbidden_stdlib(imp.target)
            if not ok:
                bad.append(f"{module}:{imp.line} imports {imp.target}")
    assert not bad, (
        "protocol/ may import only the standard library (no I/O, sockets, threads, clock or "
        "logging), gsocketio.exceptions and gsocketio.protocol:\n  " + "\n  ".join(bad)
    )


# --- the layer table (CONTRIBUTING.md, "Layers") -------------------------------------------

# Each module belongs to the first layer whose pattern matches its dotted name.
LAYER_OF: list[tuple[str, str]] = [
    (r"gsocketio\.exceptions", "exceptions"),
    (r"gsocketio\._logging", "log"),
    (r"gsocketio\.protocol(\..*)?", "protocol"),
    (r"gsocketio\.websocket(\..*)?", "websocket"),
    (r"gsocketio\.(greenlets|blocking)", "greenlets"),
    (r"gsocketio\.http(\..*)?", "http"),
    (r"gsocketio\.(node_id|forwarding)", "node"),
    (r"gsocketio\.engine(\..*)?", "engine"),
    (r"gsocketio\.wsgi", "wsgi"),
    (r"gsocketio\.adapters(\..*)?", "adapters"),
    (r"gsocketio\.legacy(\..*)?", "legacy"),
    (
        r"gsocketio\.(socketio_server|socket|client|registry|acks|namespace|mixins|lifecycle"
        r"|cluster_api|cluster_host|operator|emitter|stats|metrics|default_handlers|hooks|hooks_api"
        r"|dynamic|drain|session_api|listeners|admin|admin_ui)",
        "socketio",
    ),
    (r"gsocketio\.compat(\..*)?", "compat"),
    (
        r"gsocketio(\.(__main__|logformat|server|serve|static|sgunicorn|sdjango|demo(\..*)?"
        r"|nodes|node_registry|prefork"
        # gevent-socketio's own module names, kept as import paths
        r"|defaultjson|handler|packet|policyserver|transports|virtsocket))?",
        "edge",
    ),
]


def _may(names: str) -> frozenset[str]:
    return frozenset(names.split())


# What each layer may import besides itself (CONTRIBUTING.md, Layers).
MAY_IMPORT: dict[str, frozenset[str]] = {
    "exceptions": _may(""),
    "log": _may(""),
    "protocol": _may("exceptions"),  # and no logging at all: test_protocol_is_sans_io
    "websocket": _may("exceptions log protocol"),
    "greenlets": _may("exceptions log"),
    "http": _may("exceptions log protocol websocket"),
    # which node owns a sid, and forwarding to it (issue 12): below the engine, which names
    # its sids after this node, and the WSGI app, which forwards before routing
    "node": _may("exceptions log protocol websocket"),
    "engine": _may("exceptions log protocol websocket greenlets node"),
    "wsgi": _may("exceptions log protocol websocket greenlets engine node"),
    "adapters": _may("exceptions log protocol"),
    "legacy": _may("exceptions log protocol websocket greenlets engine wsgi node"),
    "socketio": _may("exceptions log protocol greenlets engine wsgi adapters"),
    "compat": _may(
        "exceptions log protocol websocket greenlets http node engine wsgi adapters legacy socketio"
    ),
    "edge": _may(
        "exceptions log protocol websocket greenlets http node engine wsgi adapters legacy "
        "socketio compat"
    ),
}


def layer_of(module: str) -> str | None:
    for pattern, layer in LAYER_OF:
        if re.fullmatch(pattern, module):
            return layer
    return None


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(module for module in modules() if layer_of(module) is None)
    assert not unplaced, (
        "modules in no layer (add them to LAYER_OF here and to CONTRIBUTING.md): "
        + ", ".join(unplaced)
    )


def test_layers_import_only_what_they_may() -> None:
    bad = []
    for module, edges in graph().items():
        layer = layer_of(module)
        if layer is None:
            continue  # reported by test_every_module_has_a_layer
        for target, line in sorted(edges.items()):
            other = layer_of(target)
            if other is not None and other != layer and other not in MAY_IMPORT[layer]:
                allowed = ", ".join(sorted(MAY_IMPORT[layer])) or "nothing"
                bad.append(
                    f"{module}:{line} ({layer}) imports {target} ({other}); {layer} may import {allowed}"
                )
    assert not bad, "layer rule violations (CONTRIBUTING.md, Layers):\n  " + "\n  ".join(bad)


def test_the_layer_table_is_a_hierarchy() -> None:
    """No two layers may import each other, even indirectly: the table itself has no cycle."""
    edges = {layer: dict.fromkeys(allowed, 0) for layer, allowed in MAY_IMPORT.items()}
    assert _components(edges) == []
    assert {layer for _, layer in LAYER_OF} == set(MAY_IMPORT)


# --- habits ------------------------------------------------------------------------------


def test_version_is_written_once_in_pyproject() -> None:
    """``__version__`` is the installed metadata's; no module spells a version literal."""
    assert gsocketio.__version__ == metadata.version("gsocketio")
    literal = re.compile(r"^__version__\s*(:\s*\w+\s*)?=\s*['\"]\d", re.MULTILINE)
    spelled = [name for name, path in modules().items() if literal.search(path.read_text())]
    assert not spelled, f"a version literal in {spelled}: the version lives in pyproject.toml"
