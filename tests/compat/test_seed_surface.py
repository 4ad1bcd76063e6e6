"""Every public name of gevent-socketio 0.3.6 resolves under ``gsocketio.``, or is documented.

The lists are the seed's modules as released in 0.3.6 (``socketio/__init__.py``,
``namespace.py``, ``mixins.py``, ``virtsocket.py``, ``packet.py``, ``server.py``,
``handler.py``, ``transports.py``, ``policyserver.py``, ``sgunicorn.py``, ``sdjango.py``,
``defaultjson.py``): the names each module defines, the seed names it re-exported from its
siblings, and the documented members of the classes apps use (the namespace's, the virtual
socket's and the server's). Imported third-party and stdlib names (``gevent``, ``WSGIServer``,
``WebSocketHandler``...) are not the seed's API and are left out.

:data:`MISSING` holds what does not resolve, each with the reason; the test fails both when a
listed name disappears and when a missing one appears (update the list and
docs/migrating-from-gevent-socketio.md, which must name each missing one). Names that only made
sense for the seed's internals resolve but warn when used (:data:`DEPRECATED_USES`).
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gsocketio.compat.retired import Retired

ROOT = Path(__file__).resolve().parents[2]
MIGRATING = ROOT / "docs" / "migrating-from-gevent-socketio.md"

SEED_MODULES: dict[str, list[str]] = {
    "gsocketio": ["__version__", "socketio_manage"],
    "gsocketio.namespace": ["BaseNamespace", "allowed_event_name_regex"],
    "gsocketio.mixins": ["BroadcastMixin", "RoomsMixin"],
    "gsocketio.virtsocket": [
        "Socket",
        "default_error_handler",
        "default_json_dumps",
        "default_json_loads",
        "packet",
    ],
    "gsocketio.packet": [
        "ADVICES_VALUES",
        "ERROR_ADVICES",
        "ERROR_REASONS",
        "MSG_TYPES",
        "MSG_VALUES",
        "REASONS_VALUES",
        "decode",
        "default_json_dumps",
        "default_json_loads",
        "encode",
        "socketio_packet_attributes",
    ],
    "gsocketio.server": [
        "FlashPolicyServer",
        "Socket",
        "SocketIOHandler",
        "SocketIOServer",
        "serve",
        "serve_paste",
    ],
    "gsocketio.handler": ["SocketIOHandler", "transports"],
    "gsocketio.transports": [
        "BaseTransport",
        "FlashSocketTransport",
        "HTMLFileTransport",
        "JSONPolling",
        "WebsocketTransport",
        "XHRMultipartTransport",
        "XHRPollingTransport",
    ],
    "gsocketio.policyserver": ["FlashPolicyServer"],
    "gsocketio.sgunicorn": [
        "GeventSocketIOBaseWorker",
        "GeventSocketIOWorker",
        "GunicornWSGIHandler",
        "GunicornWebSocketWSGIHandler",
        "NginxGeventSocketIOWorker",
        "SocketIOHandler",
        "SocketIOServer",
    ],
    "gsocketio.sdjango": [
        "LOADING_SOCKETIO",
        "SOCKETIO_NS",
        "autodiscover",
        "namespace",
        "socketio",
        "socketio_manage",
        "urls",
    ],
    "gsocketio.defaultjson": [
        "DecimalEncoder",
        "default_json_dumps",
        "default_json_loads",
        "json",
        "json_decimal_args",
    ],
}
"""Module → the seed's public names in it."""

