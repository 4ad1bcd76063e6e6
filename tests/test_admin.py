"""``sio.instrument()`` and the Admin UI route, in-process.

python-socketio's client (an independent implementation) logs in on ``/admin``; the route is
fetched over real HTTP. Also pinned: an uninstrumented server runs none of the admin code
(no hooks, the plain event path, no counters), production mode adds no per-event work, and
the aggregated events are deltas of the counters.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gevent.event
import pytest
import socketio

import gsocketio
from gsocketio.adapters.base import EVERYONE
from gsocketio.admin import Instrumentation, serialize
from gsocketio.admin_ui import NOT_INSTALLED, AdminUIApp, find_admin_ui
from gsocketio.default_handlers import RegistryHandlers
from gsocketio.metrics import metrics_app
from gsocketio.stats import Stats


@pytest.fixture
def py_client() -> Iterator[Callable[..., socketio.Client]]:
    clients: list[socketio.Client] = []

    def make() -> socketio.Client:
        c = socketio.Client(reconnection=False)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.disconnect()


@pytest.fixture
def stop() -> Iterator[list[Instrumentation]]:
    started: list[Instrumentation] = []
    yield started
    for admin in started:
        admin.stop()


def _get(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, method=method), timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


# --- off costs nothing ---------------------------------------------------------------------


def test_uninstrumented_server_runs_no_admin_code() -> None:
    sio = gsocketio.Server()
    hooks = sio._hooks
    assert sio.admin is None and sio.metrics is None
    assert not (hooks.connected or hooks.disconnected or hooks.incoming or hooks.outgoing)
    assert "on_event" not in vars(sio.handlers)  # the plain decode -> lookup -> spawn path
    assert "enter_room" not in vars(sio.adapter)


def test_production_mode_adds_no_per_event_hook(stop: list[Instrumentation]) -> None:
    sio = gsocketio.Server()
    stop.append(sio.instrument(auth=False, mode="production"))
    hooks = sio._hooks
    assert not (hooks.connected or hooks.disconnected or hooks.incoming or hooks.outgoing)
    assert "on_event" not in vars(sio.handlers)
    assert sio.metrics is not None  # the plain counters feed aggregatedEvents


def test_instrument_arguments_are_checked(stop: list[Instrumentation]) -> None:
    sio = gsocketio.Server()
    with pytest.raises(ValueError, match="needs auth"):
        sio.instrument()
    with pytest.raises(ValueError, match="mode"):
        sio.instrument(auth=False, mode="verbose")
    stop.append(sio.instrument(auth=False, namespace="ops"))
    assert sio.admin is not None and sio.admin.namespace == "/ops"
    with pytest.raises(ValueError, match="already"):
        sio.instrument(auth=False)


def test_server_close_ends_the_stats_greenlet() -> None:
    sio = gsocketio.Server()
    admin = sio.instrument(auth=False, mode="production", server_stats_interval=0.01)
    greenlet = admin._greenlet
    assert greenlet is not None and not greenlet.dead
    sio.close()
    greenlet.join(timeout=5)
    assert greenlet.dead and admin._greenlet is None


def test_metrics_endpoint_shares_the_admin_counters(stop: list[Instrumentation]) -> None:
    sio = gsocketio.Server()
    stop.append(sio.instrument(auth=False, mode="production"))
    stats = sio.metrics
    metrics_app(sio, sio.wsgi_app(), "/metrics")
    assert sio.metrics is stats


def test_off_any_keeps_the_admin_observers(stop: list[Instrumentation]) -> None:
    sio = gsocketio.Server()
    stop.append(sio.instrument(auth=False))
    sio.on_any(lambda *a: None)
    sio.off_any()
    assert [type(f).__name__ for f in sio._hooks.incoming["*"]] == ["Observer"]
    assert isinstance(sio.handlers, RegistryHandlers) and "on_event" in vars(sio.handlers)


# --- python-socketio's client on /admin ----------------------------------------------------


def test_python_client_logs_in_and_gets_stats(
    serve: Callable[..., str],
    py_client: Callable[..., socketio.Client],
    stop: list[Instrumentation],
) -> None:
    sio = gsocketio.Server()
    sio.on("ping_me", lambda sid: "pong")
    stop.append(
        sio.instrument(
            auth=lambda auth: auth.get("token") == "t0k",
            server_id="py-test",
            server_stats_interval=0.2,
        )
    )
    url = serve(sio.wsgi_app())
    plain = py_client()
    plain.connect(url, transports=["polling"], wait_timeout=5)
    assert plain.call("ping_me", timeout=5) == "pong"

    admin = py_client()
    got: dict[str, gevent.event.AsyncResult] = {
        name: gevent.event.AsyncResult() for name in ("session", "config", "all_sockets")
    }
    for name, result in got.items():
        admin.on(name, result.set, namespace="/admin")
    stats_seen: list[dict[str, Any]] = []
    enough = gevent.event.Event()

    def on_stats(stats: dict[str, Any]) -> None:
        stats_seen.append(stats)
        events = {e["type"] for s in stats_seen for e in s["aggregatedEvents"]}
        if {"rawConnection", "packetsIn", "packetsOut"} <= events:
            enough.set()

    admin.on("server_stats", on_stats, namespace="/admin")
    with pytest.raises(socketio.exceptions.ConnectionError):
        admin.connect(url, namespaces=["/admin"], auth={"token": "no"}, wait_timeout=5)
    admin.connect(url, namespaces=["/admin"], auth={"token": "t0k"}, wait_timeout=5)
    assert len(got["session"].get(timeout=5)) == 16
    assert "ALL_EVENTS" in got["config"].get(timeout=5)["supportedFeatures"]
    listed = got["all_sockets"].get(timeout=5)
    plain_sid = plain.get_sid("/")
    [mine] = [s for s in listed if s["id"] == plain_sid]
    assert mine["transport"] == "polling" and mine["clientId"] == plain.eio.sid[:12]
    assert enough.wait(10), stats_seen
    last = stats_seen[-1]
    assert last["serverId"] == "py-test" and last["pollingClientsCount"] >= 1
    assert {"name": "/", "socketsCount": 1} in last["namespaces"]


# --- the room wrappers ---------------------------------------------------------------------


def test_serialize_takes_nodes_socket_shape() -> None:
    described = {
        "id": "s1",
        "rooms": ["room", "s1"],
        "data": {"_admin": {"clientId": "abc", "transport": "polling"}, "user": 1},
        "handshake": {"address": "10.0.0.1", "headers": {"x-forwarded-for": "1.2.3.4"}},
    }
    out = serialize("/chat", described)
    assert out["rooms"] == ["s1", "room"] and out["data"] == {"user": 1}
    assert (out["clientId"], out["transport"]) == ("abc", "polling")
    assert out["handshake"]["address"] == "1.2.3.4"
    assert serialize("/", {"id": "x", "data": None, "handshake": None})["rooms"] == []


# --- the UI route ----------------------------------------------------------------------------


def test_admin_ui_route_serves_the_folder(serve: Callable[..., str], tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<title>ui</title>")
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "app.js").write_text("1;")
    sio = gsocketio.Server()
    url = serve(AdminUIApp(sio.wsgi_app(), "/ops/", tmp_path))
    status, headers, _ = _get(url + "/ops")
    assert (status, headers["Location"]) == (301, "/ops/")
    status, headers, body = _get(url + "/ops/")
    assert (status, body) == (200, b"<title>ui</title>")
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    status, headers, body = _get(url + "/ops/js/app.js")
    assert (status, body) == (200, b"1;") and "javascript" in headers["Content-Type"]
    assert _get(url + "/ops/js/")[0] == 404  # a folder without index.html
    assert _get(url + "/ops/../../../etc/passwd")[0] == 404
    assert _get(url + "/ops/js/app.js", "HEAD")[:1] == (200,)
    assert _get(url + "/ops/", "POST")[0] == 405
    assert _get(url + "/socket.io/?EIO=4&transport=polling")[0] == 200  # still the server


def test_admin_ui_route_without_files_says_why(
    serve: Callable[..., str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("GSOCKETIO_ADMIN_UI_DIST", str(tmp_path))  # no index.html there
    assert find_admin_ui() is None
    with caplog.at_level(logging.WARNING, logger="gsocketio.admin"):
        app = gsocketio.Server().wsgi_app(admin_ui_path="/admin-ui")
    assert "answers 404" in caplog.text
    url = serve(app)
    status, _, body = _get(url + "/admin-ui/")
    assert (status, body) == (404, NOT_INSTALLED)
    (tmp_path / "index.html").write_text("ok")
    assert find_admin_ui() == tmp_path


def test_lone_server_without_admin_broadcasts_nothing_per_event(
    serve: Callable[..., str],
    py_client: Callable[..., socketio.Client],
    stop: list[Instrumentation],
) -> None:
    """Development mode on the memory adapter with no UI open: events are not turned into
    admin broadcasts nobody would receive; once an admin is there, they are."""
    sio = gsocketio.Server()
    sio.on("work", lambda sid, n: n)
    stop.append(sio.instrument(auth=False))
    to_admin: list[str] = []
    broadcast = sio.adapter.broadcast

    def counting(packet: Any, opts: Any = EVERYONE) -> None:
        if packet.namespace == "/admin":
            to_admin.append(packet.data[0])
        broadcast(packet, opts)

    sio.adapter.broadcast = counting  # type: ignore[method-assign]
    url = serve(sio.wsgi_app())
    plain = py_client()
    plain.connect(url, transports=["websocket"], wait_timeout=5)
    assert [plain.call("work", i, timeout=5) for i in range(3)] == [0, 1, 2]
    assert to_admin == []
    admin = py_client()
    admin.connect(url, namespaces=["/admin"], wait_timeout=5)
    assert plain.call("work", 3, timeout=5) == 3
    assert "event_received" in to_admin


def test_failing_lifecycle_listener_is_logged_not_fatal(
    serve: Callable[..., str],
    py_client: Callable[..., socketio.Client],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sio = gsocketio.Server()
    sio.on("work", lambda sid: "done")
    closed = gevent.event.Event()

    def broken(*args: Any) -> None:
        if len(args) == 2:  # (sock, reason): the disconnection
            closed.set()
        raise RuntimeError("listener bug")

    sio._hooks.connected.append(broken)
    sio._hooks.disconnected.append(broken)
    url = serve(sio.wsgi_app())
    c = py_client()
    with caplog.at_level(logging.ERROR, logger="gsocketio.server"):
        c.connect(url, transports=["websocket"], wait_timeout=5)
        assert c.call("work", timeout=5) == "done"
        c.disconnect()
        assert closed.wait(5)
    assert "error in connection listener" in caplog.text
    assert "error in disconnection listener" in caplog.text


def test_reserved_event_from_the_ui_is_refused(
    serve: Callable[..., str],
    py_client: Callable[..., socketio.Client],
    stop: list[Instrumentation],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sio = gsocketio.Server()
    stop.append(sio.instrument(auth=False, mode="production"))
    url = serve(sio.wsgi_app())
    plain = py_client()
    got: list[Any] = []
    arrived = gevent.event.Event()

    def fine(*args: Any) -> None:
        got.append(args)
        arrived.set()

    plain.on("fine", fine)
    plain.connect(url, transports=["websocket"], wait_timeout=5)
    admin = py_client()
    admin.connect(url, namespaces=["/admin"], wait_timeout=5)
    with caplog.at_level(logging.INFO, logger="gsocketio.admin"):
        admin.emit("emit", ("/", None, "connect", 1), namespace="/admin")
        admin.emit("emit", ("/", None, "fine", 2), namespace="/admin")  # to everyone in "/"
        assert arrived.wait(5)
    assert got == [(2,)]
    assert "emit refused" in caplog.text


def test_aggregated_events_follow_the_counters(stop: list[Instrumentation]) -> None:
    sio = gsocketio.Server()
    admin = sio.instrument(auth=False, mode="production")
    stop.append(admin)
    assert sio.metrics is not None
    sio.metrics.events_in += 3
    sio.metrics.received("websocket", "42")
    sio.metrics.delivered("polling", ["4x", "4yz"])
    sio.metrics.disconnected("ping timeout")
    events = {(e["type"], e.get("subType")): e["count"] for e in admin.stats()["aggregatedEvents"]}
    assert events == {
        ("packetsIn", None): 3,
        ("bytesIn", None): 2,
        ("packetsOut", None): 1,
        ("bytesOut", None): 5,
        ("rawDisconnection", "ping timeout"): 1,
        ("rawConnection", None): 1,  # one closed while the count of open ones stayed the same
    }
    assert admin.stats()["aggregatedEvents"] == []  # cleared by each send, as Node's buffer
    sio.metrics = Stats()  # replaced: a new baseline, not a negative delta
    sio.metrics.events_in += 1
    assert [e["type"] for e in admin.stats()["aggregatedEvents"]] == ["packetsIn"]
    sio.metrics = None
    assert admin.stats()["aggregatedEvents"] == []
