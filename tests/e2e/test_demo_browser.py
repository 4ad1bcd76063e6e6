"""The demo chat in a real browser: two headless Chromium pages chat through our server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gevent
import pytest

from tests.helpers.browser import chromium_path, run_browser

BROWSER_SCRIPT = r"""
withBrowser(async (browser) => {
  const open = (nick) => openChat(browser, "/", nick, "garden", 10000);
  const alice = await open("alice");
  const bob = await open("bob");
  await waitMembers(alice, 2, 10000);
  await alice.fill("#text", "hello from alice");
  await alice.click("#send");
  await seenLine(bob, "alice: hello from alice", 10000);
  const members = await bob.$$eval("#members li", (lis) => lis.map((li) => li.textContent));
  const transport = await bob.evaluate(() => socket.io.engine.transport.name);
  await bob.screenshot({path: ARGS.screenshot});
  out({members, transport});
  done();
});
"""


def test_two_pages_chat(serve: Callable[..., str], tmp_path: Any) -> None:
    chromium_path()
    from gsocketio.demo import create_app

    app, _sio, state, _legacy = create_app()
    url = serve(app)
    shot = tmp_path / "chat.png"
    records = run_browser(BROWSER_SCRIPT, url, args={"screenshot": str(shot)}, timeout=60)
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
withBrowser(async (browser) => {
  const open = (path, nick) => openChat(browser, path, nick, "mixed", 10000);
  const modern = await open("/", "modern");
  const old = await open("/legacy?transport=" + ARGS.transport, "old");
  await waitMembers(modern, 2, 10000);
  await modern.fill("#text", "hello from 4.x");
  await modern.click("#send");
  await seenLine(old, "modern: hello from 4.x", 10000);
  await old.fill("#text", "hello from 0.9");
  await old.click("#send");
  await seenLine(modern, "old: hello from 0.9", 10000);
  out({legacy_status: await old.textContent("#status"),
       members: await old.$$eval("#members li", (lis) => lis.map((li) => li.textContent))});
  done();
});
"""


@pytest.mark.parametrize("transport", ["websocket", "xhr-polling"])
def test_legacy_and_modern_pages_share_a_room(serve: Callable[..., str], transport: str) -> None:
    """A 0.9 client and a 4.x client in the same demo room see each other's messages."""
    chromium_path()
    from gsocketio.demo import create_app

    app, _sio, _state, _legacy = create_app()
    url = serve(app)
    records = run_browser(MIXED_SCRIPT, url, args={"transport": transport}, timeout=60)
    assert not [r for r in records if "pageerror" in r]
    assert records[-1] == {
        "legacy_status": f"connected ({transport})",
        "members": ["modern", "old"],
    }
