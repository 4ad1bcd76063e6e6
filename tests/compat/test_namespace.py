"""gevent-socketio namespaces (``BaseNamespace``, ``socketio_manage``) driven by real clients.

The namespaces are written as the seed's docs and examples write them; the app is a plain WSGI
app served by ``SocketIOServer`` (seed mode). Clients: python-socketio and Node's
socket.io-client 4.x and 2.x.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import gevent.event
import pytest
import socketio

from gsocketio import socketio_manage
from gsocketio.namespace import BaseNamespace
from tests.helpers.node import run_node

TIMEOUT = 5


class Recorder:
    """What the namespaces saw, for assertions (one per test)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.events: dict[str, gevent.event.AsyncResult] = {}

    def add(self, *call: Any) -> None:
        self.calls.append(call)
        self.result(call[0]).set(call[1:])

    def result(self, key: str) -> gevent.event.AsyncResult:
        return self.events.setdefault(key, gevent.event.AsyncResult())

    def wait(self, key: str) -> Any:
        return self.result(key).get(timeout=TIMEOUT)

    def names(self) -> list[str]:
        return [call[0] for call in self.calls]


REC = Recorder()


class InitMixin:
    def initialize(self) -> None:
        REC.add("init_mixin", self.ns_name)  # type: ignore[attr-defined]


class GlobalNamespace(BaseNamespace):
    def initialize(self) -> None:
        REC.add("init_global", self.ns_name)

    def recv_connect(self) -> None:
        REC.add("global_recv_connect")

    def on_echo(self, *args: Any) -> Any:
        return args

    def on_single(self, value: Any) -> Any:
        return {"got": value}

    def on_nothing(self) -> None:
        return None

    def on_user_message(self, msg: str) -> str:  # "user message" (a space) lands here
        return "spaced " + msg

    def on_two(self, a: Any, b: Any) -> list[Any]:
        return [a, b]

    def on_boom(self) -> None:
        raise RuntimeError("kaboom")

    def on_whoami(self, packet: dict[str, Any]) -> Any:
        return {"type": packet["type"], "name": packet["name"], "args": packet["args"]}

    def on_session(self) -> Any:
        return self.session.get("user")

    def on_request(self) -> Any:
        return self.request["marker"]

    def on_ask(self, question: str) -> None:
        self.emit("question", question, callback=lambda *a: REC.add("emit_ack", *a))

    def on_push_message(self, text: str) -> None:
        self.send(text, callback=lambda *a: REC.add("send_ack", *a))
        self.send({"json": text}, json=True)

    def on_other_ns(self) -> None:
        self.socket["/chat"].emit(
            "from_global", self.socket.sessid == self.socket["/chat"].socket.sessid
        )

    def recv_message(self, data: Any) -> Any:
        REC.add("recv_message", data)
        return "message ok"

    def recv_json(self, data: Any) -> Any:
        REC.add("recv_json", data)
        return data

    def recv_disconnect(self) -> None:
        REC.add("global_disconnect")
        self.disconnect(silent=True)


class ChatNamespace(BaseNamespace, InitMixin):
    def initialize(self) -> None:
        REC.add("init_chat", self.ns_name)
        self.job: Any = None

    def recv_connect(self) -> None:
        REC.add("chat_recv_connect", self.request["marker"])
        self.emit("welcome", self.ns_name)

    def on_login(self, user: str) -> bool:
        self.session["user"] = user
        return True

    def on_sleepy(self) -> None:
        def forever() -> None:
            try:
                gevent.sleep(60)
            except gevent.GreenletExit:
                REC.add("job_killed")
                raise

        self.job = self.spawn(forever)

    def on_kick(self) -> None:
        self.disconnect()

    def recv_disconnect(self) -> None:
        REC.add("chat_disconnect")
        self.disconnect(silent=True)


