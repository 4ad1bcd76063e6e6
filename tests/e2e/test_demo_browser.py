"""The demo chat in a real browser: two headless Chromium pages chat through our server."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

import gevent
import pytest

from tests.helpers.node import run_node

BROWSER_SCRIPT = r"""
const { chromium } = require("playwright-core");
(async () => {
  const browser = await chromium.launch({
    executablePath: ARGS.chromium,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const open = async (nick) => {
      const page = await browser.newPage();
      page.on("pageerror", (e) => out({pageerror: String(e)}));
      await page.goto(URL + "/");
      await page.waitForSelector("body[data-connected='1']", {timeout: 10000});
      await page.fill("#nick", nick);
      await page.fill("#room", "garden");
      await page.click("#join");
      await page.waitForSelector("body[data-joined='garden']", {timeout: 10000});
      return page;
    };
    const alice = await open("alice");
    const bob = await open("bob");
    await alice.waitForFunction(() => document.querySelectorAll("#members li").length === 2, null, {timeout: 10000});
    await alice.fill("#text", "hello from alice");
    await alice.click("#send");
    await bob.waitForFunction(
      () => [...document.querySelectorAll("#messages li.chat")].some((li) => li.textContent === "alice: hello from alice"),
      null, {timeout: 10000});
    const members = await bob.$$eval("#members li", (lis) => lis.map((li) => li.textContent));
    const transport = await bob.evaluate(() => socket.io.engine.transport.name);
    await bob.screenshot({path: ARGS.screenshot});
    out({members, transport});
    done();
  } finally {
    await browser.close();
  }
})().catch((e) => fail(e && e.stack || e));
"""


def test_two_pages_chat(serve: Callable[..., str], tmp_path: Any) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("missing: Debian chromium (make test installs it)")
    from gsocketio.demo import create_app

    app, _sio, state, _legacy = create_app()
    url = serve(app)
    shot = tmp_path / "chat.png"
    records = run_node(
        BROWSER_SCRIPT, url, args={"chromium": chromium, "screenshot": str(shot)}, timeout=60
    )
    assert not [r for r in records if "pageerror" in r]
    final = records[-1]
    assert final["members"] == ["alice", "bob"]
    assert final["transport"] == "websocket"  # upgraded from polling
    assert shot.stat().st_size > 0
    # closing the browser disconnected both pages, and the demo forgot them
    with gevent.Timeout(5, AssertionError(f"members left behind: {state.members}")):
        while state.members:
            gevent.sleep(0.02)


MIXED_SCRIPT = r"""
const { chromium } = require("playwright-core");
(async () => {
  const browser = await chromium.launch({
    executablePath: ARGS.chromium,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const open = async (path, nick) => {
      const page = await browser.newPage();
      page.on("pageerror", (e) => out({pageerror: String(e)}));
      await page.goto(URL + path);
      await page.waitForSelector("body[data-connected='1']", {timeout: 10000});
      await page.fill("#nick", nick);
      await page.fill("#room", "mixed");
      await page.click("#join");
      await page.waitForSelector("body[data-joined='mixed']", {timeout: 10000});
      return page;
    };
    const seen = (page, line) => page.waitForFunction(
      (line) => [...document.querySelectorAll("#messages li.chat")].some((li) => li.textContent === line),
      line, {timeout: 10000});
    const modern = await open("/", "modern");
    const old = await open("/legacy?transport=" + ARGS.transport, "old");
    await modern.waitForFunction(() => document.querySelectorAll("#members li").length === 2, null, {timeout: 10000});
    await modern.fill("#text", "hello from 4.x");
    await modern.click("#send");
    await seen(old, "modern: hello from 4.x");
    await old.fill("#text", "hello from 0.9");
    await old.click("#send");
    await seen(modern, "old: hello from 0.9");
    out({legacy_status: await old.textContent("#status"),
         members: await old.$$eval("#members li", (lis) => lis.map((li) => li.textContent))});
    done();
  } finally {
    await browser.close();
  }
})().catch((e) => fail(e && e.stack || e));
"""


@pytest.mark.parametrize("transport", ["websocket", "xhr-polling"])
def test_legacy_and_modern_pages_share_a_room(serve: Callable[..., str], transport: str) -> None:
    """A 0.9 client and a 4.x client in the same demo room see each other's messages."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("missing: Debian chromium (make test installs it)")
    from gsocketio.demo import create_app

    app, _sio, _state, _legacy = create_app()
    url = serve(app)
    records = run_node(
        MIXED_SCRIPT, url, args={"chromium": chromium, "transport": transport}, timeout=60
    )
    assert not [r for r in records if "pageerror" in r]
    assert records[-1] == {
        "legacy_status": f"connected ({transport})",
        "members": ["modern", "old"],
    }