SOCKET_MEMBERS = [
    # class attributes and methods
    "GLOBAL_NS",
    "STATE_CONNECTED",
    "STATE_CONNECTING",
    "STATE_DISCONNECTED",
    "STATE_DISCONNECTING",
    "__getitem__",
    "__hasitem__",
    "connected",
    "detach",
    "disconnect",
    "error",
    "get_client_msg",
    "get_multiple_client_msgs",
    "get_server_msg",
    "heartbeat",
    "incr_hits",
    "json_dumps",
    "json_loads",
    "kill",
    "put_client_msg",
    "put_server_msg",
    "remove_namespace",
    "send_packet",
    "spawn",
    # instance attributes
    "ack_callbacks",
    "ack_counter",
    "active_ns",
    "client_queue",
    "config",
    "connection_established",
    "environ",
    "error_handler",
    "heartbeats",
    "hits",
    "jobs",
    "namespaces",
    "request",
    "server",
    "server_queue",
    "session",
    "sessid",
    "state",
    "timeout",
    "wsgi_app_greenlet",
]
NAMESPACE_MEMBERS = [
    "add_acl_method",
    "allowed_methods",
    "call_method",
    "call_method_with_acl",
    "del_acl_method",
    "disconnect",
    "emit",
    "environ",
    "error",
    "get_initial_acl",
    "initialize",
    "is_method_allowed",
    "jobs",
    "kill_local_jobs",
    "lift_acl_restrictions",
    "ns_name",
    "process_event",
    "process_packet",
    "recv_connect",
    "recv_disconnect",
    "recv_error",
    "recv_json",
    "recv_message",
    "request",
    "reset_acl",
    "send",
    "session",
    "socket",
    "spawn",
]
MIXIN_MEMBERS = {
    "RoomsMixin": ["emit_to_room", "join", "leave"],
    "BroadcastMixin": ["broadcast_event", "broadcast_event_not_me"],
}
SERVER_MEMBERS = [
    "config",
    "get_socket",
    "handle",
    "policy_server",
    "resource",
    "sockets",
    "start_accepting",
    "stop",
    "transports",
    "ws_handler_class",
]
WORKER_MEMBERS = ["policy_server", "resource", "server_class", "transports", "wsgi_handler"]

DIFFERENT: dict[str, str] = {}
"""Seed names that resolve under ``gsocketio.`` to something else, with the reason."""

MISSING: dict[str, str] = {
    "gsocketio.handler.transports": (
        "the handler no longer routes to transport classes; "
        "the names are in gsocketio.transports.TRANSPORTS"
    ),
    "gsocketio.defaultjson.DecimalEncoder": (
        "default_json_dumps writes decimal.Decimal as a JSON number itself; "
        "no encoder class is involved"
    ),
    "gsocketio.defaultjson.json": "the json module the seed picked (simplejson or json)",
    "gsocketio.defaultjson.json_decimal_args": "the keywords the seed passed to that json module",
    "Socket.get_server_msg": (
        "the inbound queue belongs to the receiver loop socketio_manage runs; "
        "put_server_msg feeds it"
    ),
    "Socket.server_queue": "as get_server_msg",
    "Socket.heartbeats": "heartbeats are counted by the protocol layers, not the virtual socket",
    "Socket.timeout": "the heartbeat timeout is the protocol layers' (Engine.IO ping_timeout)",
    "SocketIOServer.ws_handler_class": (
        "one handler class (handler_class) serves WebSocket requests too"
    ),
}
"""Seed names that do not resolve under ``gsocketio.``, with the reason."""


class _MockServer:
    def __init__(self) -> None:
        self.sockets: dict[str, Any] = {}


def _app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    return []


def _resolves_in_module(module: str, name: str) -> bool:
    return hasattr(importlib.import_module(module), name)


MODULE_NAMES = [(module, name) for module, names in SEED_MODULES.items() for name in names]


@pytest.mark.parametrize(("module", "name"), MODULE_NAMES)
def test_seed_module_name(module: str, name: str) -> None:
    key = f"{module}.{name}"
    if key in MISSING:
        assert not _resolves_in_module(module, name), f"{key} resolves now: drop it from MISSING"
    else:
        assert _resolves_in_module(module, name), f"{key} is missing (or belongs in MISSING)"


def test_server_module_names_mean_what_the_seeds_did() -> None:
    """gevent-socketio's ``socketio.server`` imported its Socket, handler and policy server."""
    from gsocketio import handler, policyserver, server, virtsocket

    assert server.Socket is virtsocket.Socket
    assert server.SocketIOHandler is handler.SocketIOHandler
    assert server.FlashPolicyServer is policyserver.FlashPolicyServer


