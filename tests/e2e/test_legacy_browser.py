"""The 0.9.16 browser client (dist/socket.io.js) in headless Chromium, one transport at a time.

The page is served by the test's own WSGI app, next to the endpoint. Each run forces one
transport (websocket, xhr-polling, jsonp-polling, htmlfile) and goes through: an event with an
ack carrying astral characters, ``</script>`` and U+2028 (UTF-16 lengths in polling frames,
escaping in JSONP and htmlfile scripts), a server ``call()`` the page acks, several server
events arriving together, then a disconnect.

htmlfile needs IE's ``ActiveXObject("htmlfile")``; the page stands in for it with a hidden
same-origin iframe whose document is the "htmlfile" (``parentWindow`` is IE's ``defaultView``),
so the transport's real code path runs: forever iframe, chunked ``<script>`` pushes calling
``parent.s._``, packets back by XHR POST.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gevent
import pytest

from gsocketio.legacy import LegacyServer
from tests.helpers.browser import BrowserClient, chromium_path
from tests.helpers.chat_app import build
from tests.helpers.node import NODE_MODULES

BUNDLE = NODE_MODULES / "socket.io-client-legacy" / "dist" / "socket.io.js"
TRANSPORTS = ["websocket", "xhr-polling", "jsonp-polling", "htmlfile"]
TRICKY = "h\u00e9llo \u2713 \U0001f600 </script> \u2028 end"

PAGE = r"""<!doctype html>
<html><head><meta charset="utf-8"><title>0.9</title>
<script src="/legacy/socket.io.js"></script>
</head><body>
<script>
// IE's htmlfile ActiveX document, played by a hidden same-origin iframe.
window.ActiveXObject = function (kind) {
  if (kind !== "htmlfile") throw new Error("no ActiveX " + kind);
  var frame = document.createElement("iframe");
  frame.style.display = "none";
  document.body.appendChild(frame);
  var doc = frame.contentDocument;
  doc.parentWindow = frame.contentWindow;
  return doc;
};
window.CollectGarbage = function () {};

// While a POST is in flight the 0.9 client buffers outgoing packets, and disconnect() drops
// that buffer: wait (bounded) for the POST to finish so that its "0::" really goes out.
function whenFlushed(socket, tries, fn) {
  if (!socket.doBuffer || tries <= 0) return fn();
  setTimeout(function () { whenFlushed(socket, tries - 1, fn); }, 20);
}

function runScenario(transport, tricky) {
  return new Promise(function (resolve, reject) {
    var timer = setTimeout(function () { reject(new Error("timed out on " + transport)); }, 15000);
    // The client deep-merges the "transports" option into the global io.transports by index,
    // so [t] alone would only overwrite its first entry: narrow the global list itself.
    io.transports = [transport];
    var s = io.connect(location.protocol + "//" + location.host,
      { transports: [transport], "force new connection": true, reconnect: false });
    var got = { items: [] };
    s.on("question", function (q, ack) { ack("answer to " + q); });
    s.on("item", function (value) {
      got.items.push(value);
      if (got.items.length === 3) {
        whenFlushed(s.socket, 100, function () {
          got.transport = s.socket.transport.name;
          s.disconnect();
          clearTimeout(timer);
          resolve(got);
        });
      }
    });
    s.on("connect", function () {
      s.emit("echo", tricky, 7, function () {
        got.echo = Array.prototype.slice.call(arguments);
        s.emit("ask", "life", function (reply) {
          got.ask = reply;
          s.emit("burst", tricky);
        });
      });
    });
    s.on("error", function (e) { clearTimeout(timer); reject(new Error("error: " + e)); });
  });
}
</script>
</body></html>
"""

BROWSER_SCRIPT = r"""
let proceed = null;
onLine((cmd) => { if (cmd.next && proceed) proceed(); });
withBrowser(async (browser) => {
  for (const transport of ARGS.transports) {
    const page = await browser.newPage();
    page.on("pageerror", (e) => fail(transport + ": page error: " + e));
    await page.goto(URL + "/");
    const result = await page.evaluate(([t, tricky]) => runScenario(t, tricky), [transport, ARGS.tricky]);
    const next = new Promise((resolve) => { proceed = resolve; });
    out({ transport, result });
    await next;   // the test saw the server side of the disconnect: the page may go
    await page.close();
  }
  done();
});
"""


def test_every_browser_transport(serve: Callable[..., str], tmp_path: Path) -> None:
    chromium_path()
    if not BUNDLE.is_file():
        pytest.skip("missing: node_modules/socket.io-client-legacy (make test installs it)")
    sio, rec = build(cors_allowed_origins=None)  # same origin: the page's own

    @sio.on("burst")
    def burst(sid: str, text: str) -> None:
        for i in range(3):  # queued together: one polling answer, several frames
            sio.emit("item", f"{i}:{text}", to=sid)

    legacy = LegacyServer(
        sio, heartbeat_interval=1, heartbeat_timeout=5, polling_duration=3, jsonp=True
    )
    page = tmp_path / "index.html"
    page.write_text(PAGE, encoding="utf-8")
    url = serve(legacy.wsgi_app(static_files={"/": str(page), "/legacy/socket.io.js": str(BUNDLE)}))
    client = BrowserClient(
        BROWSER_SCRIPT, url, args={"transports": TRANSPORTS, "tricky": TRICKY}, timeout=90
    )
    try:
        for count, transport in enumerate(TRANSPORTS, 1):
            record = client.expect("result", timeout=30)
            assert record["transport"] == transport
            assert record["result"] == {
                "transport": transport,
                "echo": [TRICKY, 7],
                "ask": {"client_said": "answer to life"},
                "items": [f"{i}:{TRICKY}" for i in range(3)],
            }
            with gevent.Timeout(5, AssertionError(f"{transport}: no disconnect seen")):
                while len(rec.disconnects) < count:
                    gevent.sleep(0.02)
            client.send({"next": True})
        client.expect("done", timeout=30)
    finally:
        client.close()
        legacy.close()
    assert {reason for _nsp, _sid, reason in rec.disconnects} == {"client namespace disconnect"}
