"""Build hook: put the official browser clients into the wheel (metadata is in pyproject.toml).

``python -m gsocketio`` serves ``/socket.io/socket.io.js`` and the demo's 0.9 page serves
``/legacy/socket.io.js``; a user who installs the wheel has neither npm nor a node_modules, so
the wheel carries the bundles under ``gsocketio/static/``. They are taken at build time, never
committed: from ``node_modules`` when it holds the pinned version, else with ``npm pack`` from
the npm registry, the tarball checked against the pinned integrity hash. See
docs/operations.md ("Packaging") for the fallback when neither is possible.

``GSOCKETIO_BUNDLE_CLIENT``: ``auto`` (default: bundle, warn and go on without on failure),
``require`` (fail the build instead) or ``skip``.

``GSOCKETIO_MYPYC``: unset, empty or ``0`` (default) builds pure Python, exactly as without this
hook; ``1`` compiles :data:`MYPYC_MODULES` with mypyc (the wheel then carries an extension
module next to each of their ``.py`` sources; a failure fails the build); ``auto`` tries the
same and falls back to pure Python with a warning when it cannot compile (no C compiler, no
Python headers, a mypyc error). The build then needs mypy: it is asked for as a build
requirement only while the variable is on. See docs/operations.md ("Compiled build").
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from setuptools import Distribution, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py
from setuptools.errors import CCompilerError, ExecError, PlatformError

HERE = Path(__file__).resolve().parent

# name in node_modules -> (npm spec, integrity of the registry tarball, target dir, files)
BUNDLES = {
    "socket.io-client": (
        "socket.io-client@4.8.4",
        "sha512-7wjKAvVXYOJsbmUgkWbnhPD4bFpkqrUR0++XOjpGFmqDqsqV1CI93VTraeExLxpjxEqrWgFoSRZu1ihjLWfkAA==",
        "client",
        [
            f"dist/{name}{suffix}"
            for name in (
                "socket.io.js",
                "socket.io.min.js",
                "socket.io.esm.min.js",
                "socket.io.msgpack.min.js",
            )
            for suffix in ("", ".map")
        ]
        + ["LICENSE", "package.json"],
    ),
    "socket.io-client-legacy": (
        "socket.io-client@0.9.16",
        "sha512-wSM7PKJkzpGqUAo6d6SAn+ph4xeQJ6nzyDULRJAX1G7e6Xm0wNuMh2RpNvwXrHMzoV9Or5hti7LINiQAm1H2yA==",
        "client-0.9",
        ["dist/socket.io.js", "README.md", "package.json"],  # 0.9.16's license is in its README
    ),
}


class BundleError(Exception):
    """The client bundle could not be obtained."""


def _version_of(spec: str) -> str:
    return spec.rpartition("@")[2]


def _from_node_modules(name: str, spec: str, files: list[str]) -> dict[str, bytes] | None:
    root = HERE / "node_modules" / name
    try:
        version = json.loads((root / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None
    if version != _version_of(spec) or not all((root / f).is_file() for f in files):
        return None
    return {f: (root / f).read_bytes() for f in files}


def _from_registry(spec: str, integrity: str, files: list[str]) -> dict[str, bytes]:
    npm = shutil.which("npm")
    if npm is None:
        raise BundleError("npm is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            proc = subprocess.run(
                [npm, "pack", spec, "--json", "--pack-destination", tmp, "--loglevel=error"],
                capture_output=True,
                text=True,
                timeout=180,
                cwd=tmp,
                check=True,
            )
            filename = json.loads(proc.stdout)[0]["filename"]
        except (OSError, subprocess.SubprocessError, ValueError, KeyError, IndexError) as exc:
            raise BundleError(f"npm pack {spec} failed: {exc}") from exc
        raw = (Path(tmp) / filename).read_bytes()
    algo, _, expected = integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algo, raw).digest()).decode()
    if actual != expected:
        raise BundleError(f"{spec}: tarball integrity {algo}-{actual} is not the pinned one")
    wanted = {"package/" + f: f for f in files}
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
        for member in tar.getmembers():
            target = wanted.get(member.name)
            if target is not None and member.isfile():
                extracted = tar.extractfile(member)
                if extracted is not None:
                    found[target] = extracted.read()
    missing = sorted(set(files) - set(found))
    if missing:
        raise BundleError(f"{spec}: tarball lacks {missing}")
    return found


def _license_from_readme(readme: bytes) -> bytes:
    match = re.search(rb"#+ *License.*", readme, re.DOTALL | re.IGNORECASE)
    return match.group(0) if match else readme


def bundle_into(package_dir: Path) -> list[str]:
    """Write every bundle under ``package_dir/static/``; returns what was bundled from where."""
    done: list[str] = []
    for name, (spec, integrity, target, files) in BUNDLES.items():
        contents = _from_node_modules(name, spec, files)
        origin = "node_modules"
        if contents is None:
            contents = _from_registry(spec, integrity, files)
            origin = "the npm registry"
        out = package_dir / "static" / target
        out.mkdir(parents=True, exist_ok=True)
        for path, data in contents.items():
            if path == "README.md":
                path, data = "LICENSE", _license_from_readme(data)
            elif path == "package.json":  # only what ClientBundle reads: the version (ETag)
                meta = json.loads(data)
                data = json.dumps({k: meta[k] for k in ("name", "version", "license") if k in meta})
                data = data.encode()
            dest = out / Path(path).name
            dest.write_bytes(data)
        done.append(f"gsocketio: bundled {spec} from {origin} into {out}")
    return done


# --- the optional mypyc build ------------------------------------------------------------------

# Compiled by GSOCKETIO_MYPYC builds: the sans-I/O per-message core and the layers every
# message crosses (chosen by measurement: docs/benchmarks.md, "mypyc build"). Left pure:
# protocol/_text.py (mypyc refuses surrogate code points in string literals), the legacy
# 0.9/EIO3 modules (off the v4 path) and everything users subclass or patch.
MYPYC_MODULES = [
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
    "gsocketio/client.py",
    "gsocketio/default_handlers.py",
    "gsocketio/socket.py",
    "gsocketio/engine/websocket.py",
    "gsocketio/engine/connection.py",
    "gsocketio/websocket/connection.py",
    "gsocketio/websocket/parking.py",  # WebSocket's base class: compiled with it
    # the long-polling path: HTTP/1.1 server side and the engine's polling transport
    "gsocketio/http/parser.py",
    "gsocketio/http/connection.py",
    "gsocketio/http/response.py",
    "gsocketio/http/environ.py",
    "gsocketio/http/body.py",
    "gsocketio/engine/http.py",
    "gsocketio/engine/polling.py",
]
MYPY = "mypy>=1.10"  # as in the test extra; tested with mypy/mypyc 2.4.1


class MypycError(Exception):
    """The modules could not be compiled."""


class MypycMissing(MypycError):
    """mypyc is not installed (yet: PEP 517 asks for the build requirements first)."""


def mypyc_mode() -> str:
    """``""`` (pure), ``"1"`` (compile or fail) or ``"auto"`` (compile or fall back)."""
    mode = os.environ.get("GSOCKETIO_MYPYC", "").strip().lower()
    if mode in ("", "0"):
        return ""
    if mode not in ("1", "auto"):
        raise SystemExit(f"GSOCKETIO_MYPYC={mode!r}: expected 0, 1 or auto")
    return mode


def mypyc_extensions(paths: list[str]) -> list[Any]:
    """The extension modules of ``paths`` (relative to the current directory, the tree root):
    mypyc type-checks them (``--strict``, pyproject.toml's [tool.mypy]) and writes their C."""
    try:
        from mypyc.build import mypycify
    except ImportError as exc:
        raise MypycMissing(f"mypyc is not installed ({exc}): pip install '{MYPY}'") from exc
    try:
        return list(mypycify(paths, opt_level="3"))
    except SystemExit as exc:  # mypycify exits on a type or compile error it has printed
        raise MypycError(f"mypyc failed on {len(paths)} modules (exit {exc.code})") from exc


def build_in_place(tree: Path, paths: list[str] = MYPYC_MODULES) -> None:
    """Compile ``paths`` next to their sources under ``tree`` (a copy of the checkout: never
    the repository itself, whose edits a stale ``.so`` would shadow). setuptools'
    ``Distribution`` directly, so pyproject.toml is not parsed as build metadata (older
    setuptools refuse its license field). Used by scripts/compiled_tree.py."""
    cwd = Path.cwd()
    os.chdir(tree)
    try:
        dist = Distribution({"name": "gsocketio", "ext_modules": mypyc_extensions(paths)})
        dist.script_args = ["build_ext", "--inplace"]
        dist.parse_command_line()
        dist.run_commands()
    finally:
        os.chdir(cwd)


def _build_requirements() -> list[str]:
    """mypy, and the dependencies whose types mypy follows from the compiled modules (an
    isolated build environment has only what the build asks for): the runtime ones and the
    metrics extra (the other extras' libraries are untyped, ignored by [tool.mypy])."""
    import tomllib

    project = tomllib.loads((HERE / "pyproject.toml").read_text())["project"]
    return [MYPY, *project["dependencies"], *project["optional-dependencies"]["metrics"]]


class BuildExtOrFallBack(build_ext):
    """``build_ext`` that, under ``GSOCKETIO_MYPYC=auto``, leaves pure Python in place of the
    extension modules when they fail to compile or link, and never compiles into the source
    tree (``pip install -e``, ``build_ext --inplace``: see :func:`build_in_place` instead)."""

    def run(self) -> None:
        if getattr(self, "editable_mode", False) or self.inplace:
            # the .so files would land in the checkout and shadow every later edit of a .py
            self.warn("GSOCKETIO_MYPYC: an editable or in-place build stays pure Python")
            return
        if mypyc_mode() != "auto":
            super().run()
            return
        try:
            super().run()
        except (CCompilerError, ExecError, PlatformError, OSError) as exc:
            for path in self.get_outputs():
                Path(path).unlink(missing_ok=True)
            self.extensions = []
            self.distribution.ext_modules = []
            self.warn(f"GSOCKETIO_MYPYC=auto: compiling failed ({exc}); building pure Python")


class BuildPyWithClient(build_py):
    """``build_py`` that also adds the browser clients to the build (not in editable mode,
    where the server finds them in the checkout's node_modules)."""

    def run(self) -> None:
        super().run()
        if mypyc_mode() and not self.distribution.ext_modules:
            if mypyc_mode() == "1":
                raise SystemExit(f"GSOCKETIO_MYPYC=1 but nothing was compiled (needs '{MYPY}')")
            self.warn("GSOCKETIO_MYPYC=auto: nothing compiled; building pure Python")
        mode = os.environ.get("GSOCKETIO_BUNDLE_CLIENT", "auto").lower()
        if getattr(self, "editable_mode", False) or mode == "skip":
            return
        try:
            for line in bundle_into(Path(self.build_lib) / "gsocketio"):
                self.announce(line, level=logging.INFO)
        except (BundleError, OSError) as exc:
            if mode == "require":
                raise SystemExit(f"gsocketio: cannot bundle the browser client: {exc}") from exc
            self.warn(
                f"building WITHOUT the browser client ({exc}); /socket.io/socket.io.js will "
                "answer 404 unless GSOCKETIO_CLIENT_DIST is set (docs/operations.md)"
            )


def _setup_args() -> dict[str, Any]:
    mode = mypyc_mode()
    if not mode:
        return {}
    args: dict[str, Any] = {
        "cmdclass": {"build_ext": BuildExtOrFallBack},
        "setup_requires": _build_requirements(),
    }
    try:
        args["ext_modules"] = mypyc_extensions(MYPYC_MODULES)
    except MypycMissing as exc:
        # PEP 517's first pass, which only collects setup_requires (the build then runs again
        # with mypy installed), or a build without it: BuildPyWithClient fails or warns
        logging.getLogger("gsocketio").warning("gsocketio: %s", exc)
    except MypycError as exc:
        if mode == "1":
            raise SystemExit(f"GSOCKETIO_MYPYC=1: {exc}") from exc
        logging.getLogger("gsocketio").warning("GSOCKETIO_MYPYC=auto: %s; building pure", exc)
    return args


if __name__ == "__main__":  # as setuptools runs it; scripts/compiled_tree.py imports it
    extra = _setup_args()
    setup(cmdclass={"build_py": BuildPyWithClient, **extra.pop("cmdclass", {})}, **extra)
