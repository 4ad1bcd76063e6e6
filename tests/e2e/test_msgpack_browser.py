"""The msgpack browser build (``/socket.io/socket.io.msgpack.min.js``) in headless Chromium
against ``Server(serializer="msgpack")``: served beside the default bundle, and working."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gsocketio
from tests.helpers.browser import chromium_path, run_browser

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
withBrowser(async (browser) => {
  const page = await browser.newPage();
  page.on("pageerror", (e) => out({pageerror: String(e)}));
  await page.goto(URL + "/");
  await page.waitForFunction(() => window.result && window.pushed, null, {timeout: 10000});
  out(await page.evaluate(() => ({ result: window.result, pushed: window.pushed })));
  done();
});
"""


def test_msgpack_bundle_in_chromium(serve: Callable[..., str], tmp_path: Path) -> None:
    chromium_path()
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
    records = run_browser(SCRIPT, url, timeout=60)
    assert not [r for r in records if "pageerror" in r]
    assert records[-1] == {
        "result": {"text": "hi", "blob": [1, 2, 3], "obj": {"n": 1.5}},
        "pushed": {"text": "from the server", "blob": [255, 0]},
    }
    assert seen == [("hi", b"\x01\x02\x03", {"n": 1.5})]
