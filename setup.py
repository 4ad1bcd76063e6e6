"""Build hook: put the official browser clients into the wheel (metadata is in pyproject.toml).

``python -m gsocketio`` serves ``/socket.io/socket.io.js`` and the demo's 0.9 page serves
``/legacy/socket.io.js``; a user who installs the wheel has neither npm nor a node_modules, so
the wheel carries the bundles under ``gsocketio/static/``. They are taken at build time, never
committed: from ``node_modules`` when it holds the pinned version, else with ``npm pack`` from
the npm registry, the tarball checked against the pinned integrity hash. See
docs/operations.md ("Packaging") for the fallback when neither is possible.

``GSOCKETIO_BUNDLE_CLIENT``: ``auto`` (default: bundle, warn and go on without on failure),
``require`` (fail the build instead) or ``skip``.
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

from setuptools import setup
from setuptools.command.build_py import build_py

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


class BuildPyWithClient(build_py):
    """``build_py`` that also adds the browser clients to the build (not in editable mode,
    where the server finds them in the checkout's node_modules)."""

    def run(self) -> None:
        super().run()
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


setup(cmdclass={"build_py": BuildPyWithClient})
