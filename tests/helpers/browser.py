"""Headless Chromium for the browser tests, in one place: Debian's ``chromium`` driven by
``playwright-core`` from node_modules, through the Node snippet runner (tests/helpers/node.py).

A snippet run with :func:`run_browser` (to completion) or :class:`BrowserClient` (in the
background, with ``send``/``expect``) has, besides the snippet prelude (``out``, ``done``,
``fail``, ``onLine``, ``URL``, ``ARGS``):

- ``launchChromium()``: the browser, launched with the flags every test uses;
- ``withBrowser(async (browser) => {...})``: launch, run the body, always close the browser,
  and fail the snippet on any error;
- ``openChat(browser, path, nick, room, timeout, init)``: a page of the demo chat at ``path``,
  connected and joined to ``room`` (``init``: an init script, e.g. ``forcePolling``); page
  errors are reported as ``{pageerror}`` records;
- ``seenLine(page, line, timeout)``, ``waitMembers(page, count, timeout)``: the chat shows
  that message line, that many members;
- ``forcePolling``: an init script that makes the page's ``io()`` use long-polling only.

Tests skip (a failure under CI) when Chromium is missing: :func:`chromium_path`.
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from tests.helpers.node import NodeClient, run_node

__all__ = ["BROWSER_PRELUDE", "BrowserClient", "chromium_path", "run_browser"]

BROWSER_PRELUDE = r"""
const { chromium } = require("playwright-core");
const launchChromium = () => chromium.launch({
  executablePath: ARGS.chromium,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const withBrowser = (body) => (async () => {
  const browser = await launchChromium();
  try {
    await body(browser);
  } finally {
    await browser.close();
  }
})().catch((e) => fail(e && e.stack || e));
const openChat = async (browser, path, nick, room, timeout, init) => {
  const page = await browser.newPage();
  page.on("pageerror", (e) => out({pageerror: String(e)}));
  if (init) await page.addInitScript(init);
  await page.goto(URL + path);
  await page.waitForSelector("body[data-connected='1']", {timeout});
  await page.fill("#nick", nick);
  await page.fill("#room", room);
  await page.click("#join");
  await page.waitForSelector(`body[data-joined='${room}']`, {timeout});
  return page;
};
const seenLine = (page, line, timeout) => page.waitForFunction(
  (line) => [...document.querySelectorAll("#messages li.chat")].some((li) => li.textContent === line),
  line, {timeout});
const waitMembers = (page, count, timeout) => page.waitForFunction(
  (count) => document.querySelectorAll("#members li").length === count, count, {timeout});
const forcePolling = () => {  // wraps the io() the client bundle installs on window
  let real;
  Object.defineProperty(window, "io", {
    configurable: true,
    get() { return real && ((uri, opts) => real(uri, Object.assign({}, opts, {transports: ["polling"]}))); },
    set(v) { real = v; },
  });
};
"""


def chromium_path() -> str:
    """Debian's Chromium, or the test is skipped."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("missing: Debian chromium (make test installs it)")
    return chromium


def _args(args: dict[str, Any] | None) -> dict[str, Any]:
    return {"chromium": chromium_path(), **(args or {})}


def run_browser(
    script: str, url: str, *, args: dict[str, Any] | None = None, timeout: float = 60.0
) -> list[dict[str, Any]]:
    """Run a browser snippet to completion against ``url``; its ``out()`` records."""
    return run_node(BROWSER_PRELUDE + script, url, args=_args(args), timeout=timeout)


class BrowserClient(NodeClient):
    """A browser snippet in the background (``send``, ``expect``, ``close``)."""

    def __init__(
        self, script: str, url: str, *, args: dict[str, Any] | None = None, timeout: float = 60.0
    ) -> None:
        super().__init__(BROWSER_PRELUDE + script, url, args=_args(args), timeout=timeout)