def _members() -> list[tuple[str, Any, str]]:
    from gsocketio import mixins
    from gsocketio.namespace import BaseNamespace
    from gsocketio.server import SocketIOServer
    from gsocketio.sgunicorn import GeventSocketIOWorker
    from gsocketio.virtsocket import Socket

    socket = Socket(_MockServer(), {})
    namespace = BaseNamespace({"socketio": socket}, "/chat")
    server = SocketIOServer(("127.0.0.1", 0), _app)
    checks: list[tuple[str, Any, str]] = [("Socket", socket, name) for name in SOCKET_MEMBERS]
    checks += [("BaseNamespace", namespace, name) for name in NAMESPACE_MEMBERS]
    checks += [
        (cls, getattr(mixins, cls), name) for cls, names in MIXIN_MEMBERS.items() for name in names
    ]
    checks += [("SocketIOServer", server, name) for name in SERVER_MEMBERS]
    checks += [("GeventSocketIOWorker", GeventSocketIOWorker, name) for name in WORKER_MEMBERS]
    return checks


@pytest.mark.parametrize(("owner", "obj", "name"), _members())
def test_seed_member(owner: str, obj: Any, name: str) -> None:
    key = f"{owner}.{name}"
    if key in MISSING:
        assert not hasattr(obj, name), f"{key} resolves now: drop it from MISSING"
    else:
        assert hasattr(obj, name), f"{key} is missing (or belongs in MISSING)"


def test_the_surface_is_the_seeds_size() -> None:
    """Guards the lists against silent shrinking: 0.3.6 as enumerated above."""
    members = len(SOCKET_MEMBERS) + len(NAMESPACE_MEMBERS) + len(SERVER_MEMBERS)
    members += sum(len(names) for names in MIXIN_MEMBERS.values()) + len(WORKER_MEMBERS)
    assert (len(MODULE_NAMES), members) == (57, 93)
    assert (len(MISSING), len(DIFFERENT)) == (9, 0)


@pytest.mark.parametrize("key", sorted(MISSING | DIFFERENT))
def test_missing_names_are_documented(key: str) -> None:
    text = MIGRATING.read_text()
    short = key.removeprefix("gsocketio.")
    reason = (MISSING | DIFFERENT)[key]
    assert f"`{short}`" in text, f"{key} ({reason}) is not in {MIGRATING.name}"


Use = tuple[str, Callable[[], Any], str]


def _retired_classes() -> dict[str, type[Retired]]:
    """Every seed name that resolves to an internal-only (retired) class."""
    found: dict[str, type[Retired]] = {}
    for module, name in MODULE_NAMES:
        obj = getattr(importlib.import_module(module), name, None)
        if isinstance(obj, type) and issubclass(obj, Retired):
            found.setdefault(obj.__qualname__, obj)
    return found


def _uses() -> list[Use]:
    from gsocketio import sgunicorn
    from gsocketio.virtsocket import Socket

    def instantiate(cls: type[Retired]) -> Callable[[], Any]:
        return lambda: cls(None, {})

    def subclass(cls: type[Any]) -> Callable[[], Any]:
        return lambda: type("Mine", (cls,), {})

    uses: list[Use] = []
    for name, cls in sorted(_retired_classes().items()):
        uses.append((name, instantiate(cls), cls.instead))
        uses.append((f"subclass {name}", subclass(cls), cls.instead))
    ws_handler = sgunicorn.GunicornWebSocketWSGIHandler
    if not issubclass(ws_handler, Retired):  # a working handler that still warns
        uses.append(("subclass GunicornWebSocketWSGIHandler", subclass(ws_handler), "Gunicorn"))
    uses.append(("Socket.heartbeat", lambda: Socket(_MockServer(), {}).heartbeat(), "protocol"))
    return uses


DEPRECATED_USES = _uses()