class SecureNamespace(BaseNamespace):
    def get_initial_acl(self) -> Any:
        return ["recv_connect", "on_login", "on_open"]

    def on_login(self, password: str) -> bool:
        if password == "sesame":
            self.add_acl_method("on_secret")
            return True
        return False

    def on_secret(self) -> str:
        REC.add("secret_ran")
        return "the secret"

    def on_open(self) -> str:
        return "open"

    def on_lock(self) -> None:
        self.del_acl_method("on_secret")

    def on_lift(self) -> None:
        self.lift_acl_restrictions()

    def on_reset(self) -> None:
        self.reset_acl()


def guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any) -> Any:
        try:
            return method(*args)
        except ValueError as exc:
            return f"handled: {exc}"

    return wrapper


class GuardedNamespace(BaseNamespace):
    exception_handler_decorator = staticmethod(guarded)

    def on_fail(self) -> None:
        raise ValueError("bad value")


NAMESPACES = {
    "": GlobalNamespace,
    "/chat": ChatNamespace,
    "/secure": SecureNamespace,
    "/guarded": GuardedNamespace,
}


def make_app(**manage_kwargs: Any) -> Callable[..., Any]:
    request = {"marker": "the request"}

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ["PATH_INFO"].strip("/")
        if path.startswith("socket.io"):
            REC.add("app_path", path.split("/")[:3])
            socketio_manage(environ, NAMESPACES, request, **manage_kwargs)
            return []
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"the web app"]

    return app


@pytest.fixture(autouse=True)
def fresh_recorder() -> Iterator[None]:
    global REC
    REC = Recorder()
    yield


@pytest.fixture
def client() -> Iterator[Callable[..., socketio.Client]]:
    clients: list[socketio.Client] = []

    def _make(**kwargs: Any) -> socketio.Client:
        kwargs.setdefault("reconnection", False)
        c = socketio.Client(**kwargs)
        clients.append(c)
        return c

    yield _make
    for c in clients:
        c.disconnect()


def errors_of(c: socketio.Client, namespace: str = "/") -> gevent.queue.Queue[Any]:
    queue: gevent.queue.Queue[Any] = gevent.queue.Queue()
    c.on("error", lambda *args: queue.put(list(args)), namespace=namespace)
    return queue


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], ["polling", "websocket"]])
def test_events_acks_and_dispatch_rules(serve: Any, client: Any, transports: list[str]) -> None:
    url = serve(make_app())
    c = client()
    errors = errors_of(c)
    c.connect(url, transports=transports, wait_timeout=TIMEOUT)
    assert c.call("echo", ("a", 1, {"b": [2]}), timeout=TIMEOUT) == ("a", 1, {"b": [2]})
    assert c.call("single", 5, timeout=TIMEOUT) == {"got": 5}
    assert c.call("nothing", timeout=TIMEOUT) is None  # the seed acks [None]
    assert c.call("user message", "hi", timeout=TIMEOUT) == "spaced hi"
    assert c.call("two", (1, 2), timeout=TIMEOUT) == [1, 2]
    assert c.call("whoami", ("x", 2), timeout=TIMEOUT) == {
        "type": "event",
        "name": "whoami",
        "args": ["x", 2],
    }
    # the app saw the seed's URL shape, the web part still answers
    assert REC.wait("app_path") == (
        ["socket.io", "1", "xhr-polling" if transports[0] == "polling" else "websocket"],
    )
    # names that are not identifiers reach process_event and are refused there
    c.emit("bad-name!")
    assert errors.get(timeout=TIMEOUT) == [
        "unallowed_event_name",
        "name must only contains alpha numerical characters",
    ]
    c.emit("missing")
    assert errors.get(timeout=TIMEOUT) == [
        "no_such_method",
        'The method "on_missing" was not found',
    ]
    # the global namespace never gets recv_connect (seed rule), initialize ran once
    assert "global_recv_connect" not in REC.names()
    assert REC.names().count("init_global") == 1


