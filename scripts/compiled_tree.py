"""A copy of the checkout with setup.py's mypyc module set compiled in it (issue 14).

The compiled build (``GSOCKETIO_MYPYC=1``, setup.py) is tested and measured in a COPY of the
tree, never in the checkout itself: a ``.so`` next to a ``.py`` wins the import, so a stale one
in the checkout would hide every later edit of that module. The copy holds gsocketio/, bench/,
tests/, examples/ and the config files, node_modules as a symlink (the Node peers of the
tests); setup.py's :func:`build_in_place` compiles the modules next to their sources there, and
each is then imported in a child interpreter to check that it is the extension module.

    .venv/bin/python scripts/compiled_tree.py OUT [--module gsocketio/x.py ...] [--only ...]

prints the copy's path (the compiled modules' names are in its ``COMPILED`` file);
``scripts/test_compiled.sh`` runs the tests against it and
``bench/experiments/mypyc_core.py`` counts instructions with it.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

# Copied: what a checkout holds, minus VCS data, caches, build output and the bench results.
COPY = ["gsocketio", "bench", "tests", "examples", "scripts", "docs", "setup.py", "pyproject.toml"]
COPY += ["package.json", "README.md"]
IGNORE = shutil.ignore_patterns("__pycache__", "*.so", "results", ".mypy_cache", "*.pyc")

# Run by a child interpreter with the copy first on the path: each module must be the compiled
# one (an extension suffix), not its .py source.
CHECK = """
import importlib, importlib.machinery, sys
bad = []
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    if not module.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
        bad.append(f"{name}: {module.__file__}")
if bad:
    raise SystemExit("not compiled: " + ", ".join(bad))
"""


def load_setup() -> ModuleType:
    """The checkout's setup.py as a module (its ``setup()`` call only runs as ``__main__``)."""
    spec = importlib.util.spec_from_file_location("gsocketio_setup", ROOT / "setup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def module_name(path: str) -> str:
    """``gsocketio/protocol/__init__.py`` -> ``gsocketio.protocol``."""
    parts = Path(path).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def copy_tree(dest: Path) -> None:
    """The source tree at ``dest``, with node_modules linked."""
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


def compiled_tree(dest: Path, paths: list[str]) -> float:
    """Copy the tree to ``dest``, compile ``paths`` in it and check them; the build's seconds."""
    copy_tree(dest)
    start = time.monotonic()
    load_setup().build_in_place(dest, paths)
    elapsed = time.monotonic() - start
    env = dict(os.environ, PYTHONPATH=str(dest))
    names = [module_name(p) for p in paths]
    subprocess.run([PY, "-c", CHECK, *names], cwd=dest, env=env, check=True, timeout=120)
    (dest / "COMPILED").write_text("".join(name + "\n" for name in names))
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="where the copy goes (must not exist)")
    parser.add_argument("--module", action="append", default=[], help="one more .py path")
    parser.add_argument("--only", action="append", default=[], help="compile only these paths")
    args = parser.parse_args()
    if args.out.exists():
        raise SystemExit(f"{args.out} exists: give a new directory")
    paths = list(args.only or load_setup().MYPYC_MODULES)
    paths += [p for p in args.module if p not in paths]
    seconds = compiled_tree(args.out.resolve(), paths)
    print(f"compiled {len(paths)} modules in {seconds:.0f} s", file=sys.stderr)
    print(args.out.resolve())


if __name__ == "__main__":
    main()
