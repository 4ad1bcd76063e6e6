"""The modern API under gunicorn (issue #3): ``app = sio.wsgi_app(page)`` served by
``gunicorn -k <worker> -w 1``, driven by Node's socket.io-client 4.x over WebSocket, polling,
and polling upgraded to WebSocket.

* ``gsocketio.sgunicorn.GeventSocketIOWorker`` and gunicorn's stock ``-k gevent`` serve every
  transport, and no worker error is logged after a WebSocket ends (the stock worker would
  otherwise write a second response);
* ``-k gevent_pywsgi`` serves long-polling; the WebSocket upgrade is refused, clients stay on
  polling and the server logs one warning naming the worker to use.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from gsocketio.wsgi import NO_RAW_SOCKET_WARNING
from tests.compat.test_examples import start, stop
from tests.helpers.node import run_node

HERE = Path(__file__).resolve().parent
TIMEOUT = 5

CLIENTS = """
const { io } = require("socket.io-client");
let pending = ARGS.cases.length;
const finish = () => { if (--pending === 0) done(); };
ARGS.cases.forEach(({ transports, wait }, i) => {
  const s = io(URL, { reconnection: false, forceNew: true, transports });
  const engine = s.io.engine;
  // "upgrade" / "upgradeError": registered before connecting, so it cannot be missed
  const ready = new Promise((resolve) => (wait ? engine.once(wait, () => resolve()) : resolve()));
  s.on("connect_error", (e) => { out({ i, connect_error: e.message }); s.close(); finish(); });
  s.on("connect", () => ready.then(() => s.emit("echo", i, "x", (r) => {
    out({ i, echo: r, transport: engine.transport.name });
    s.close();
    finish();
  })));
});
"""

UPGRADED = {"transports": ["polling", "websocket"], "wait": "upgrade"}
WEBSOCKET = {"transports": ["websocket"]}
POLLING = {"transports": ["polling"]}


def _gunicorn(worker: str) -> tuple[Any, str]:
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    return start(
        [
            gunicorn,
            "-k",
            worker,
            "-b",
            "127.0.0.1:0",
            "-w",
            "1",
            "--graceful-timeout",
            "2",
            "gunicorn_modern_app:app",
        ],
        HERE,
        r"Listening at: (http://\S+)",
        "stderr",
    )


def _by_case(records: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {record["i"]: record for record in records}


def _stderr_after_stop(proc: Any) -> str:
    stop(proc)
    assert proc.stderr is not None
    text: str = proc.stderr.read()
    return text


@pytest.mark.parametrize("worker", ["gsocketio.sgunicorn.GeventSocketIOWorker", "gevent"])
def test_modern_app_every_transport(worker: str) -> None:
    proc, url = _gunicorn(worker)
    try:
        assert requests.get(url + "/", timeout=TIMEOUT).text == "the page"
        cases = [WEBSOCKET, POLLING, UPGRADED]
        records = _by_case(run_node(CLIENTS, url, args={"cases": cases}))
        for i, expected in enumerate(["websocket", "polling", "websocket"]):
            assert records[i] == {"i": i, "echo": [i, "x"], "transport": expected}
    finally:
        stderr = _stderr_after_stop(proc)
    assert "Traceback" not in stderr, stderr
    assert "Error handling request" not in stderr, stderr
    assert NO_RAW_SOCKET_WARNING not in stderr


def test_modern_app_stock_pywsgi_worker_keeps_polling() -> None:
    proc, url = _gunicorn("gevent_pywsgi")
    try:
        cases = [
            WEBSOCKET,
            POLLING,
            {"transports": ["polling", "websocket"], "wait": "upgradeError"},
        ]
        records = _by_case(run_node(CLIENTS, url, args={"cases": cases}))
        assert records[0] == {"i": 0, "connect_error": "websocket error"}
        assert records[1] == {"i": 1, "echo": [1, "x"], "transport": "polling"}
        assert records[2] == {"i": 2, "echo": [2, "x"], "transport": "polling"}
    finally:
        stderr = _stderr_after_stop(proc)
    assert stderr.count(NO_RAW_SOCKET_WARNING) == 1, stderr  # said once, not per attempt
    assert "Traceback" not in stderr, stderr
