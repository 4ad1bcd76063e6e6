"""The msgpack browser build (``/socket.io/socket.io.msgpack.min.js``) in headless Chromium
against ``Server(serializer="msgpack")``: served beside the default bundle, and working."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import gsocketio
from tests.helpers.node import run_node

PAGE = """<!doctype html>
<title>msgpack</title>
<script src="/socket.io/socket.io.msgpack.min.js"></script>
<script>
  const socket = io({ transports: ["polling", "websocket"] });
  socket.on("pushed", (text, blob) => {
    window.pushed = { text, blob: Array.from(new Uint8Array(blob)) };
  });
  socket.on("connect", () => {
    socket.emit("echo", "hi", new Uint8Array([1, 2, 3]).buffer, { n: 1.5 }, (text, blob, obj) => {
      window.result = { text, blob: Array.from(new Uint8Array(blob)), obj };
      socket.emit("push");
    });
  });
</script>
"""

SCRIPT = r"""
const { chromium } = require("playwright-core");
(async () => {
  const browser = await chromium.launch({
    executablePath: ARGS.chromium,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage();
    page.on("pageerror", (e) => out({pageerror: String(e)}));
    await page.goto(URL + "/");
    await page.waitForFunction(() => window.result && window.pushed, null, {timeout: 10000});
    out(await page.evaluate(() => ({ result: window.result, pushed: window.pushed })));
    done();
  } finally {
    await browser.close();
  }
})().catch((e) => fail(e && e.stack || e));
"""


def test_msgpack_bundle_in_chromium(serve: Callable[..., str], tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("missing: Debian chromium (make test installs it)")
    sio = gsocketio.Server(serializer="msgpack")
    seen: list[Any] = []

    @sio.on("echo")
    def echo(sid: str, *args: Any) -> Any:
        seen.append(args)
        return args

    @sio.on("push")
    def push(sid: str) -> None:
        sio.emit("pushed", "from the server", b"\xff\x00", to=sid)

    (tmp_path / "index.html").write_text(PAGE)
    url = serve(sio.wsgi_app(static_files={"/": str(tmp_path / "index.html")}))
    records = run_node(SCRIPT, url, args={"chromium": chromium}, timeout=60)
    assert not [r for r in records if "pageerror" in r]
    assert records[-1] == {
        "result": {"text": "hi", "blob": [1, 2, 3], "obj": {"n": 1.5}},
        "pushed": {"text": "from the server", "blob": [255, 0]},
    }
    assert seen == [("hi", b"\x01\x02\x03", {"n": 1.5})]
