"""Each ported seed example (examples/), started and driven by real clients.

In-process: the plain-WSGI simple chat, Flask chat, Pyramid chat, cross-origin and live CPU
graph apps under ``SocketIOServer``. Subprocesses: the Django chat (its ``runserver_socketio``
command) and the simple chat under gunicorn with :mod:`gsocketio.sgunicorn`'s workers.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import gevent
import gevent.queue
import pytest
import requests
import socketio

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TIMEOUT = 5


def load(path: Path, name: str) -> ModuleType:
    """Import an example file under a unique module name."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class Peer:
    """A python-socketio client recording the events it is told to watch."""

    def __init__(self, events: list[str], namespace: str = "/") -> None:
        self.namespace = namespace
        self.inbox: gevent.queue.Queue[tuple[str, list[Any]]] = gevent.queue.Queue()
        self.client = socketio.Client(reconnection=False)
        for event in events:
            self.client.on(event, self._recorder(event), namespace=namespace)

    def _recorder(self, event: str) -> Callable[..., None]:
        return lambda *args: self.inbox.put((event, list(args)))

    def connect(self, url: str, **kwargs: Any) -> Peer:
        kwargs.setdefault("namespaces", [self.namespace])
        self.client.connect(url, wait_timeout=TIMEOUT, **kwargs)
        return self

    def call(self, event: str, *args: Any) -> Any:
        return self.client.call(event, args, namespace=self.namespace, timeout=TIMEOUT)

    def expect(self, event: str, args: list[Any] | None = None) -> list[Any]:
        """The next record of ``event`` (with ``args`` if given); others are skipped, bounded."""
        got: list[Any]
        for _ in range(50):
            name, got = self.inbox.get(timeout=TIMEOUT)
            if name == event and (args is None or got == args):
                return got
        raise AssertionError(f"no {event!r} {args!r}")


@pytest.fixture
def peers() -> Iterator[list[Peer]]:
    made: list[Peer] = []
    yield made
    for peer in made:
        peer.client.disconnect()


def chat_flow(url: str, peers: list[Peer], namespace: str, room_args: bool) -> None:
    """Two users: nicknames, announcements, a room message that skips its sender, a leave."""
    events = ["announcement", "nicknames", "msg_to_room"]
    alice = Peer(events, namespace).connect(url)
    bob = Peer(events, namespace).connect(url)
    peers += [alice, bob]
    if room_args:
        assert alice.call("join", "lobby") is True
        assert bob.call("join", "lobby") is True
    alice_ack = alice.call("nickname", "alice")
    assert bob.expect("announcement", ["alice has connected"])
    bob_ack = bob.call("nickname", "bob")
    assert alice.expect("announcement", ["bob has connected"])
    if room_args:
        assert alice_ack == (True, "alice") and bob_ack == (True, "bob")
    else:  # the simple chat acks None: the page reads it as "nickname set"
        assert alice_ack is None and bob_ack is None
    message = ("lobby", "hello bob") if room_args else ("hello bob",)
    alice.call("user message", *message)
    assert bob.expect("msg_to_room") == ["alice", "hello bob"]
    bob.call("user message", *(("lobby", "hi") if room_args else ("hi",)))
    assert alice.expect("msg_to_room") == ["bob", "hi"]
    assert all(name != "msg_to_room" for name, _ in list(bob.inbox.queue))  # sender skipped
    alice.client.disconnect()
    assert bob.expect("announcement", ["alice has disconnected"])


def test_simple_chat(serve: Any, peers: list[Peer]) -> None:
    chat = load(EXAMPLES / "simple_chat" / "chat.py", "seed_example_simple_chat")
    url = serve(chat.Application())
    page = requests.get(url + "/chat.html", timeout=TIMEOUT)
    assert page.status_code == 200 and "socket.io.js" in page.text
    assert requests.get(url + "/nowhere", timeout=TIMEOUT).status_code == 404
    chat_flow(url, peers, "/", room_args=False)


def test_flask_chat(serve: Any, peers: list[Peer]) -> None:
    chat = load(EXAMPLES / "flask_chat" / "chat.py", "seed_example_flask_chat")
    chat.ChatRoom.rooms.clear()
    chat.ChatNamespace.nicknames.clear()
    url = serve(chat.app)
    created = requests.post(url + "/create", data={"name": "Lobby"}, timeout=TIMEOUT)
    assert created.status_code == 200 and "<h1>Lobby</h1>" in created.text
    assert "/lobby" in requests.get(url + "/", timeout=TIMEOUT).text
    events = ["announcement", "nicknames", "msg_to_room"]
    alice = Peer(events, "/chat").connect(url)
    bob = Peer(events, "/chat").connect(url)
    peers += [alice, bob]
    assert alice.call("join", "lobby") is True and bob.call("join", "lobby") is True
    assert alice.call("nickname", "alice") == (True, "alice")
    assert bob.expect("nicknames", [["alice"]])
    assert bob.call("nickname", "bob") == (True, "bob")
    assert alice.call("user message", "hello") is True
    assert bob.expect("msg_to_room") == ["alice", "hello"]
    alice.client.disconnect()
    assert bob.expect("announcement", ["alice has disconnected"])
    assert bob.expect("nicknames", [["bob"]])


