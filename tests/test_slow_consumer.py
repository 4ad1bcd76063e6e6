"""The slow-consumer policy: a client that stops reading (a polling client that never polls
again) gets its volatile packets dropped past half the outgoing bound with
``slow_consumer="drop_volatile"``, and is disconnected ("outgoing buffer full") past the bound
under either policy; the metrics count both."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import gevent
import pytest
import requests

import gsocketio
from gsocketio.legacy import LegacyServer

BOUND = 20


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    with gevent.Timeout(timeout, AssertionError("condition not met in time")):
        while not predicate():
            gevent.sleep(0.02)


def metric(url: str, name: str) -> float:
    text = requests.get(url + "/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def stalled_client(url: str) -> str:
    """Handshake over polling, join "/", read the CONNECT reply, then never poll again."""
    base = url + "/socket.io/?EIO=4&transport=polling"
    opening = requests.get(base, timeout=5).text
    sid = opening.split('"sid":"')[1].split('"')[0]
    assert requests.post(f"{base}&sid={sid}", data="40", timeout=5).text == "ok"
    assert requests.get(f"{base}&sid={sid}", timeout=5).text.startswith("40")
    return sid


@pytest.fixture
def server(serve: Callable[..., str]) -> Iterator[Callable[..., tuple[str, gsocketio.Server]]]:
    def _start(policy: str) -> tuple[str, gsocketio.Server]:
        sio = gsocketio.Server(slow_consumer=policy, max_buffered_packets=BOUND)
        return serve(sio.wsgi_app(metrics_path="/metrics")), sio

    yield _start


def test_drop_volatile_keeps_a_slow_client_and_counts_the_drops(
    server: Callable[..., tuple[str, gsocketio.Server]],
) -> None:
    url, sio = server("drop_volatile")
    engine_sid = stalled_client(url)
    wait_for(lambda: bool(sio.sockets()))
    for n in range(100):
        sio.volatile.emit("tick", n)
    assert engine_sid in sio._clients  # still connected: volatile packets never overflow
    dropped = metric(url, 'gsocketio_slow_consumer_total{action="dropped_volatile"}')
    assert dropped == 100 - BOUND // 2
    # What was kept is delivered once the client polls again: the first half of the ticks.
    body = requests.get(
        f"{url}/socket.io/?EIO=4&transport=polling&sid={engine_sid}", timeout=5
    ).text
    assert body.count('"tick"') == BOUND // 2
    assert '["tick",0]' in body


@pytest.mark.parametrize("policy", ["disconnect", "drop_volatile"])
def test_past_the_bound_the_client_is_disconnected_and_counted(
    server: Callable[..., tuple[str, gsocketio.Server]], policy: str
) -> None:
    url, sio = server(policy)
    engine_sid = stalled_client(url)
    wait_for(lambda: bool(sio.sockets()))
    for n in range(BOUND + 1):
        sio.emit("news", n)  # not volatile: never dropped, so the bound closes the client
    wait_for(lambda: engine_sid not in sio._clients)
    text = requests.get(url + "/metrics", timeout=5).text
    assert 'gsocketio_slow_consumer_total{action="disconnected"} 1.0' in text
    assert 'gsocketio_disconnects_total{reason="outgoing buffer full"} 1.0' in text
    assert 'gsocketio_bounds_hit_total{bound="outgoing_buffer"} 1.0' in text


def test_disconnect_policy_queues_volatile_packets_like_the_others(
    server: Callable[..., tuple[str, gsocketio.Server]],
) -> None:
    url, sio = server("disconnect")
    engine_sid = stalled_client(url)
    wait_for(lambda: bool(sio.sockets()))
    for n in range(BOUND + 1):
        sio.volatile.emit("tick", n)
    wait_for(lambda: engine_sid not in sio._clients)
    assert metric(url, 'gsocketio_slow_consumer_total{action="dropped_volatile"}') == 0


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="slow_consumer"):
        gsocketio.Server(slow_consumer="ignore")


# --- 0.9 clients: the same policy, against the 0.9 endpoint's own bound ---------------------------


@pytest.fixture
def legacy_server(
    serve: Callable[..., str],
) -> Iterator[Callable[..., tuple[str, gsocketio.Server, LegacyServer]]]:
    started: list[LegacyServer] = []

    def _start(policy: str) -> tuple[str, gsocketio.Server, LegacyServer]:
        sio = gsocketio.Server(slow_consumer=policy)
        legacy = LegacyServer(sio, max_buffered_packets=BOUND, polling_duration=1)
        started.append(legacy)
        return serve(sio.wsgi_app(legacy_app=legacy, metrics_path="/metrics")), sio, legacy

    yield _start
    for legacy in started:
        legacy.close()


def stalled_legacy_client(url: str) -> tuple[str, str]:
    """Handshake a 0.9 xhr-polling client, take the ``1::`` of its first GET, never poll again."""
    sid = requests.get(f"{url}/socket.io/1/?t=1", timeout=5).text.split(":")[0]
    poll = f"{url}/socket.io/1/xhr-polling/{sid}"
    assert requests.get(poll, params={"t": "1"}, timeout=5).text == "1::"
    return sid, poll


def test_drop_volatile_applies_to_legacy_clients(
    legacy_server: Callable[..., tuple[str, gsocketio.Server, LegacyServer]],
) -> None:
    url, sio, legacy = legacy_server("drop_volatile")
    sid, poll = stalled_legacy_client(url)
    wait_for(lambda: bool(sio.sockets()))
    conn = legacy.connections[sid]
    already = conn.session.backlog[0]  # what the accept queued, if anything
    assert not conn.congested
    for n in range(100):
        sio.volatile.emit("tick", n)
    assert conn.congested
    kept = BOUND // 2 - already
    assert not conn.closed  # volatile packets never overflow the bound
    assert metric(url, 'gsocketio_slow_consumer_total{action="dropped_volatile"}') == 100 - kept
    sio.emit("news", "kept")  # never dropped, even while congested
    body = requests.get(poll, params={"t": "2"}, timeout=5).text
    assert body.count('"name":"tick"') == kept
    assert '{"name":"tick","args":[0]}' in body
    assert '{"name":"news","args":["kept"]}' in body
    assert not conn.congested  # the GET took the queue


def test_legacy_disconnect_policy_queues_volatile_packets(
    legacy_server: Callable[..., tuple[str, gsocketio.Server, LegacyServer]],
) -> None:
    url, sio, legacy = legacy_server("disconnect")
    sid, _poll = stalled_legacy_client(url)
    wait_for(lambda: bool(sio.sockets()))
    conn = legacy.connections[sid]
    for n in range(BOUND + 1):
        sio.volatile.emit("tick", n)
    assert not conn.congested or conn.closed
    wait_for(lambda: not sio.sockets())
    assert conn.session.close_reason == "outgoing buffer full"
    assert metric(url, 'gsocketio_slow_consumer_total{action="dropped_volatile"}') == 0
    assert metric(url, 'gsocketio_slow_consumer_total{action="disconnected"}') == 1
