"""Measure the mypyc lever of issue 14: the same tree with some modules compiled, against pure.

The package ships and installs as pure Python; this experiment never changes that. It copies
the source tree (gsocketio/, bench/, tests/, the config files; node_modules as a symlink) to a
directory, compiles a chosen set of modules there with mypyc (it ships with mypy, which is in
the dev venv; a C compiler and the Python headers are needed), checks that every chosen module
imports as an extension module, and then, unless ``--build-only``, runs
``bench/instructions.py --tree <compiled copy>`` so the pure tree (this one) and the compiled
copy are counted by callgrind in one interleaved run (instructions per ack or per delivery do
not move with the machine's load).

The compiled ``.so`` files sit next to the ``.py`` sources; the import system prefers an
extension module, so the copy is a "compiled wheel with the pure sources beside it". The build
runs from the copy's root with setuptools' ``Distribution`` directly, not ``setup()``, so the
project's pyproject.toml is not parsed as build metadata (mypy still reads its ``[tool.mypy]``
section: the modules are checked ``--strict`` as they are compiled).

Module sets (``--set``, repeatable; ``--module`` adds single files):

``core``    the sans-I/O per-message core: gsocketio/protocol/ and gsocketio/websocket/framing.py,
            minus the legacy (0.9/EIO3) modules (off the v4 path), _text.py (mypyc refuses
            surrogate code points in string literals) and forward.py (mypyc turns a mypy
            narrowing across a method call into a runtime ``TypeError``: ``self.response`` is
            narrowed to None before ``_parse_head`` sets it);
``engine``  ``core`` plus the per-message Socket.IO/Engine.IO layer above it (client.py,
            default_handlers.py, socket.py, engine/websocket.py, engine/connection.py,
            websocket/connection.py).

Behaviour that differs once compiled (found by the test suite against the copy, see
docs/benchmarks.md): arguments are checked against their annotations (a ``bytearray`` where
``bytes`` is declared, a test fake where a concrete class is declared: ``TypeError``), a
``bool`` stored as ``int`` loses its type, and deep recursion overflows the C stack
(segmentation fault) where pure Python raises ``RecursionError``.

Run (from the tree root; ``--out`` keeps the compiled copy, e.g. to run tests or
``bench/run.py --baseline`` against it)::

    PYTHONPATH=. .venv/bin/python bench/experiments/mypyc_core.py --set core \\
        [--out /tmp/gsio-mypyc] [--scenario echo|broadcast] [--repeat 2] [--build-only]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable

CORE = [
    "gsocketio/protocol/__init__.py",
    "gsocketio/protocol/_json.py",
    "gsocketio/protocol/engineio.py",
    "gsocketio/protocol/engineio_session.py",
    "gsocketio/protocol/ids.py",
    "gsocketio/protocol/limits.py",
    "gsocketio/protocol/msgpack_codec.py",
    "gsocketio/protocol/msgpack_parser.py",
    "gsocketio/protocol/reasons.py",
    "gsocketio/protocol/recovery.py",
    "gsocketio/protocol/socketio.py",
    "gsocketio/protocol/socketio_session.py",
    "gsocketio/websocket/framing.py",
]
ENGINE = [
    *CORE,
    "gsocketio/client.py",
    "gsocketio/default_handlers.py",
    "gsocketio/socket.py",
    "gsocketio/engine/websocket.py",
    "gsocketio/engine/connection.py",
    "gsocketio/websocket/connection.py",
]
SETS = {"core": CORE, "engine": ENGINE}

# Source edits applied to the COPY only (never to this tree) when ``trigger`` is compiled, each
# working around a mypyc limit: (trigger, file, old, new, why). A missing ``old`` stops the run,
# so a stale workaround is noticed.
PATCHES = [
    (
        "gsocketio/protocol/engineio_session.py",
        "gsocketio/protocol/engineio_session.py",
        "return (event for packet in packets for event in self.receive(packet, now))",
        "return self._receive_all(packets, now)",
        "mypyc compiles a generator expression as an eager list: a close would not drop the "
        "packets after it (tests/engine/test_polling.py catches it)",
    ),
    (
        "gsocketio/protocol/engineio_session.py",
        "gsocketio/protocol/engineio_session.py",
        "\n    def _extend_pong_wait(",
        "\n    def _receive_all(self, packets: list[Packet], now: float) -> Iterator[Event]:\n"
        "        for packet in packets:\n"
        "            yield from self.receive(packet, now)\n\n"
        "    def _extend_pong_wait(",
        "the lazy generator function that replaces it",
    ),
    (
        "gsocketio/client.py",
        "gsocketio/client.py",
        "self._inline",
        "self._inline_conn",
        "mypyc names the C struct field of attribute _inline `__inline`, a GCC keyword",
    ),
    (
        "gsocketio/client.py",
        "gsocketio/client.py",
        '"_inline",',
        '"_inline_conn",',
        "the same attribute in __slots__",
    ),
    (
        "gsocketio/client.py",
        "gsocketio/client.py",
        "@runtime_checkable\nclass OwnWire",
        "class OwnWire",
        "mypyc/mypyc#909: a compiled Protocol class is not a protocol to runtime_checkable",
    ),
    (
        "gsocketio/client.py",
        "gsocketio/client.py",
        "own = conn if isinstance(conn, OwnWire) else None",
        'own = cast(OwnWire, conn) if hasattr(conn, "close_namespace") else None',
        "so OwnWire's isinstance check becomes the attribute test it stood for",
    ),
    (
        "gsocketio/client.py",
        "gsocketio/client.py",
        "Final, Protocol, runtime_checkable",
        "Final, Protocol, cast",
        "the imports that go with it",
    ),
    (
        "gsocketio/client.py",
        "gsocketio/socketio_server.py",
        "isinstance(conn, OwnWire)",
        'hasattr(conn, "close_namespace")',
        "the same check in the (pure) server module",
    ),
]

# Copied: what a checkout holds, minus VCS data, caches and the bench results.
COPY = ["gsocketio", "bench", "tests", "examples", "pyproject.toml", "package.json"]
IGNORE = shutil.ignore_patterns("__pycache__", "*.so", "results", ".mypy_cache", "*.pyc")

# Run in the copy's root by a child interpreter: mypyc's own CLI calls setuptools' setup(),
# which would validate the project's pyproject.toml as build metadata; Distribution does not.
BUILD = """
import sys
from setuptools import Distribution
from mypyc.build import mypycify

