"""Where the browser client comes from: the packaged copy, then $GSOCKETIO_CLIENT_DIST, then
node_modules; and what an app without any says (one warning, a 404 with the remedies)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from gsocketio import demo, wsgi
from gsocketio.wsgi import ClientBundle, find_client_dist


def _dist(directory: Path, marker: str, version: str | None = None) -> Path:
    directory.mkdir(parents=True)
    (directory / "socket.io.js").write_text(f"/* {marker} */")
    if version is not None:
        (directory / "package.json").write_text(json.dumps({"version": version}))
    return directory


def _get(bundle: ClientBundle, filename: str) -> tuple[str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(bundle.serve(filename, {"REQUEST_METHOD": "GET"}, start_response))
    return seen["status"], seen["headers"], body


def test_packaged_copy_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    packaged = _dist(tmp_path / "static" / "client", "packaged", "4.8.4")
    explicit = _dist(tmp_path / "explicit", "explicit")
    monkeypatch.setattr(wsgi, "PACKAGED_CLIENT_DIR", packaged)
    monkeypatch.setenv("GSOCKETIO_CLIENT_DIST", str(explicit))
    assert find_client_dist() == packaged
    bundle = ClientBundle()
    assert bundle.describe() == f"socket.io-client 4.8.4 from {packaged}"
    status, headers, body = _get(bundle, "socket.io.js")
    assert (status, headers["ETag"], body) == ("200 OK", '"4.8.4"', b"/* packaged */")


def test_then_the_environment_then_node_modules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wsgi, "PACKAGED_CLIENT_DIR", tmp_path / "not-built")
    explicit = _dist(tmp_path / "explicit", "explicit")
    monkeypatch.setenv("GSOCKETIO_CLIENT_DIST", str(explicit))
    assert find_client_dist() == explicit
    monkeypatch.delenv("GSOCKETIO_CLIENT_DIST")
    app_dir = tmp_path / "app"
    npm = _dist(app_dir / "node_modules" / "socket.io-client" / "dist", "npm")
    (npm.parent / "package.json").write_text(json.dumps({"version": "4.8.1"}))
    (app_dir / "sub").mkdir()
    monkeypatch.chdir(app_dir / "sub")
    assert find_client_dist() == npm
    assert ClientBundle().describe() == f"socket.io-client 4.8.1 from {npm}"


def test_no_bundle_warns_once_and_answers_404(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(wsgi, "PACKAGED_CLIENT_DIR", tmp_path / "not-built")
    monkeypatch.setenv("GSOCKETIO_CLIENT_DIST", str(tmp_path / "missing"))
    bundle = ClientBundle()
    assert bundle.describe() is None
    with caplog.at_level(logging.WARNING, logger="gsocketio.wsgi"):
        for name in ("socket.io.js", "socket.io.msgpack.min.js"):
            status, _headers, body = _get(bundle, name)
            assert status == "404 Not Found"
            assert b"install gsocketio from a wheel" in body
            assert b"GSOCKETIO_CLIENT_DIST" in body
    warnings = [r for r in caplog.records if r.name == "gsocketio.wsgi"]
    assert len(warnings) == 1 and "docs/operations.md" in warnings[0].getMessage()


def test_demo_prefers_the_packaged_legacy_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packaged = tmp_path / "client-0.9" / "socket.io.js"
    monkeypatch.setattr(demo, "PACKAGED_LEGACY_BUNDLE", packaged)
    monkeypatch.chdir(tmp_path)
    assert demo.find_legacy_bundle() != packaged  # not built: node_modules (or nothing)
    packaged.parent.mkdir()
    packaged.write_text("/* 0.9.16 */")
    assert demo.find_legacy_bundle() == packaged


def test_build_hook_pins_what_package_lock_pins() -> None:
    """setup.py bundles exactly the versions (and tarballs) the Node peers are tested with."""
    root = Path(__file__).resolve().parents[1]
    lock = json.loads((root / "package-lock.json").read_text())["packages"]
    hook = (root / "setup.py").read_text()
    for name in ("socket.io-client", "socket.io-client-legacy"):
        entry = lock[f"node_modules/{name}"]
        assert f'"socket.io-client@{entry["version"]}"' in hook
        assert f'"{entry["integrity"]}"' in hook
