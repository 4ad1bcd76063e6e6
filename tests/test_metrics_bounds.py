"""``gsocketio_bounds_hit_total``: each per-client bound, hit by a real HTTP client (raw
Engine.IO long-polling, so the test decides exactly what is sent), is counted in a scrape."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import gevent
import gevent.event
import pytest
import requests

import gsocketio
from gsocketio.protocol.socketio_session import MAX_NAMESPACE_LENGTH, MAX_NAMESPACES_PER_CLIENT
from gsocketio.socket import MAX_PRECONNECT_ITEMS

RS = "\x1e"  # the Engine.IO v4 payload separator


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    with gevent.Timeout(timeout, AssertionError("condition not met in time")):
        while not predicate():
            gevent.sleep(0.02)


def bounds(url: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in requests.get(url + "/metrics", timeout=5).text.splitlines():
        if line.startswith('gsocketio_bounds_hit_total{bound="'):
            name, value = line[len('gsocketio_bounds_hit_total{bound="') :].split('"} ')
            found[name] = float(value)
    return found


class Polling:
    """An Engine.IO v4 long-polling client made of plain requests."""

    def __init__(self, url: str) -> None:
        self.base = url + "/socket.io/?EIO=4&transport=polling"
        opening = requests.get(self.base, timeout=5).text
        self.sid = opening.split('"sid":"')[1].split('"')[0]
        self.base += f"&sid={self.sid}"

    def post(self, *packets: str) -> None:
        assert requests.post(self.base, data=RS.join(packets), timeout=30).text == "ok"

    def get(self) -> str:
        return requests.get(self.base, timeout=5).text


@pytest.fixture
def server(serve: Callable[..., str]) -> Iterator[tuple[str, gsocketio.Server]]:
    sio = gsocketio.Server(namespaces="*")
    yield serve(sio.wsgi_app(metrics_path="/metrics")), sio


def test_namespace_bounds(server: tuple[str, gsocketio.Server]) -> None:
    url, _sio = server
    client = Polling(url)
    client.post("40/" + "n" * MAX_NAMESPACE_LENGTH + ",")  # "/" + 256: one over
    client.post(*(f"40/ns{n}," for n in range(MAX_NAMESPACES_PER_CLIENT + 1)))
    wait_for(lambda: "namespaces_per_client" in bounds(url))
    found = bounds(url)
    # Each CONNECT runs the connect policy in a handler greenlet: 256 of them in one payload
    # also meet the handler bound (128), which the reader waits out (once or more, as the
    # greenlets finish).
    assert found.pop("handlers_per_client") >= 1
    assert found == {"namespace_length": 1, "namespaces_per_client": 1}
    assert "Invalid namespace" in client.get()


def test_preconnect_buffer_and_ack_table(
    server: tuple[str, gsocketio.Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, sio = server
    monkeypatch.setattr(gsocketio.socket, "DEFAULT_ACK_LIMIT", 4)
    flooded = gevent.event.Event()

    @sio.on("connect")
    def connect(sid: str) -> None:  # still CONNECTING: what it emits is buffered
        for n in range(MAX_PRECONNECT_ITEMS + 1):
            sio.emit("early", n, to=sid)

    @sio.on("flood_acks")
    def flood_acks(sid: str) -> None:
        for n in range(5):  # this client never acks: the fifth evicts the oldest
            sio.emit("ask", n, to=sid, callback=lambda *args: None)
        flooded.set()

    client = Polling(url)
    client.post("40")
    wait_for(lambda: bool(sio.sockets()))
    client.post('42["flood_acks"]')
    assert flooded.wait(10)
    assert bounds(url) == {"ack_table": 1, "preconnect_buffer": 1}
    assert client.get().count('"early"') == MAX_PRECONNECT_ITEMS


def test_handlers_per_client(server: tuple[str, gsocketio.Server]) -> None:
    url, sio = server
    bound = gsocketio.client.MAX_HANDLERS_PER_CLIENT  # a Final: compiled code sees no patch
    release = gevent.event.Event()
    ran: list[int] = []

    @sio.on("slow")
    def slow(sid: str, n: int) -> None:
        release.wait(10)
        ran.append(n)

    client = Polling(url)
    client.post("40")
    wait_for(lambda: bool(sio.sockets()))
    poster = gevent.spawn(client.post, *(f'42["slow",{n}]' for n in range(bound + 1)))
    try:
        wait_for(lambda: "handlers_per_client" in bounds(url))  # the last waits for a slot
        assert bounds(url) == {"handlers_per_client": 1} and ran == []
    finally:
        release.set()
    poster.get(timeout=10)
    wait_for(lambda: len(ran) == bound + 1)