dist = Distribution({"name": "gsocketio_mypyc", "ext_modules": mypycify(sys.argv[1:])})
dist.script_args = ["build_ext", "--inplace"]
dist.parse_command_line()
dist.run_commands()
"""

CHECK = """
import importlib, importlib.machinery, sys
bad = []
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    if not any(module.__file__.endswith(s) for s in importlib.machinery.EXTENSION_SUFFIXES):
        bad.append(f"{name}: {module.__file__}")
if bad:
    raise SystemExit("not compiled: " + ", ".join(bad))
"""


def module_name(path: str) -> str:
    """``gsocketio/protocol/__init__.py`` -> ``gsocketio.protocol``."""
    parts = Path(path).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def copy_tree(dest: Path) -> None:
    """The source tree at ``dest``, with node_modules linked (the Node peers of the tests)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=IGNORE, dirs_exist_ok=True)
        elif src.exists():
            shutil.copy2(src, dest / name)
    modules = ROOT / "node_modules"
    if modules.exists() and not (dest / "node_modules").exists():
        (dest / "node_modules").symlink_to(modules.resolve())


def patch_tree(tree: Path, paths: list[str]) -> None:
    """Apply the PATCHES of the files being compiled to the copy at ``tree``."""
    for trigger, name, old, new, why in PATCHES:
        if trigger not in paths:
            continue
        path = tree / name
        text = path.read_text()
        if old not in text:
            raise SystemExit(f"stale mypyc workaround ({why}): {old!r} not in {name}")
        path.write_text(text.replace(old, new))
        print(f"patched {name}: {old!r} -> {new!r} ({why})", file=sys.stderr)


def compile_modules(tree: Path, paths: list[str]) -> float:
    """Compile ``paths`` in place under ``tree``; the build's wall-clock seconds."""
    start = time.monotonic()
    proc = subprocess.run(
        [PY, "-c", BUILD, *paths], cwd=tree, capture_output=True, text=True, timeout=1800
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise SystemExit(f"mypyc build failed:\n{tail}")
    elapsed = time.monotonic() - start
    env = dict(os.environ, PYTHONPATH=str(tree))
    names = [module_name(p) for p in paths]
    subprocess.run([PY, "-c", CHECK, *names], cwd=tree, env=env, check=True, timeout=120)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=sorted(SETS), action="append", default=[])
    parser.add_argument("--module", action="append", default=[], help="one more .py path")
    parser.add_argument("--out", type=Path, help="keep the compiled copy here (must not exist)")
    parser.add_argument("--scenario", choices=["echo", "broadcast"], default="echo")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--build-only", action="store_true", help="no instruction counts")
    args = parser.parse_args()
    paths = list(dict.fromkeys(p for s in args.set or ["core"] for p in SETS[s]))
    paths += [p for p in args.module if p not in paths]
    if args.out is not None and args.out.exists():
        raise SystemExit(f"{args.out} exists: give a new directory")
    with tempfile.TemporaryDirectory(prefix="gsio-mypyc-") as tmp:
        tree = (args.out or Path(tmp) / "tree").resolve()
        copy_tree(tree)
        patch_tree(tree, paths)
        seconds = compile_modules(tree, paths)
        print(f"compiled {len(paths)} modules in {seconds:.0f} s into {tree}", file=sys.stderr)
        if not args.build_only:
            cmd = [PY, str(ROOT / "bench" / "instructions.py"), "--scenario", args.scenario]
            cmd += ["--repeat", str(args.repeat), "--tree", str(tree)]
            subprocess.run(cmd, cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