def test_pyramid_chat(serve: Any, peers: list[Peer]) -> None:
    sys.path.insert(0, str(EXAMPLES / "pyramid_chat"))
    try:
        chatter2 = importlib.import_module("chatter2")
    finally:
        sys.path.remove(str(EXAMPLES / "pyramid_chat"))
    url = serve(chatter2.main())
    assert "socket.io.js" in requests.get(url + "/", timeout=TIMEOUT).text
    a = Peer(["chat"]).connect(url)
    b = Peer(["chat"]).connect(url, transports=["websocket"])
    peers += [a, b]
    a.client.emit("chat", "hi all")
    assert a.expect("chat") == ["hi all"]
    assert b.expect("chat") == ["hi all"]


def test_cross_origin(serve: Any, peers: list[Peer]) -> None:
    sock = load(EXAMPLES / "cross_origin" / "sock.py", "seed_example_cross_origin")
    url = serve(sock.app)
    origin = "http://localhost:8080"
    handshake = requests.get(
        url + "/socket.io/?EIO=4&transport=polling", headers={"Origin": origin}, timeout=TIMEOUT
    )
    assert handshake.status_code == 200
    assert handshake.headers["Access-Control-Allow-Origin"] == origin
    peer = Peer(["greetings"]).connect(url, headers={"Origin": origin})
    peers.append(peer)
    peer.client.emit("hello", {"from": "test"})
    assert peer.expect("greetings") == [{"from": "sockets"}]


