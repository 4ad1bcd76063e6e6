"""The demo chat under ``--workers 4`` behind a round-robin proxy, two Chromium pages forced
onto long-polling: every poll may land on any worker, and the messages still cross."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import gevent
import pytest
import redis

from tests.cluster.conftest import ROOT, redis_client
from tests.compat.test_examples import start, stop
from tests.helpers.browser import run_browser
from tests.helpers.rrproxy import RoundRobinProxy

SCRIPT = r"""
withBrowser(async (browser) => {
  const open = (nick) => openChat(browser, "/", nick, "garden", 15000, forcePolling);
  const alice = await open("alice");
  const bob = await open("bob");
  for (let i = 0; i < 3; i++) {
    await alice.fill("#text", `hello ${i} from alice`); await alice.click("#send");
    await seenLine(bob, `alice: hello ${i} from alice`, 15000);
    await bob.fill("#text", `hello ${i} from bob`); await bob.click("#send");
    await seenLine(alice, `bob: hello ${i} from bob`, 15000);
  }
  const transports = [await alice.evaluate(() => socket.io.engine.transport.name),
                      await bob.evaluate(() => socket.io.engine.transport.name)];
  out({transports});
  done();
});
"""


@pytest.fixture
def key() -> str:
    try:
        redis_client().ping()
    except redis.RedisError as exc:
        pytest.skip(f"missing: Redis at 127.0.0.1:6379 ({exc})")
    return f"gsio-test-{uuid.uuid4().hex}"


@pytest.fixture
def demo_cluster(key: str) -> Iterator[RoundRobinProxy]:
    env = dict(os.environ)
    os.environ["ANYPROC_KEY"] = key
    try:
        proc, url = start(
            [sys.executable, "-m", "gsocketio", "run", "tests.e2e.anyproc_demo_app:app",
             "--workers", "4", "--port", "0"],
            ROOT, r"on (http://127\.0\.0\.1:\d+)/ with 4 workers", "stderr",
        )  # fmt: skip
    finally:
        os.environ.clear()
        os.environ.update(env)
    proxy = RoundRobinProxy([("127.0.0.1", int(url.rsplit(":", 1)[1]))])
    try:
        wait_subscribed(key)
        yield proxy
    finally:
        proxy.close()
        stop(proc)


def wait_subscribed(key: str) -> None:
    with gevent.Timeout(20, AssertionError("the workers' adapters did not subscribe")):
        while int(redis_client().pubsub_numsub(f"{key}-request#/#")[0][1]) < 4:
            gevent.sleep(0.05)


def test_two_polling_pages_chat_across_four_workers(demo_cluster: RoundRobinProxy) -> None:
    records: list[dict[str, Any]] = run_browser(SCRIPT, demo_cluster.url, timeout=60)
    assert not [r for r in records if "pageerror" in r]
    assert records[-1]["transports"] == ["polling", "polling"]
    assert sum(demo_cluster.counts.values()) > 20  # every one a new upstream connection