@pytest.mark.parametrize(
    ("what", "use", "hint"), DEPRECATED_USES, ids=[u[0] for u in DEPRECATED_USES]
)
def test_internal_only_names_warn_with_what_to_use(
    what: str, use: Callable[[], Any], hint: str
) -> None:
    with pytest.warns(DeprecationWarning) as record:
        use()
    assert hint in str(record[0].message)


def test_every_transport_class_is_retired() -> None:
    from gsocketio import transports

    assert set(transports.handler_types.values()) <= set(_retired_classes().values())


def test_transport_classes_say_they_do_not_exchange() -> None:
    from gsocketio.transports import TRANSPORTS, XHRPollingTransport

    assert TRANSPORTS == (
        "websocket",
        "flashsocket",
        "htmlfile",
        "xhr-multipart",
        "xhr-polling",
        "jsonp-polling",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        transport = XHRPollingTransport(None, {})
    with pytest.raises(NotImplementedError, match="transports="):
        transport.do_exchange(None, "GET")


def test_seed_paths_are_our_objects() -> None:
    from gsocketio import compat, defaultjson, handler, packet, serve, sgunicorn, virtsocket
    from gsocketio.compat import virtsocket as compat_virtsocket
    from gsocketio.protocol import legacy

    assert compat is not None
    assert virtsocket.Socket is compat_virtsocket.VirtualSocket
    assert virtsocket.default_error_handler is compat_virtsocket.default_error_handler
    assert defaultjson.default_json_dumps is compat_virtsocket.default_json_dumps
    assert issubclass(handler.SocketIOHandler, Retired)  # gsocketio.http has no handler class
    assert vars(sgunicorn)["SocketIOHandler"] is handler.SocketIOHandler
    assert vars(sgunicorn)["SocketIOServer"] is serve.SocketIOServer
    assert packet.MSG_TYPES["event"] == int(legacy.PacketType.EVENT) == 5
    assert packet.ERROR_REASONS == {
        "transport not supported": 0,
        "client not handshaken": 1,
        "unauthorized": 2,
    }
    assert packet.ERROR_ADVICES == {"reconnect": 0}
    assert packet.REASONS_VALUES[2] == "unauthorized" and packet.ADVICES_VALUES[0] == "reconnect"
    assert packet.MSG_VALUES[8] == "noop"


def test_packet_codec_in_the_seed_dict_form() -> None:
    from gsocketio import packet

    assert packet.encode({"type": "event", "name": "x", "args": (1,), "endpoint": "/c"}) == (
        '5::/c:{"name":"x","args":[1]}'
    )
    assert packet.decode('5:1+:/c:{"name":"x"}') == {
        "type": "event",
        "id": 1,
        "ack": "data",
        "name": "x",
        "args": [],
        "endpoint": "/c",
    }
    assert packet.decode("6:::4+[true]") == {
        "type": "ack",
        "ackId": 4,
        "args": [True],
        "endpoint": "",
    }
    connect = {"type": "connect", "endpoint": "/nsp", "qs": "?q=1"}  # the seed's qs keeps "?"
    assert packet.decode("1::/nsp:?q=1") == connect and packet.encode(connect) == "1::/nsp:?q=1"
    assert packet.decode("7:::2+0") == {
        "type": "error",
        "reason": "unauthorized",
        "advice": "reconnect",
        "endpoint": "",
    }


def test_policy_server_takes_the_seeds_constructor() -> None:
    from gsocketio.policyserver import FlashPolicyServer

    server = FlashPolicyServer(("127.0.0.1", 0), 5)
    assert server.backlog == 5
    assert FlashPolicyServer().address == ("0.0.0.0", 10843)


def test_socketio_server_takes_the_seeds_namespace_keyword() -> None:
    """The seed's simple_chat and live_cpu_graph examples pass ``namespace="socket.io"`` (the
    0.3.6 server's deprecated name for ``resource``)."""
    from gsocketio.server import SocketIOServer

    with pytest.warns(DeprecationWarning, match="resource="):
        server = SocketIOServer(("127.0.0.1", 0), _app, namespace="io", policy_server=False)
    assert server.resource == "io" and server.config["resource"] == "io"
