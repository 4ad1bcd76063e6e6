"""The real Admin UI (``@socket.io/admin-ui`` 0.5's ``ui/dist``, served by
``wsgi_app(admin_ui_path=...)``) in headless Chromium: a wrong password is refused, the right
one logs in, and a Node client connected to the server is listed on the Sockets page."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import gsocketio
from gsocketio.admin_ui import find_admin_ui
from tests.helpers.admin_ui import app_client
from tests.helpers.browser import chromium_path, run_browser

SCRIPT = r"""
withBrowser(async (browser) => {
  const page = await browser.newPage({ locale: "en-US" });
  page.on("pageerror", (e) => out({ pageerror: String(e) }));
  // The page links web fonts and icons from CDNs: only 127.0.0.1 is reachable here.
  await page.route((u) => !u.href.startsWith(URL), (route) => route.abort());
  await page.goto(URL + "/admin-ui/");
  await page.getByLabel("Server URL").fill(URL);
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill("wrong");
  await page.getByRole("button", { name: "Connect" }).click();
  await page.getByText("Invalid credentials").waitFor({ timeout: 15000 });
  out({ refused: true });
  await page.getByLabel("Password").fill(ARGS.password);
  await page.getByRole("button", { name: "Connect" }).click();
  await page.getByLabel("Password").waitFor({ state: "hidden", timeout: 15000 });
  await page.goto(URL + "/admin-ui/#/sockets/");
  await page.getByText(ARGS.sid).first().waitFor({ timeout: 15000 });
  out({ listed: ARGS.sid, session: await page.evaluate(() => localStorage.getItem("session_id")) });
  await page.goto(URL + "/admin-ui/#/servers/");
  await page.getByText(ARGS.serverId).first().waitFor({ timeout: 15000 });
  out({ server: ARGS.serverId });
  done();
});
"""


def test_admin_ui_logs_in_and_lists_sockets(serve: Callable[..., str]) -> None:
    chromium_path()
    if find_admin_ui() is None:
        pytest.skip("missing: node_modules/@socket.io/admin-ui (make test installs it)")
    sio = gsocketio.Server()
    admin = sio.instrument(
        auth={"username": "admin", "password": "pa55"},
        server_id="browser-test-node",
        server_stats_interval=0.5,
    )
    url = serve(sio.wsgi_app(admin_ui_path="/admin-ui"))
    client, sid = app_client(url)
    try:
        records = run_browser(
            SCRIPT,
            url,
            args={
                "password": "pa55",
                "sid": sid,
                "serverId": "browser-test-node",
            },
            timeout=90,
        )
    finally:
        client.close()
        admin.stop()
    assert not [r for r in records if "pageerror" in r], records
    assert records[0] == {"refused": True}
    assert records[1]["listed"] == sid
    assert isinstance(records[1]["session"], str) and len(records[1]["session"]) == 16
    assert records[2] == {"server": "browser-test-node"}
