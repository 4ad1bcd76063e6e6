"""Measure the mypyc lever of issue 14: the same tree with some modules compiled, against pure.

Builds a compiled copy of the tree with ``scripts/compiled_tree.py`` (setup.py's own
``GSOCKETIO_MYPYC`` module list and build code; ``.so`` files next to the ``.py`` sources in
the copy, each checked to be the module imported) and then, unless ``--build-only``, runs
``bench/instructions.py --tree <compiled copy>`` so the pure tree (this one) and the compiled
copy are counted by callgrind in one interleaved run (instructions per ack or per delivery do
not move with the machine's load).

Module sets (``--set``, repeatable; ``--module`` adds single files):

``shipped`` setup.py's ``MYPYC_MODULES``, what ``GSOCKETIO_MYPYC=1`` compiles (the default);
``core``    only the sans-I/O per-message core: gsocketio/protocol/ (minus the legacy
            0.9/EIO3 modules, _text.py and forward.py) and gsocketio/websocket/framing.py;
``websocket`` ``shipped`` without the long-polling path's HTTP modules (http/, engine/http.py,
            engine/polling.py): what compiling those adds (docs/benchmarks.md, "mypyc build").

Run (from the tree root; ``--out`` keeps the compiled copy, e.g. to run tests or
``bench/run.py --baseline`` against it)::

    PYTHONPATH=. .venv/bin/python bench/experiments/mypyc_core.py --set core \\
        [--out /tmp/gsio-mypyc] [--scenario echo|broadcast] [--repeat 2] [--build-only]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import compiled_tree  # noqa: E402

PY = sys.executable

SHIPPED: list[str] = list(compiled_tree.load_setup().MYPYC_MODULES)
CORE = [p for p in SHIPPED if p.startswith("gsocketio/protocol/")]
CORE.append("gsocketio/websocket/framing.py")
HTTP_PATH = ("gsocketio/http/", "gsocketio/engine/http.py", "gsocketio/engine/polling.py")
WEBSOCKET = [p for p in SHIPPED if not p.startswith(HTTP_PATH)]
SETS = {"shipped": SHIPPED, "core": CORE, "websocket": WEBSOCKET}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=sorted(SETS), action="append", default=[])
    parser.add_argument("--module", action="append", default=[], help="one more .py path")
    parser.add_argument("--out", type=Path, help="keep the compiled copy here (must not exist)")
    parser.add_argument("--scenario", choices=["echo", "broadcast"], default="echo")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--build-only", action="store_true", help="no instruction counts")
    args = parser.parse_args()
    paths = list(dict.fromkeys(p for s in args.set or ["shipped"] for p in SETS[s]))
    paths += [p for p in args.module if p not in paths]
    if args.out is not None and args.out.exists():
        raise SystemExit(f"{args.out} exists: give a new directory")
    with tempfile.TemporaryDirectory(prefix="gsio-mypyc-") as tmp:
        tree = (args.out or Path(tmp) / "tree").resolve()
        seconds = compiled_tree.compiled_tree(tree, paths)
        print(f"compiled {len(paths)} modules in {seconds:.0f} s into {tree}", file=sys.stderr)
        if not args.build_only:
            cmd = [PY, str(ROOT / "bench" / "instructions.py"), "--scenario", args.scenario]
            cmd += ["--repeat", str(args.repeat), "--tree", str(tree)]
            subprocess.run(cmd, cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