def test_wrong_arity_and_raising_handlers_keep_the_socket(
    serve: Any, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    url = serve(make_app())
    c = client()
    errors = errors_of(c)
    c.connect(url, wait_timeout=TIMEOUT)
    c.emit("two", (1,))
    name, message = errors.get(timeout=TIMEOUT)
    assert name == "invalid_method_args" and "on_two" in message
    with caplog.at_level(logging.ERROR, logger="gsocketio.compat"):
        c.emit("boom")
        assert errors.get(timeout=TIMEOUT) == [
            "method_error",
            'The server-side method "on_boom" failed',
        ]
    logged = [r for r in caplog.records if "on_boom" in r.getMessage()]
    assert logged and c.get_sid() is not None
    assert any(r.exc_info for r in logged)
    sid = c.sid  # the engine sid: the seed's sessid
    assert any(sid in r.getMessage() for r in logged)
    assert c.call("single", "still alive", timeout=TIMEOUT) == {"got": "still alive"}


def test_namespaces_recv_connect_session_request_and_socket_lookup(serve: Any, client: Any) -> None:
    url = serve(make_app())
    c = client()
    welcome = gevent.event.AsyncResult()
    from_global = gevent.event.AsyncResult()
    c.on("welcome", welcome.set, namespace="/chat")
    c.on("from_global", from_global.set, namespace="/chat")
    c.connect(url, namespaces=["/", "/chat"], wait_timeout=TIMEOUT)
    assert welcome.get(timeout=TIMEOUT) == "/chat"
    assert REC.wait("chat_recv_connect") == ("the request",)
    # initialize() ran on each class of the MRO that defines it, the mixin included, once each
    assert REC.names().count("init_chat") == 1 and REC.names().count("init_mixin") == 1
    assert c.call("login", "alice", namespace="/chat", timeout=TIMEOUT) is True
    assert c.call("session", timeout=TIMEOUT) == "alice"  # one session per socket
    assert c.call("request", timeout=TIMEOUT) == "the request"
    c.emit("other_ns")
    assert from_global.get(timeout=TIMEOUT) is True


def test_unknown_namespace_gets_connect_error(serve: Any, client: Any) -> None:
    url = serve(make_app())
    c = client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        c.connect(url, namespaces=["/nowhere"], wait_timeout=TIMEOUT)


def test_app_not_calling_socketio_manage_refuses(serve: Any, client: Any) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("404 Not Found", [])
        return [b"no socket here"]

    url = serve(app)
    c = client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        c.connect(url, wait_timeout=TIMEOUT)


def test_acl_allows_and_denies(serve: Any, client: Any) -> None:
    url = serve(make_app())
    c = client()
    errors = errors_of(c, "/secure")
    c.connect(url, namespaces=["/secure"], wait_timeout=TIMEOUT)
    assert c.call("open", namespace="/secure", timeout=TIMEOUT) == "open"
    c.emit("secret", namespace="/secure")
    assert errors.get(timeout=TIMEOUT) == [
        "method_access_denied",
        'You do not have access to method "on_secret"',
    ]
    assert "secret_ran" not in REC.names()
    assert c.call("login", "wrong", namespace="/secure", timeout=TIMEOUT) is False
    assert c.call("login", "sesame", namespace="/secure", timeout=TIMEOUT) is True
    assert c.call("secret", namespace="/secure", timeout=TIMEOUT) == "the secret"
    # on_lock is not in the ACL: denied, so the secret stays open
    c.emit("lock", namespace="/secure")
    assert errors.get(timeout=TIMEOUT)[0] == "method_access_denied"
    assert c.call("secret", namespace="/secure", timeout=TIMEOUT) == "the secret"


def test_acl_lift_reset_and_del(serve: Any, client: Any) -> None:
    class Open(SecureNamespace):
        def get_initial_acl(self) -> Any:
            return ["on_lift", "on_reset", "on_lock", "on_login", "on_secret"]

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        socketio_manage(environ, {"": Open})
        return []

    url = serve(app)
    c = client()
    errors = errors_of(c)
    c.connect(url, wait_timeout=TIMEOUT)
    c.emit("open")
    assert errors.get(timeout=TIMEOUT)[0] == "method_access_denied"
    c.call("lift", timeout=TIMEOUT)
    assert c.call("open", timeout=TIMEOUT) == "open"  # everything allowed now
    c.call("reset", timeout=TIMEOUT)
    c.emit("open")
    assert errors.get(timeout=TIMEOUT)[0] == "method_access_denied"
    assert c.call("secret", timeout=TIMEOUT) == "the secret"
    c.call("lock", timeout=TIMEOUT)
    c.emit("secret")
    assert errors.get(timeout=TIMEOUT)[0] == "method_access_denied"


def test_server_acks_through_callback_and_messages(serve: Any, client: Any) -> None:
    url = serve(make_app())
    c = client()
    messages: gevent.queue.Queue[Any] = gevent.queue.Queue()

    @c.on("question")  # type: ignore[untyped-decorator]
    def question(q: str) -> tuple[str, int]:
        return "answer to " + q, 42

    @c.on("message")  # type: ignore[untyped-decorator]
    def message(data: Any) -> str:
        messages.put(data)
        return "client got it"

    c.connect(url, wait_timeout=TIMEOUT)
    c.emit("ask", "life")
    assert REC.wait("emit_ack") == ("answer to life", 42)
    c.emit("push_message", "hello")
    assert messages.get(timeout=TIMEOUT) == "hello"
    assert messages.get(timeout=TIMEOUT) == {"json": "hello"}
    assert REC.wait("send_ack") == ("client got it",)
    # the client's send(): a string reaches recv_message, anything else recv_json
    acked = gevent.event.AsyncResult()
    c.send("ping", callback=acked.set)
    assert REC.wait("recv_message") == ("ping",)
    assert acked.get(timeout=TIMEOUT) == "message ok"
    c.send({"k": [1]})
    assert REC.wait("recv_json") == ({"k": [1]},)


def test_disconnects_jobs_and_server_kick(serve: Any, client: Any) -> None:
    url = serve(make_app())
    c = client()
    kicked = gevent.event.Event()
    c.on("disconnect", lambda *a: kicked.set(), namespace="/chat")
    c.connect(url, namespaces=["/", "/chat"], wait_timeout=TIMEOUT)
    c.call("sleepy", namespace="/chat", timeout=TIMEOUT)
    c.emit("kick", namespace="/chat")  # the server leaves /chat (disconnect(silent=False))
    assert kicked.wait(TIMEOUT)
    REC.wait("job_killed")
    assert c.call("single", 1, timeout=TIMEOUT) == {"got": 1}  # "/" still served
    c.call("echo", timeout=TIMEOUT)
    c.disconnect()
    REC.wait("global_disconnect")  # recv_disconnect when the client leaves


def test_recv_disconnect_on_transport_loss(serve: Any, client: Any) -> None:
    url = serve(make_app())
    c = client()
    c.connect(url, namespaces=["/", "/chat"], transports=["websocket"], wait_timeout=TIMEOUT)
    c.call("login", "bob", namespace="/chat", timeout=TIMEOUT)
    c.call("echo", timeout=TIMEOUT)
    c.eio.ws.close()  # no DISCONNECT packets: the transport just goes away
    REC.wait("chat_disconnect")
    REC.wait("global_disconnect")


def test_exception_handler_decorator(serve: Any, client: Any) -> None:
    url = serve(make_app())
    c = client()
    c.connect(url, namespaces=["/guarded"], wait_timeout=TIMEOUT)
    assert c.call("fail", namespace="/guarded", timeout=TIMEOUT) == "handled: bad value"


def test_error_handler_and_json_overrides(serve: Any, client: Any) -> None:
    seen: list[tuple[Any, ...]] = []

    def error_handler(
        socket: Any, name: str, message: str, endpoint: str, msg_id: Any, quiet: bool
    ) -> None:
        seen.append((name, endpoint, quiet))
        socket.send_packet(
            {"type": "event", "name": "custom_error", "args": [name], "endpoint": endpoint}
        )

    def loads(text: str) -> Any:
        return json.loads(text, object_hook=lambda d: {**d, "decoded_by": "custom"})

    def dumps(data: Any) -> str:
        return json.dumps(data, default=lambda o: sorted(o) if isinstance(o, set) else str(o))

    url = serve(make_app(error_handler=error_handler, json_loads=loads, json_dumps=dumps))
    c = client()
    custom = gevent.event.AsyncResult()
    c.on("custom_error", custom.set)
    c.connect(url, wait_timeout=TIMEOUT)
    c.emit("missing")
    assert custom.get(timeout=TIMEOUT) == "no_such_method"
    assert seen == [("no_such_method", "", False)]
    # loads saw the client's object, dumps serialises what the default JSON cannot (a set)
    assert c.call("echo", ({"a": 1},), timeout=TIMEOUT) == {"a": 1, "decoded_by": "custom"}
    assert c.call("single", 1, timeout=TIMEOUT) == {"got": 1}
    assert c.call("echo", ({"s": 1},), timeout=TIMEOUT)["decoded_by"] == "custom"


NODE = 'const { io } = require("socket.io-client");\n'


def test_node_v4_client(serve: Any) -> None:
    url = serve(make_app())
    records = run_node(
        NODE
        + """
    const s = io(URL, { reconnection: false });
    const chat = io(URL + "/chat", { reconnection: false });
    const bad = io(URL + "/nowhere", { reconnection: false });
    bad.on("connect_error", (err) => out({ bad: err.message }));
    s.on("question", (q, ack) => ack("node says " + q));
    s.on("error", (name, message) => out({ seed_error: [name, message] }));
    chat.on("welcome", (ns) => out({ welcome: ns }));
    s.on("connect", () => {
      s.emit("echo", 1, "two", (...args) => {
        out({ echo: args });
        s.emit("user message", "x", (r) => {
          out({ spaced: r });
          s.emit("ask", "q");
          s.emit("nope");
        });
      });
    });
    let n = 0;
    const maybeDone = () => { if (++n === 2) setTimeout(() => { s.close(); chat.close(); done(); }, 100); };
    s.on("error", maybeDone);
    bad.on("connect_error", maybeDone);
    """,
        url,
    )
    by_key = {next(iter(r)): r[next(iter(r))] for r in records}
    assert by_key["echo"] == [1, "two"]
    assert by_key["spaced"] == "spaced x"
    assert by_key["welcome"] == "/chat"
    assert by_key["bad"] == "Invalid namespace"
    assert by_key["seed_error"] == ["no_such_method", 'The method "on_nope" was not found']
    assert REC.wait("emit_ack") == ("node says q",)


def test_node_v2_client(serve: Any) -> None:
    url = serve(make_app())
    records = run_node(
        """
    const io = require("socket.io-client-v2");
    const chat = io(URL + "/chat", { reconnection: false, forceNew: true });
    chat.on("welcome", (ns) => {
      out({ welcome: ns });
      chat.emit("login", "v2user", (ok) => { out({ login: ok }); chat.close(); done(); });
    });
    """,
        url,
    )
    assert records == [{"welcome": "/chat"}, {"login": True}]


LEGACY = """
const lio = require("socket.io-client-legacy");
const OPTS = { transports: ARGS.transports, "force new connection": true, reconnect: false };
"""


@pytest.mark.parametrize("transport", ["websocket", "xhr-polling"])
def test_legacy_09_client_same_namespaces(serve: Any, transport: str) -> None:
    """socket.io-client 0.9 reaches the same BaseNamespace code through the legacy layer."""
    url = serve(make_app())
    records = run_node(
        LEGACY
        + """
    const s = lio.connect(URL, OPTS);
    const chat = s.socket.of("/chat");
    s.on("error", (name, message) => out({ seed_error: name }));
    chat.on("welcome", (ns) => out({ welcome: ns }));
    s.on("connect", () => {
      s.emit("echo", 1, "two", (...args) => {
        out({ echo: args });
        s.send("plain", () => {});
        s.emit("nope");
      });
    });
    s.on("error", () => setTimeout(() => { s.socket.disconnect(); done(); }, 100));
    """,
        url,
        args={"transports": [transport]},
    )
    by_key = {next(iter(r)): r[next(iter(r))] for r in records}
    assert by_key["echo"] == [1, "two"]
    assert by_key["welcome"] == "/chat"
    assert by_key["seed_error"] == "no_such_method"
    assert REC.wait("recv_message") == ("plain",)
    assert REC.wait("app_path")[0][:2] == ["socket.io", "1"]
