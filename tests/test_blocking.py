"""Blocked-loop detection: a handler that blocks the hub with an unpatched ``time.sleep`` is
named in the log with its stack, and counted in the metrics; the monitor leaves no thread."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator

import gevent
import pytest
import requests
from gevent import monkey

import gsocketio
from gsocketio import blocking
from tests.helpers.node import NodeClient

real_sleep: Callable[[float], None] = monkey.get_original("time", "sleep")

CLIENT = """
const { io } = require("socket.io-client");
const s = io(URL, { transports: ["websocket"], reconnection: false, forceNew: true });
s.on("connect", () => s.emit("crunch", (reply) => { out({ acked: reply }); s.close(); done(); }));
"""


def os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("gsocketio.blocking")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    with gevent.Timeout(timeout, AssertionError("condition not met in time")):
        while not predicate():
            gevent.sleep(0.02)


def blocked_metric(url: str) -> float:
    text = requests.get(url + "/metrics", timeout=5).text
    lines = [ln for ln in text.splitlines() if ln.startswith("gsocketio_blocked_loops_total ")]
    return float(lines[0].split()[1])


def test_blocking_handler_is_logged_and_counted(
    serve: Callable[..., str], records: Records
) -> None:
    sio = gsocketio.Server(cors_allowed_origins="*")

    @sio.on("crunch")
    def crunch_numbers_synchronously(sid: str) -> str:
        real_sleep(0.6)  # blocks the whole hub: no other greenlet runs
        return "done"

    url = serve(sio.wsgi_app(metrics_path="/metrics"))
    before = blocked_metric(url)
    threads = os_threads()
    monitor = gsocketio.monitor_blocking(threshold=0.2)
    try:
        assert monitor.running
        assert os_threads() == threads + 1
        client = NodeClient(CLIENT, url)
        try:
            assert client.expect("acked")["acked"] == "done"
        finally:
            client.close()
        wait_for(lambda: bool(records.records))
    finally:
        monitor.stop()
    assert not monitor.running
    wait_for(lambda: os_threads() == threads)

    assert len(records.records) == 1
    record = records.records[0]
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert "gevent hub blocked for" in message
    assert "crunch_numbers_synchronously" in message  # the handler, from its stack
    assert "real_sleep(0.6)" in message
    assert monitor.reported == 1
    assert blocked_metric(url) == before + 1


def test_short_pauses_are_not_reported(records: Records) -> None:
    monitor = blocking.BlockingMonitor(threshold=0.5).start()
    try:
        for _ in range(5):
            real_sleep(0.05)
            gevent.sleep(0.05)
    finally:
        monitor.stop()
    assert monitor.reported == 0
    assert records.records == []


def test_monitor_restarts_and_stops_cleanly(records: Records) -> None:
    threads = os_threads()
    first = gsocketio.monitor_blocking(threshold=0.1)
    second = gsocketio.monitor_blocking(threshold=0.1)  # replaces the first
    assert not first.running
    assert second.running
    real_sleep(0.3)
    gevent.sleep(0.15)  # the hub turns: the report is logged
    second.stop()
    second.stop()  # idempotent
    wait_for(lambda: os_threads() == threads)
    assert second.reported == 1
    assert len(records.records) == 1
    assert "test_monitor_restarts_and_stops_cleanly" in records.records[0].getMessage()
    with pytest.raises(ValueError):
        blocking.BlockingMonitor(threshold=0)
