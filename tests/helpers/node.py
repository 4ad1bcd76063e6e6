"""Drive the official Node clients (socket.io-client 4.x, 2.x, 0.9.x) from tests.

A test passes a JavaScript snippet; it runs with ``node`` with the repo's node_modules on the
module path and with ``URL`` set. The snippet reports with ``out({...})`` (one JSON line each)
and ends with ``done()``. Everything is bounded by a timeout; a snippet that never calls
``done()`` fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "node_modules"

PRELUDE = """
const out = (o) => process.stdout.write(JSON.stringify(o) + "\\n");
const done = (code = 0) => { out({done: true}); setTimeout(() => process.exit(code), 10); };
const fail = (msg) => { out({error: String(msg)}); setTimeout(() => process.exit(1), 10); };
const URL = process.env.URL;
const ARGS = JSON.parse(process.env.ARGS || "{}");
const onLine = (fn) => require("readline").createInterface({input: process.stdin})
  .on("line", (l) => { try { fn(JSON.parse(l)); } catch (e) { fail(e && e.stack || e); } });
process.on("uncaughtException", (e) => fail(e && e.stack || e));
setTimeout(() => fail("node snippet timed out"), Number(process.env.NODE_TIMEOUT_MS || 20000));
"""


def _program(script: str) -> str:
    """The prelude and the snippet inside one function scope.

    ``node -e`` runs a script whose top-level ``const`` names are global lexical bindings:
    the prelude's ``URL`` would shadow the WHATWG ``URL`` class for every module (playwright).
    """
    return "(() => {\n" + PRELUDE + textwrap.dedent(script) + "\n})();\n"


def require_node() -> str:
    node = shutil.which("node")
    if node is None or not (NODE_MODULES / "socket.io-client").is_dir():
        pytest.skip("missing: node or node_modules (run `make test`, which installs them)")
    return node


def _env(url: str, args: dict[str, Any] | None, timeout: float) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        NODE_PATH=str(NODE_MODULES),
        URL=url,
        ARGS=json.dumps(args or {}),
        NODE_TIMEOUT_MS=str(int(timeout * 1000)),
    )
    return env


def run_node(
    script: str, url: str, *, args: dict[str, Any] | None = None, timeout: float = 20.0
) -> list[dict[str, Any]]:
    """Run a snippet to completion; returns its ``out()`` records (the final done record removed)."""
    node = require_node()
    code = _program(script)
    proc = subprocess.run(
        [node, "-e", code],
        env=_env(url, args, timeout),
        capture_output=True,
        text=True,
        timeout=timeout + 10,
        cwd=ROOT,
    )
    records = [json.loads(line) for line in proc.stdout.split("\n") if line.startswith("{")]
    errors = [r["error"] for r in records if "error" in r]
    if proc.returncode != 0 or errors or not any(r.get("done") for r in records):
        raise AssertionError(
            f"node snippet failed (exit {proc.returncode}): {errors}\nstdout:\n{proc.stdout}\n"
            f"stderr:\n{proc.stderr}"
        )
    return [r for r in records if not r.get("done")]


class NodeClient:
    """A snippet running in the background, for scenarios with several live clients."""

    def __init__(
        self, script: str, url: str, *, args: dict[str, Any] | None = None, timeout: float = 30.0
    ) -> None:
        node = require_node()
        self.proc = subprocess.Popen(
            [node, "-e", _program(script)],
            env=_env(url, args, timeout),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.timeout = timeout

    def send(self, obj: dict[str, Any]) -> None:
        """One JSON line on the snippet's stdin (read it with readline in the snippet)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def expect(self, key: str, timeout: float = 10.0) -> dict[str, Any]:
        """Wait (bounded) for the next record that has ``key``; records without it are skipped."""
        import gevent

        assert self.proc.stdout is not None
        with gevent.Timeout(timeout, AssertionError(f"no {key!r} record from node in {timeout}s")):
            for _ in range(10_000):
                line = self.proc.stdout.readline()
                if not line:
                    err = self.proc.stderr.read() if self.proc.stderr else ""
                    raise AssertionError(f"node exited before {key!r}: {err}")
                if not line.startswith("{"):
                    continue
                record: dict[str, Any] = json.loads(line)
                if "error" in record:
                    raise AssertionError(f"node error: {record['error']}")
                if key in record:
                    return record
        raise AssertionError(f"no {key!r} record")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)
