"""gevent-socketio's own unit tests of the virtual socket and namespaces, ported.

The seed's tests/test_namespace.py and tests/test_socket.py build ``Socket(server)`` with a mock
server and no transport, drive a ``BaseNamespace`` over it and inspect what it sent; apps test
their namespaces the same way. Ported as written (unittest, ``MagicMock``), with the imports
renamed; the assertions on ``client_queue`` are added, since a standalone socket must queue the
encoded packets as the seed's did.
"""

from __future__ import annotations

import warnings
from typing import Any
from unittest import TestCase
from unittest.mock import MagicMock

import pytest
from gevent.queue import Empty

from gsocketio import packet
from gsocketio.compat.client_queue import MAX_CLIENT_QUEUE
from gsocketio.namespace import BaseNamespace
from gsocketio.virtsocket import Socket, default_error_handler


class MockSocketIOServer:
    """Mock a SocketIO server"""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sockets: dict[str, Socket] = {}

    def get_socket(self, socket_id: str = "") -> Socket | None:
        return self.sockets.get(socket_id)


class MockSocket(Socket):
    pass


class MockNamespace(BaseNamespace):
    """Mock a Namespace from the namespace module"""


class ChatNamespace(BaseNamespace):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.use_set = args[0]
        super().__init__(*args[1:], **kwargs)

    def get_initial_acl(self) -> Any:
        acls = ["on_foo"]
        if self.use_set:
            return set(acls)
        return acls

    def on_foo(self) -> str:
        return "a"

    def on_bar(self) -> str:
        return "b"


def sent(socket: Socket) -> list[dict[str, Any]]:
    """Everything the socket queued for the client, decoded back to the seed's dicts."""
    out: list[dict[str, Any]] = []
    for _ in range(1000):
        try:
            out.append(packet.decode(socket.get_client_msg(block=False)))
        except Empty:
            return out
    raise AssertionError("client queue never emptied")


class TestSocketAPI(TestCase):
    """Test the virtual Socket object (the seed's tests/test_socket.py)"""

    def setUp(self) -> None:
        self.server = MockSocketIOServer()
        self.virtsocket = Socket(self.server)

    def test__set_namespaces(self) -> None:
        namespaces = {"/": MockNamespace}
        self.virtsocket._set_namespaces(namespaces)
        self.assertEqual(self.virtsocket.namespaces, namespaces)

    def test__set_request(self) -> None:
        request = {"test": "a"}
        self.virtsocket._set_request(request)
        self.assertEqual(self.virtsocket.request, request)

    def test__set_environ(self) -> None:
        environ: Any = []
        self.virtsocket._set_environ(environ)
        self.assertEqual(self.virtsocket.environ, environ)

    def test_connected_property(self) -> None:
        self.assertFalse(self.virtsocket.connected)
        self.virtsocket.state = "CONNECTED"
        self.assertTrue(self.virtsocket.connected)

    def test_incr_hist(self) -> None:
        self.virtsocket.incr_hits()
        self.assertEqual(self.virtsocket.hits, 1)

    def test_kill(self) -> None:
        self.virtsocket.state = "CONNECTED"
        self.virtsocket.active_ns = {"test": MockNamespace({"socketio": self.virtsocket}, "test")}
        self.virtsocket.kill()
        self.assertFalse(self.virtsocket.connected)

    def test_send_packet_queues_the_wire_form(self) -> None:
        self.virtsocket.send_packet({"type": "event", "name": "x", "args": [1], "endpoint": ""})
        self.assertEqual(self.virtsocket.get_client_msg(block=False), '5:::{"name":"x","args":[1]}')

    def test_put_and_get_multiple_client_msgs(self) -> None:
        self.virtsocket.put_client_msg("2::")
        self.virtsocket.put_client_msg("8::")
        self.assertEqual(self.virtsocket.get_multiple_client_msgs(timeout=1), ["2::", "8::"])
        self.assertTrue(self.virtsocket.client_queue.empty())

    def test_default_error_handler_sends_the_error_event(self) -> None:
        default_error_handler(self.virtsocket, "bad", "it broke", "/chat", None, False)
        default_error_handler(self.virtsocket, "quiet", "only logged", "/chat", None, True)
        self.assertEqual(
            sent(self.virtsocket),
            [{"type": "event", "name": "error", "args": ["bad", "it broke"], "endpoint": "/chat"}],
        )