def test_live_cpu_graph(serve: Any, peers: list[Peer], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CPU_INTERVAL", "0.05")
    cpu = load(EXAMPLES / "live_cpu_graph" / "serve.py", "seed_example_live_cpu")
    server_url = serve(cpu.application)
    assert "cpu_data" in requests.get(server_url + "/", timeout=TIMEOUT).text
    peer = Peer(["cpu_data"], "/cpu").connect(server_url)
    peers.append(peer)
    points = [peer.expect("cpu_data")[0]["point"] for _ in range(3)]
    assert all(0.0 <= p <= 100.0 for p in points)
    peer.client.disconnect()
    gevent.sleep(0.2)  # lets a still-running sender greenlet (a failure) emit into the void
    assert not [g for g in _greenlets() if "sendcpu" in repr(getattr(g, "_run", ""))]


def _greenlets() -> list[Any]:
    import gc

    from gevent import Greenlet

    # type(), not isinstance(): isinstance() reads __class__, which makes a lazy proxy (Django's
    # settings, once gsocketio.sdjango is imported in this process) try to set itself up.
    return [obj for obj in gc.get_objects() if issubclass(type(obj), Greenlet) and not obj.dead]


# --- subprocesses ----------------------------------------------------------------------------


def start(
    cmd: list[str], cwd: Path, pattern: str, stream: str
) -> tuple[subprocess.Popen[str], str]:
    """Start a server process and wait (bounded) for the line announcing its URL."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(cwd)]), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    pipe = proc.stdout if stream == "stdout" else proc.stderr
    assert pipe is not None
    seen: list[str] = []
    with gevent.Timeout(20, AssertionError(f"server did not start: {seen}")):
        for _ in range(200):
            line = pipe.readline()
            if not line:
                break
            seen.append(line)
            found = re.search(pattern, line)
            if found:
                return proc, found.group(1)
    proc.kill()
    raise AssertionError(f"server did not start: {''.join(seen)}")


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def test_django_chat(peers: list[Peer]) -> None:
    proc, url = start(
        [sys.executable, "manage.py", "runserver_socketio", "127.0.0.1:0"],
        EXAMPLES / "django_chat",
        r"serving on (http://\S+)",
        "stdout",
    )
    try:
        page = requests.get(url + "/lobby/", timeout=TIMEOUT)
        assert page.status_code == 200 and "Room lobby" in page.text
        chat_flow(url, peers, "/chat", room_args=True)
    finally:
        stop(proc)


@pytest.mark.parametrize("worker", ["GeventSocketIOWorker", "NginxGeventSocketIOWorker"])
def test_gunicorn_worker(peers: list[Peer], worker: str) -> None:
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    proc, url = start(
        [
            gunicorn,
            "-k",
            f"gsocketio.sgunicorn.{worker}",
            "-b",
            "127.0.0.1:0",
            "-w",
            "1",
            "--graceful-timeout",
            "2",
            "chat:application",
        ],
        EXAMPLES / "simple_chat",
        r"Listening at: (http://\S+)",
        "stderr",
    )
    try:
        page = requests.get(url + "/chat.html", timeout=TIMEOUT)
        assert page.status_code == 200 and "socket.io.js" in page.text
        if worker == "NginxGeventSocketIOWorker":  # long-polling only
            refused = Peer([])
            with pytest.raises(socketio.exceptions.ConnectionError):
                refused.connect(url, transports=["websocket"])
            polling = Peer(["msg_to_room", "announcement"]).connect(url, transports=["polling"])
            peers.append(polling)
            assert polling.call("nickname", "poller") is None
            assert polling.expect("announcement", ["poller has connected"])
            return
        alice = Peer(["msg_to_room"]).connect(url, transports=["websocket"])
        bob = Peer(["msg_to_room"]).connect(url)  # polling, then upgrade
        peers += [alice, bob]
        alice.call("nickname", "alice")
        bob.call("nickname", "bob")
        alice.call("user message", "over gunicorn")
        assert bob.expect("msg_to_room") == ["alice", "over gunicorn"]
    finally:
        stop(proc)


# --- the README's promise: each example's Socket.IO imports are the seed's, prefix renamed ---

SEED_EXAMPLE_IMPORTS: dict[str, set[str]] = {
    # examples/simple_chat/chat.py
    "simple_chat": {
        "socketio:socketio_manage",
        "socketio.server:SocketIOServer",
        "socketio.namespace:BaseNamespace",
        "socketio.mixins:RoomsMixin",
        "socketio.mixins:BroadcastMixin",
    },
    # examples/flask_chat/chat.py, run.py
    "flask_chat": {
        "socketio:socketio_manage",
        "socketio.namespace:BaseNamespace",
        "socketio.mixins:RoomsMixin",
        "socketio.mixins:BroadcastMixin",
        "socketio.server:SocketIOServer",
    },
    # examples/simple_pyramid_chat/chatter2/views.py, serve.py
    "pyramid_chat": {
        "socketio.namespace:BaseNamespace",
        "socketio:socketio_manage",
        "socketio.mixins:BroadcastMixin",
        "socketio.server:SocketIOServer",
    },
    # examples/cross_origin/sock.py: ``from socketio import server, namespace, socketio_manage``
    "cross_origin": {"socketio.server", "socketio.namespace", "socketio:socketio_manage"},
    # examples/live_cpu_graph/serve.py
    "live_cpu_graph": {
        "socketio:socketio_manage",
        "socketio.server:SocketIOServer",
        "socketio.namespace:BaseNamespace",
        "socketio.mixins:BroadcastMixin",
    },
    # examples/django_chat: chat/sockets.py, chat/urls.py (``import socketio.sdjango``),
    # chat/management/commands/runserver_socketio.py
    "django_chat": {
        "socketio.namespace:BaseNamespace",
        "socketio.mixins:RoomsMixin",
        "socketio.mixins:BroadcastMixin",
        "socketio.sdjango:namespace",
        "socketio.sdjango",
        "socketio.server:SocketIOServer",
    },
}
"""What each of the seed's original examples imported from ``socketio`` (``module:name``, or
a bare module)."""


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # the parent is a module, not a package
        return False


def example_imports(folder: str) -> set[str]:
    """The ``gsocketio`` imports of an example folder, as ``module:name`` or a bare module."""
    found: set[str] = set()
    for path in sorted((EXAMPLES / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.split(".")[0] == "gsocketio")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gsocketio"):
                for alias in node.names:
                    dotted = f"{node.module}.{alias.name}"
                    found.add(dotted if _is_module(dotted) else f"{node.module}:{alias.name}")
    return found


@pytest.mark.parametrize("folder", sorted(SEED_EXAMPLE_IMPORTS))
def test_example_imports_are_the_seeds_renamed(folder: str) -> None:
    renamed = {"g" + name for name in SEED_EXAMPLE_IMPORTS[folder]}
    assert example_imports(folder) == renamed
    for imported in renamed:  # and each resolves
        module, _, name = imported.partition(":")
        assert not name or hasattr(importlib.import_module(module), name), imported


def test_every_example_folder_is_checked() -> None:
    folders = {p.name for p in EXAMPLES.iterdir() if p.is_dir()}
    assert folders == set(SEED_EXAMPLE_IMPORTS)
