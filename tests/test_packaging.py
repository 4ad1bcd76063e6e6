"""The wheel as a user installs it: built, installed into a fresh venv, demo served from a
directory with no checkout and no node_modules nearby, used in headless Chromium.

Slow (a wheel build and a venv install, both once per session); ``-m "not slow"`` skips it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest
import requests

from tests.helpers.browser import chromium_path, run_browser

pytestmark = [pytest.mark.slow, pytest.mark.service, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[1]
CLIENT_FILES = [
    f"{name}{suffix}"
    for name in (
        "socket.io.js",
        "socket.io.min.js",
        "socket.io.esm.min.js",
        "socket.io.msgpack.min.js",
    )
    for suffix in ("", ".map")
]


def _run(cmd: list[str], cwd: Path, timeout: float, **env: str) -> str:
    done = subprocess.run(
        cmd,
        cwd=cwd,
        env={**_clean_env(), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise AssertionError(f"{cmd} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


def _clean_env() -> dict[str, str]:
    """The environment minus what would let the installed package see this checkout."""
    hidden = {"PYTHONPATH", "GSOCKETIO_CLIENT_DIST", "VIRTUAL_ENV", "NODE_PATH", "GSOCKETIO_MYPYC"}
    return {key: value for key, value in os.environ.items() if key not in hidden}


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel from a copy of the tracked tree without node_modules, as a release
    build would: the client bundles then come from the npm registry."""
    pytest.importorskip("build", reason="missing: the `build` package (test extra)")
    if shutil.which("npm") is None:
        pytest.skip("missing: npm (the wheel build fetches the client bundles with it)")
    source = tmp_path_factory.mktemp("source")
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout.split(b"\0")
    for name in filter(None, (item.decode() for item in listed)):
        if name.startswith("node_modules/") or not (ROOT / name).is_file():
            continue
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    log = _run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out)],
        source,
        timeout=400,
        GSOCKETIO_BUNDLE_CLIENT="require",
    )
    assert "bundled socket.io-client@4.8.4 from the npm registry" in log
    (built,) = out.glob("gsocketio-*.whl")
    return built


@pytest.fixture(scope="session")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel (and its dependencies) installed."""
    venv = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", str(venv)], venv, timeout=120)
    python = venv / "bin" / "python"
    _run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        venv,
        timeout=400,
    )
    return python


class Demo:
    """``python -m gsocketio --log-format json`` from the fresh venv, in an empty directory."""

    def __init__(self, python: Path, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [str(python), "-m", "gsocketio", "--port", "0", "--log-format", "json"],
            cwd=cwd,
            env=_clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.records: list[dict[str, Any]] = []

    def wait_for(self, text: str, timeout: float = 30) -> dict[str, Any]:
        assert self.proc.stderr is not None
        with gevent.Timeout(timeout, AssertionError(f"no {text!r} in {self.records}")):
            for _ in range(10_000):
                line = self.proc.stderr.readline()
                if not line:
                    raise AssertionError(f"demo exited ({self.proc.wait()}): {self.records}")
                record: dict[str, Any] = json.loads(line)
                self.records.append(record)
                if text in record["message"]:
                    return record
        raise AssertionError(f"no {text!r}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture
def demo(installed: Path, tmp_path: Path) -> Iterator[tuple[str, Demo]]:
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    server = Demo(installed, workdir)
    try:
        ready = server.wait_for("serving the demo chat on ")
        url = ready["message"].split(" on ", 1)[1].split("/ ", 1)[0]
        yield url, server
    finally:
        server.stop()


def test_wheel_carries_the_client_bundles(wheel: Path) -> None:
    # without GSOCKETIO_MYPYC the wheel is pure Python: no extension module, any platform
    assert wheel.name.endswith("-py3-none-any.whl"), wheel.name
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert not [n for n in names if n.endswith((".so", ".pyd", ".c"))]
        for name in CLIENT_FILES:
            assert f"gsocketio/static/client/{name}" in names
        assert "gsocketio/static/client-0.9/socket.io.js" in names
        license_ = archive.read("gsocketio/static/client/LICENSE").decode()
        legacy_license = archive.read("gsocketio/static/client-0.9/LICENSE").decode()
        meta = json.loads(archive.read("gsocketio/static/client/package.json"))
        assert not [n for n in names if "node_modules" in n]
    assert "MIT License" in license_ and "MIT License" in legacy_license
    assert meta["version"] == "4.8.4"


def test_installed_demo_serves_the_bundles(demo: tuple[str, Demo]) -> None:
    url, server = demo
    found = next(r for r in server.records if r["message"].startswith("browser client: "))
    assert "socket.io-client 4.8.4 from " in found["message"]
    assert "site-packages/gsocketio/static/client" in found["message"]
    bundle = requests.get(url + "/socket.io/socket.io.js", timeout=10)
    assert bundle.status_code == 200
    assert bundle.headers["Content-Type"] == "application/javascript; charset=utf-8"
    assert bundle.headers["ETag"] == '"4.8.4"'
    assert bundle.text.startswith("/*!\n * Socket.IO v4.8.4")
    msgpack = requests.get(url + "/socket.io/socket.io.msgpack.min.js", timeout=10)
    assert msgpack.status_code == 200 and "Socket.IO v4.8.4" in msgpack.text[:200]
    legacy = requests.get(url + "/legacy/socket.io.js", timeout=10)
    assert legacy.status_code == 200 and "build:0.9.16" in legacy.text[:200]


CHAT_SCRIPT = r"""
withBrowser(async (browser) => {
  const open = (path, nick) => openChat(browser, path, nick, "packaged", 10000);
  const alice = await open("/", "alice");
  const old = await open("/legacy", "old");
  await waitMembers(alice, 2, 10000);
  await alice.fill("#text", "hello from the wheel");
  await alice.click("#send");
  await seenLine(alice, "alice: hello from the wheel", 10000);
  await seenLine(old, "alice: hello from the wheel", 10000);
  await old.fill("#text", "0.9 answers");
  await old.click("#send");
  await seenLine(alice, "old: 0.9 answers", 10000);
  out({members: await alice.$$eval("#members li", (lis) => lis.map((li) => li.textContent)),
       transport: await alice.evaluate(() => socket.io.engine.transport.name)});
  done();
});
"""


def test_installed_demo_chats_in_chromium(demo: tuple[str, Demo]) -> None:
    chromium_path()
    url, _server = demo
    records = run_browser(CHAT_SCRIPT, url, timeout=60)
    assert not [r for r in records if "pageerror" in r]
    assert records[-1] == {"members": ["alice", "old"], "transport": "websocket"}