class TestBaseNamespace(TestCase):
    """The seed's tests/test_namespace.py, TestBaseNamespace"""

    def setUp(self) -> None:
        server = MockSocketIOServer()
        self.environ: dict[str, Any] = {}
        self.environ["socketio"] = MockSocket(server)
        self.ns = BaseNamespace(self.environ, "/woot")

    def test_process_packet_disconnect(self) -> None:
        pkt = {"type": "disconnect", "endpoint": "/woot"}
        self.ns.process_packet(pkt)

    def test_process_packet_connect(self) -> None:
        """processing a connection packet"""
        pkt = {"type": "connect", "endpoint": "/tobi", "qs": ""}
        self.ns.process_packet(pkt)

        # processing a connection packet with query string
        pkt = {"type": "connect", "endpoint": "/test", "qs": "?test=1"}
        self.ns.process_packet(pkt)
        # the namespace answers each CONNECT by echoing it, as the seed's did
        answers = sent(self.environ["socketio"])
        self.assertEqual(
            [(p["type"], p["endpoint"]) for p in answers],
            [
                ("connect", "/tobi"),
                ("connect", "/test"),
            ],
        )
        self.assertEqual(answers[1]["qs"].removeprefix("?"), "test=1")

    def test_process_packet_heartbeat(self) -> None:
        """processing a heartbeat packet"""
        pkt = {"type": "heartbeat", "endpoint": ""}
        self.ns.process_packet(pkt)

    def test_process_packet_message(self) -> None:
        """processing a message packet"""
        pkt: dict[str, Any] = {"type": "message", "endpoint": "", "data": "woot"}
        data = self.ns.process_packet(pkt)
        self.assertEqual(data, pkt["data"])

        # processing a message packet with id and endpoint
        pkt = {"type": "message", "id": 5, "ack": True, "endpoint": "/tobi", "data": ""}
        data = self.ns.process_packet(pkt)
        self.assertEqual(data, pkt["data"])

    def test_process_packet_json(self) -> None:
        """processing json packet"""
        pkt: dict[str, Any] = {"type": "json", "endpoint": "", "data": "2"}
        data = self.ns.process_packet(pkt)
        self.assertEqual(data, pkt["data"])

        # processing json packet with message id and ack data
        pkt = {"type": "json", "id": 1, "endpoint": "", "ack": "data", "data": {"a": "b"}}
        data = self.ns.process_packet(pkt)
        self.assertEqual(data, pkt["data"])

    def test_process_packet_event(self) -> None:
        """processing an event packet"""
        pkt: dict[str, Any] = {"type": "event", "name": "woot", "endpoint": "", "args": []}
        self.ns.process_packet(pkt)

        # processing an event packet with message id and ack
        pkt = {"type": "event", "id": 1, "ack": "data", "name": "tobi", "endpoint": "", "args": []}
        self.ns.process_packet(pkt)
        # neither handler exists: the client got the seed's error event for each
        errors = [p["args"] for p in sent(self.environ["socketio"])]
        self.assertEqual(
            errors,
            [
                ["no_such_method", 'The method "on_woot" was not found'],
                ["no_such_method", 'The method "on_tobi" was not found'],
            ],
        )

    def test_process_packet_ack(self) -> None:
        """processing a ack packet"""
        pkt = {"type": "ack", "ackId": 140, "endpoint": "", "args": []}
        self.ns.process_packet(pkt)

    def test_process_packet_error(self) -> None:
        """processing error packet"""
        pkt = {"type": "error", "reason": "", "advice": "", "endpoint": ""}
        self.ns.process_packet(pkt)

        pkt = {"type": "error", "reason": "transport not supported", "advice": "", "endpoint": ""}
        self.ns.process_packet(pkt)

        # processing error packet with reason and advice
        pkt = {"type": "error", "reason": "unauthorized", "advice": "reconnect", "endpoint": ""}
        self.ns.process_packet(pkt)

        # processing error packet with endpoint
        pkt = {"type": "error", "reason": "", "advice": "", "endpoint": "/woot"}
        self.ns.process_packet(pkt)

    def test_process_packet_message_with_new_line(self) -> None:
        """processing a newline in a message"""
        pkt = {"type": "message", "data": "\n", "endpoint": ""}
        self.ns.process_packet(pkt)

    def test_emit_send_and_error_reach_the_client_queue(self) -> None:
        acks: list[Any] = []
        self.ns.emit("greet", "hi", {"n": 1})
        self.ns.emit("ask", 2, callback=lambda *args: acks.append(args))
        self.ns.send("plain")
        self.ns.send({"k": "v"}, json=True)
        self.ns.error("oops", "went wrong")
        socket = self.environ["socketio"]
        self.assertEqual(
            socket.get_client_msg(block=False), '5::/woot:{"name":"greet","args":["hi",{"n":1}]}'
        )
        self.assertEqual(socket.get_client_msg(block=False), '5:1+:/woot:{"name":"ask","args":[2]}')
        self.assertEqual(socket.get_client_msg(block=False), "3::/woot:plain")
        self.assertEqual(socket.get_client_msg(block=False), '4::/woot:{"k":"v"}')
        self.assertEqual(
            sent(socket),
            [
                {
                    "type": "event",
                    "name": "error",
                    "args": ["oops", "went wrong"],
                    "endpoint": "/woot",
                }
            ],
        )
        # the client's ack of the emit runs the callback, through process_packet as in the seed
        self.ns.process_packet({"type": "ack", "ackId": 1, "endpoint": "/woot", "args": ["yes"]})
        self.assertEqual(acks, [("yes",)])


