"""The private internals of gevent and websockets that gsocketio relies on, pinned.

``gsocketio.websocket._gevent_io`` uses gevent's ``socket._sock`` (the wrapped non-blocking OS
socket), ``_read_event`` (its read watcher, None once closed) and ``_wait``;
``gsocketio.websocket.connection`` reads websockets' ``Protocol.writes``, ``_state``,
``close_rcvd_then_sent``, ``close_sent``/``close_rcvd`` and sets ``extensions``; the framing fast
path imports ``apply_mask``. These are outside both libraries' documented API: when an upgrade
changes one of them, this module fails first, by name, instead of the server misbehaving.
"""

from __future__ import annotations

import _socket
import socket as stdlib_socket
from collections.abc import Callable
from importlib.metadata import version

import gevent
import gevent.exceptions
import gevent.socket
import pytest
from websockets.frames import Close, CloseCode
from websockets.protocol import Protocol, Side, State

from gsocketio.websocket import _gevent_io


def _pair() -> tuple[gevent.socket.socket, gevent.socket.socket]:
    a, b = gevent.socket.socketpair()
    return a, b


def test_gevent_socket_internals() -> None:
    a, b = _pair()
    try:
        assert _gevent_io.is_plain(a), "gevent.socket.socketpair() no longer gives gevent's socket"
        raw = a._sock
        assert isinstance(raw, _socket.socket), "gevent socket: no wrapped OS socket _sock"
        assert raw.gettimeout() == 0.0, "gevent's wrapped socket is no longer non-blocking"
        assert a._read_event is not None, "gevent socket: no _read_event watcher"
        assert callable(a._wait), "gevent socket: no _wait(watcher)"
        # What _gevent_io does with them: a non-blocking send, a read that waits first.
        io_a, io_b = _gevent_io.PlainIO(a), _gevent_io.PlainIO(b)
        assert io_b.send_some(b"ping") == 4
        reader = gevent.spawn(io_a.recv, 100, True)
        assert reader.get(timeout=2) == b"ping"
        reader = gevent.spawn(io_a.recv, 100, False)  # nothing yet: waits, no EAGAIN
        gevent.sleep(0.01)
        assert not reader.ready()
        b.sendall(b"pong")
        assert reader.get(timeout=2) == b"pong"
        b.close()
        assert io_a.recv(100, True) == b""  # EOF
    finally:
        a.close()
        b.close()
    assert a._read_event is None, "gevent: a closed socket's _read_event is no longer None"
    assert io_a.recv(100, True) == b""
    with pytest.raises(OSError):  # the wrapped socket closed with it: its bound methods fail
        io_a.recv(100, False)


def test_full_socket_buffer_sends_nothing_without_blocking() -> None:
    a, b = _pair()
    try:
        a.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_SNDBUF, 4096)
        total = 0
        plain = _gevent_io.PlainIO(a)
        for _ in range(10_000):  # bounded: fills the buffers, then sends return 0
            sent = plain.send_some(b"x" * 65536)
            total += sent
            if sent == 0:
                break
        assert sent == 0 and total > 0
    finally:
        a.close()
        b.close()


def test_websockets_protocol_internals() -> None:
    p = Protocol(Side.SERVER, state=State.OPEN)
    assert isinstance(p.writes, list), "websockets: Protocol.writes is no longer a list"
    assert p.close_rcvd_then_sent is None and p.close_sent is None and p.close_rcvd is None
    assert p.extensions == []
    p.extensions = []  # set by accept_websocket after the handshake
    p.send_text(b"hi")
    assert p.writes, "websockets: pending output no longer collected in Protocol.writes"
    assert p.data_to_send() == [b"\x81\x02hi"]
    assert p.writes == []
    # A close we start, then the peer's answer: close_rcvd_then_sent is False.
    p.send_close(CloseCode.NORMAL_CLOSURE, "bye")
    assert p.close_sent == Close(CloseCode.NORMAL_CLOSURE, "bye")
    p.receive_data(b"\x88\x82\x00\x00\x00\x00\x03\xe8")
    assert p.close_rcvd_then_sent is False
    assert p.close_rcvd == Close(CloseCode.NORMAL_CLOSURE, "")
    assert p.state is not State.OPEN
    # The hot paths read the state's attribute, not the property (a call per message).
    assert p._state is p.state and Protocol(Side.SERVER, state=State.OPEN)._state is State.OPEN


def test_apply_mask_is_importable() -> None:
    from websockets.utils import apply_mask

    try:
        from websockets.speedups import apply_mask as fast
    except ImportError:  # pragma: no cover - a pure-Python build
        fast = apply_mask
    assert fast(b"\x00\x00", b"\x01\x02\x03\x04") == b"\x01\x02"


@pytest.mark.parametrize(("package", "below"), [("gevent", 27), ("websockets", 18)])
def test_pinned_versions_match_pyproject(package: str, below: int) -> None:
    """pyproject.toml pins ``<below`` for both: this suite ran against what is installed."""
    major = int(version(package).split(".")[0])
    assert major < below


