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