class TestChatNamespace(TestCase):
    """The seed's tests/test_namespace.py, TestChatNamespace (ACLs)"""

    def setUp(self) -> None:
        server = MockSocketIOServer()
        self.environ: dict[str, Any] = {}
        socket = MockSocket(server)
        socket.error = MagicMock()  # type: ignore[method-assign]
        self.environ["socketio"] = socket
        self.ns = ChatNamespace(False, self.environ, "/chat")

    def test_allowed_event(self) -> None:
        pkt = {"type": "event", "name": "foo", "endpoint": "/chat", "args": []}
        self.ns.process_packet(pkt)

    def test_blocked_event(self) -> None:
        pkt = {"type": "event", "name": "bar", "endpoint": "/chat", "args": []}
        self.ns.process_packet(pkt)
        args = ["method_access_denied", 'You do not have access to method "on_bar"']
        kwargs = {"msg_id": None, "endpoint": "/chat", "quiet": False}
        self.environ["socketio"].error.assert_called_with(*args, **kwargs)

    def test_add_acl_method(self) -> None:
        pkt = {"type": "event", "name": "bar", "endpoint": "/chat", "args": []}
        self.ns.add_acl_method("on_bar")
        self.ns.process_packet(pkt)
        assert not self.environ["socketio"].error.called

    def test_del_acl_method(self) -> None:
        pkt = {"type": "event", "name": "foo", "endpoint": "/chat", "args": []}
        self.ns.del_acl_method("on_foo")
        self.ns.process_packet(pkt)
        args = ["method_access_denied", 'You do not have access to method "on_foo"']
        kwargs = {"msg_id": None, "endpoint": "/chat", "quiet": False}
        self.environ["socketio"].error.assert_called_with(*args, **kwargs)

    def test_lift_acl_restrictions(self) -> None:
        pkt1 = {"type": "event", "name": "foo", "endpoint": "/chat", "args": []}
        self.ns.lift_acl_restrictions()
        self.ns.process_packet(pkt1)
        assert not self.environ["socketio"].error.called

        pkt2 = {"type": "event", "name": "bar", "endpoint": "/chat", "args": []}
        self.ns.process_packet(pkt2)
        assert not self.environ["socketio"].error.called

    def test_use_set_on_acl(self) -> None:
        self.ns = ChatNamespace(True, self.environ, "/chat")
        pkt = {"type": "event", "name": "bar", "endpoint": "/chat", "args": []}
        self.ns.add_acl_method("on_bar")
        self.ns.process_packet(pkt)
        assert not self.environ["socketio"].error.called


def test_client_queue_is_bounded_keeping_the_newest() -> None:
    socket = Socket(MockSocketIOServer(), {})
    for n in range(MAX_CLIENT_QUEUE + 5):
        socket.put_client_msg(f"3:::{n}")
    msgs = socket.get_multiple_client_msgs(block=False)
    assert len(msgs) == MAX_CLIENT_QUEUE
    assert msgs[0] == "3:::5" and msgs[-1] == f"3:::{MAX_CLIENT_QUEUE + 4}"


def test_raw_put_client_msg_on_a_served_socket_is_sent_as_a_packet() -> None:
    class Served(Socket):
        def __init__(self) -> None:
            super().__init__(MockSocketIOServer())
            self.wire: list[dict[str, Any]] = []

        def _transmit(self, pkt: Any) -> None:
            self.wire.append(dict(pkt))

    socket = Served()
    with pytest.warns(DeprecationWarning, match="send_packet"):
        socket.put_client_msg('5::/chat:{"name":"x","args":[1]}')
    assert socket.wire == [{"type": "event", "name": "x", "args": [1], "endpoint": "/chat"}]
    assert socket.client_queue.empty()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        socket.send_packet({"type": "noop", "endpoint": ""})  # the modern path does not warn