def test_a_reader_that_keeps_finding_data_yields() -> None:
    """Fairness (issue 9): messages already buffered are returned without waiting, but the
    reader yields to the hub every MAX_BURST_MESSAGES messages, so others get to run."""
    from websockets.protocol import Protocol as WSProtocol

    from gsocketio.websocket.connection import MAX_BURST_MESSAGES, WebSocket

    count = 5 * MAX_BURST_MESSAGES
    mask = b"\x01\x02\x03\x04"
    frame = b"\x81\x81" + mask + bytes([ord("x") ^ mask[0]])
    a, b = _pair()
    try:
        ws = WebSocket(a, WSProtocol(Side.SERVER, state=State.OPEN), pending=frame * count)
        ticks = [0]

        def witness() -> None:
            for _ in range(count):  # bounded
                ticks[0] += 1
                gevent.sleep(0)

        other = gevent.spawn(witness)
        gevent.sleep(0)
        start = ticks[0]
        assert [ws.receive() for _ in range(count)] == ["x"] * count
        assert ticks[0] - start >= count // MAX_BURST_MESSAGES - 1
        other.kill()
    finally:
        a.close()
        b.close()


def test_parked_read_is_woken_by_a_close_from_another_greenlet() -> None:
    """``PlainIO`` parks on the read watcher with the greenlet's own ``switch`` as callback
    (no gevent Waiter): gevent's ``cancel_wait`` must still reach it when another greenlet
    closes the socket, and a second reader must still get gevent's concurrent-use error."""
    a, b = _pair()
    try:
        io_a = _gevent_io.PlainIO(a)
        reader = gevent.spawn(io_a.recv, 100, True)
        gevent.sleep(0.01)
        assert not reader.ready()
        second = gevent.spawn(_gevent_io.PlainIO(a).recv, 100, True)
        with pytest.raises(gevent.exceptions.ConcurrentObjectUseError):
            second.get(timeout=2)
        a.close()
        with pytest.raises(OSError):  # gevent's cancel_wait_ex (EBADF), as with sock._wait
            reader.get(timeout=2)
        assert reader.dead
    finally:
        a.close()
        b.close()


def test_a_parked_read_leaves_no_watcher_started() -> None:
    a, b = _pair()
    try:
        io_a = _gevent_io.PlainIO(a)
        reader = gevent.spawn(io_a.recv, 100, True)
        gevent.sleep(0.01)
        assert a._read_event.callback is not None  # parked on the watcher
        b.sendall(b"hi")
        assert reader.get(timeout=2) == b"hi"
        assert a._read_event.callback is None and not a._read_event.active
        reader = gevent.spawn(io_a.recv, 100, True)
        gevent.sleep(0.01)
        reader.kill(block=True, timeout=2)  # killed while parked: the watcher is stopped
        assert a._read_event.callback is None and not a._read_event.active
    finally:
        a.close()
        b.close()


def test_a_reused_libev_timer_keeps_only_the_time_left() -> None:
    """Why ``_gevent_io.restart`` exists: libev's ``ev_timer_stop`` keeps the time left, so a
    timer stopped and ``start``-ed again fires once its waits add up to its duration (this
    made the 1 s linger expire every few messages at 5,000 clients, issue #14). Should gevent
    change that, the first assertion fails: ``restart`` stays correct either way."""
    hub = gevent.get_hub()

    def three_waits(timer: object, start: Callable[[Callable[[], None]], None]) -> bool:
        fired: list[int] = []
        for _ in range(3):  # three waits of 0.15 s, each ended before 0.3 s
            start(lambda: fired.append(1))
            gevent.sleep(0.15)
            timer.stop()  # type: ignore[attr-defined]
        timer.close()  # type: ignore[attr-defined]
        return bool(fired)

    plain = hub.loop.timer(0.3)
    assert three_waits(plain, plain.start), "libev: a restarted timer gets its full time again"
    again = _gevent_io.repeating_timer(hub, 0.3)
    assert not three_waits(again, lambda cb: _gevent_io.restart(again, cb))


def test_each_linger_wait_gets_the_whole_linger() -> None:
    """``PlainIO.wait`` reuses its timer over a streak of waits: every wait still lasts up to
    ``seconds`` (before, the streak's waits shared one budget of ``seconds``)."""
    a, b = _pair()
    try:
        io_a = _gevent_io.PlainIO(a)
        for _ in range(4):  # 4 x 0.12 s: past 0.3 s from the second wait on
            sender = gevent.spawn_later(0.12, b.sendall, b"x")
            assert io_a.wait(0.3) is True
            assert io_a.recv_nowait(10) == b"x"
            sender.join(timeout=2)
        start = gevent.get_hub().loop.now()
        assert io_a.wait(0.3) is False
        assert gevent.get_hub().loop.now() - start >= 0.25
    finally:
        a.close()
        b.close()
