"""Class-based namespaces: the modern :class:`Namespace`, gevent-socketio's :class:`BaseNamespace`.

:class:`Namespace` (python-socketio's shape) is one object per namespace for the whole server:
its ``on_<event>`` methods are resolved once, at registration (:mod:`gsocketio.registry`), and its
helpers (``emit``, ``enter_room``...) are the :class:`gsocketio.Server` ones with this namespace as
default; override :meth:`Namespace.trigger_event` to intercept every event of the namespace.

:class:`BaseNamespace` (gevent-socketio's) is one object per client connection and endpoint,
created when the first packet for its endpoint arrives (``initialize()`` then runs on each class
of the MRO that defines it). Packets come in the seed's dict form through
:meth:`BaseNamespace.process_packet`, whatever protocol the client speaks; every call goes
through the ACL (:meth:`BaseNamespace.call_method_with_acl`). Differences from gevent-socketio
are listed in docs/migrating-from-gevent-socketio.md.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import gevent

from gsocketio._logging import get_logger
from gsocketio.registry import accepts, fit, namespace_methods

if TYPE_CHECKING:
    from gsocketio.compat.virtsocket import VirtualSocket
    from gsocketio.socketio_server import Rooms, Server

__all__ = ["BaseNamespace", "Namespace", "allowed_event_name_regex", "initialize_namespace"]

log = get_logger("gsocketio.compat")

allowed_event_name_regex = re.compile(r"^[A-Za-z][A-Za-z0-9_ ]*$")
"""Event names ``process_event`` dispatches; others get ``unallowed_event_name``."""

_MAX_DEAD_JOBS = 64


def initialize_namespace(ns: BaseNamespace) -> None:
    """Call ``initialize()`` of every class in the MRO that defines one, base-most last, as the
    seed documents ("you don't need to call super() to initialize the mixins")."""
    for cls in type(ns).__mro__:
        init = vars(cls).get("initialize")
        if callable(init):
            init(ns)


class BaseNamespace:
    """Subclass it, add ``on_<event>`` methods, and map it to an endpoint in
    :func:`gsocketio.socketio_manage`."""

    def __init__(self, environ: dict[str, Any], ns_name: str, request: Any = None) -> None:
        self.environ = environ
        self.socket: VirtualSocket = environ["socketio"]
        self.session: dict[str, Any] = self.socket.session  # shared by the socket's namespaces
        self.request = request
        self.ns_name = ns_name
        #: ACL: ``None`` allows every method, a set allows only the method names in it.
        self.allowed_methods: set[str] | None = None
        self.jobs: list[gevent.Greenlet[..., Any]] = []
        self.reset_acl()
        super().__init__()  # cooperative: lets mixins initialise themselves

    # --- ACL ---------------------------------------------------------------------------------

    def is_method_allowed(self, method_name: str) -> bool:
        """Whether the ACL lets the client reach ``method_name``."""
        if self.allowed_methods is None:
            return True
        return method_name in self.allowed_methods

    def add_acl_method(self, method_name: str) -> None:
        """Open ``method_name`` (an ACL that allowed everything becomes just this one)."""
        if isinstance(self.allowed_methods, set):
            self.allowed_methods.add(method_name)
        else:
            self.allowed_methods = {method_name}

    def del_acl_method(self, method_name: str) -> None:
        """Close ``method_name``; raises ``ValueError`` while there are no restrictions."""
        if self.allowed_methods is None:
            raise ValueError(
                "Trying to delete an ACL method, but none were defined yet! Or: No ACL "
                "restrictions yet, why would you delete one?"
            )
        self.allowed_methods.remove(method_name)

    def lift_acl_restrictions(self) -> None:
        """Allow every ``on_*``/``recv_*`` method."""
        self.allowed_methods = None

    def get_initial_acl(self) -> Any:
        """Override to return the method names open at first (e.g. ``{'recv_connect'}``);
        ``None`` (the default) leaves the namespace open."""
        return None

    def reset_acl(self) -> None:
        """Back to :meth:`get_initial_acl`."""
        acl = self.get_initial_acl()
        self.allowed_methods = set(acl) if acl is not None else None

    # --- dispatch ----------------------------------------------------------------------------

    def process_packet(self, packet: dict[str, Any]) -> Any:
        """Dispatch one packet of this endpoint; override to take over completely."""
        packet_type = packet["type"]
        if packet_type == "event":
            return self.process_event(packet)
        if packet_type == "message":
            return self.call_method_with_acl("recv_message", packet, packet["data"])
        if packet_type == "json":
            return self.call_method_with_acl("recv_json", packet, packet["data"])
        if packet_type == "connect":
            self.socket.send_packet(packet)
            return self.call_method_with_acl("recv_connect", packet)
        if packet_type == "error":
            return self.call_method_with_acl("recv_error", packet)
        if packet_type == "ack":
            callback = self.socket._pop_ack_callback(packet["ackId"])
            if callback is None:
                log.error(
                    "no such callback for ackId %s (sid %s)", packet["ackId"], self.socket.sessid
                )
                return None
            try:
                return callback(*packet["args"])
            except TypeError:
                log.exception("call to ack callback failed: %s", packet)
                return None
        if packet_type == "disconnect":
            return self.call_method_with_acl("recv_disconnect", packet)
        log.warning("unprocessed packet %s", packet)
        return None

    def process_event(self, packet: dict[str, Any]) -> Any:
        """Dispatch an ``event`` packet to ``on_<name>(*args)``; override for your own rules."""
        args = packet["args"]
        name = packet["name"]
        if not isinstance(name, str) or not allowed_event_name_regex.match(name):
            self.error("unallowed_event_name", "name must only contains alpha numerical characters")
            return None
        method_name = "on_" + name.replace(" ", "_")
        return self.call_method_with_acl(method_name, packet, *args)

    def call_method_with_acl(self, method_name: str, packet: dict[str, Any], *args: Any) -> Any:
        """Call ``method_name`` if the ACL allows it, else report ``method_access_denied``."""
        if not self.is_method_allowed(method_name):
            self.error("method_access_denied", f'You do not have access to method "{method_name}"')
            return None
        return self.call_method(method_name, packet, *args)

    def call_method(self, method_name: str, packet: dict[str, Any], *args: Any) -> Any:
        """Call the method: with the packet alone if its only parameter is named ``packet``,
        else with ``*args``; wrapped in ``exception_handler_decorator`` if the class has one."""
        method = getattr(self, method_name, None)
        if method is None:
            self.error("no_such_method", f'The method "{method_name}" was not found')
            return None
        params = _positional_names(method)
        if not params or params[0] != "self":
            self.error(
                "invalid_method_args",
                "The server-side method is invalid, as it doesn't have 'self' as its first "
                "argument",
            )
            return None
        call_args: tuple[Any, ...] = (
            (packet,) if len(params) == 2 and params[1] == "packet" else args
        )
        if not accepts(method, len(call_args)):
            self.error(
                "invalid_method_args",
                f'The server-side method "{method_name}" does not take {len(call_args)} '
                "argument(s)",
            )
            return None
        decorate = getattr(self, "exception_handler_decorator", None)
        if decorate is not None:
            method = decorate(method)
        return method(*call_args)

    # --- overridable hooks -------------------------------------------------------------------

    def initialize(self) -> None:
        """Set up per-namespace state; runs once, right after ``__init__``, on every class of
        the MRO that defines it (no ``super()`` call needed)."""

    def recv_message(self, data: Any) -> Any:
        """A plain message from the client's ``send()``; returns ``data`` by default."""
        return data

    def recv_json(self, data: Any) -> Any:
        """A JSON message from the client's ``json.send()``; returns ``data`` by default."""
        return data

    def recv_disconnect(self) -> None:
        """The client disconnected (or the socket is closing): cleans up by default."""
        self.disconnect(silent=True)

    def recv_connect(self) -> None:
        """The client connected to this (non-global) namespace."""

    def recv_error(self, packet: dict[str, Any]) -> None:
        """An error packet from the client."""

    # --- sending -----------------------------------------------------------------------------

    def error(
        self, error_name: str, error_message: str, msg_id: Any = None, quiet: bool = False
    ) -> None:
        """Report an error to the client through the socket's error handler."""
        self.socket.error(
            error_name, error_message, endpoint=self.ns_name, msg_id=msg_id, quiet=quiet
        )

    def send(
        self, message: Any, json: bool = False, callback: Callable[..., Any] | None = None
    ) -> None:
        """Send a ``message`` (``json=True``: a JSON message); ``callback`` runs on the ack."""
        pkt: dict[str, Any] = {"type": "json" if json else "message", "data": message}
        pkt["endpoint"] = self.ns_name
        if callback:
            pkt["ack"] = True
            pkt["id"] = msgid = self.socket._get_next_msgid()
            self.socket._save_ack_callback(msgid, callback)
        self.socket.send_packet(pkt)

    def emit(self, event: str, *args: Any, **kwargs: Any) -> None:
        """Emit ``event`` with positional ``args``; ``callback=fn`` gets the client's ack."""
        callback = kwargs.pop("callback", None)
        if kwargs:
            raise ValueError(
                "emit() only supports positional argument, to stay compatible with the "
                "Socket.IO protocol. You can however pass in a dictionary as the first argument"
            )
        pkt: dict[str, Any] = {"type": "event", "name": event, "args": args}
        pkt["endpoint"] = self.ns_name
        if callback:
            pkt["ack"] = "data"
            pkt["id"] = msgid = self.socket._get_next_msgid()
            self.socket._save_ack_callback(msgid, callback)
        self.socket.send_packet(pkt)

    # --- greenlets ---------------------------------------------------------------------------

    def spawn(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> gevent.Greenlet[..., Any]:
        """Run ``fn`` in a greenlet killed when this namespace disconnects."""
        decorate = getattr(self, "exception_handler_decorator", None)
        if decorate is not None:
            fn = decorate(fn)
        new = gevent.spawn(fn, *args, **kwargs)
        if len(self.jobs) >= _MAX_DEAD_JOBS:
            self.jobs = [job for job in self.jobs if not job.dead]
        self.jobs.append(new)
        return new

    def disconnect(self, silent: bool = False) -> None:
        """Leave this namespace: tell the client (unless ``silent``), forget the namespace and
        kill its jobs. The connection closes with its last namespace."""
        if not silent:
            self.socket.send_packet({"type": "disconnect", "endpoint": self.ns_name})
        try:
            self.socket.remove_namespace(self.ns_name)
        finally:
            self.kill_local_jobs()

    def kill_local_jobs(self) -> None:
        """Kill the greenlets started with :meth:`spawn` (except the calling one)."""
        current = gevent.getcurrent()
        jobs, self.jobs = self.jobs, []
        gevent.killall([job for job in jobs if job is not current], block=False)


def _positional_names(method: Callable[..., Any]) -> list[str]:
    """The positional parameter names of the function behind ``method``, ``self`` included."""
    func = getattr(method, "__func__", method)
    func = inspect.unwrap(func)
    try:
        spec = inspect.getfullargspec(func)
    except TypeError:
        return []
    return list(spec.args)


class Namespace:
    """Base class of class-based namespace handlers."""

    def __init__(self, namespace: str | None = None) -> None:
        self.namespace = namespace or "/"
        self._server: Server | None = None
        self._methods: dict[str, Callable[..., Any]] | None = None

    # --- wiring ------------------------------------------------------------------------------

    @property
    def server(self) -> Server:
        if self._server is None:
            raise RuntimeError(f"namespace {self.namespace!r} is not registered with a server")
        return self._server

    def _set_server(self, server: Server) -> None:
        self._server = server

    def overrides_trigger_event(self) -> bool:
        """True when a subclass replaced :meth:`trigger_event` (then every event goes there)."""
        return type(self).trigger_event is not Namespace.trigger_event

    def trigger_event(self, event: str, *args: Any) -> Any:
        """Call ``on_<event>(*args)``; None if there is no such method.

        ``connect`` gets ``(sid, environ, auth)`` and ``disconnect`` ``(sid, reason)``, trimmed
        to what the method declares.
        """
        methods = self._methods
        if methods is None:
            methods = namespace_methods(self)
            if "connect" in methods:
                methods["connect"] = fit(methods["connect"], 3)
            if "disconnect" in methods:
                methods["disconnect"] = fit(methods["disconnect"], 2)
            self._methods = methods
        handler = methods.get(event)
        return handler(*args) if handler is not None else None

    # --- server helpers with this namespace as default ---------------------------------------

    def emit(
        self,
        event: str,
        *args: Any,
        to: Rooms | None = None,
        room: Rooms | None = None,
        skip_sid: Rooms | None = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
    ) -> None:
        self.server.emit(
            event,
            *args,
            to=to,
            room=room,
            skip_sid=skip_sid,
            namespace=namespace or self.namespace,
            callback=callback,
        )

    def send(
        self,
        data: Any,
        to: Rooms | None = None,
        room: Rooms | None = None,
        skip_sid: Rooms | None = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
    ) -> None:
        self.server.send(
            data,
            to=to,
            room=room,
            skip_sid=skip_sid,
            namespace=namespace or self.namespace,
            callback=callback,
        )

    def call(
        self, event: str, *args: Any, to: str, namespace: str | None = None, timeout: float = 60
    ) -> Any:
        return self.server.call(
            event, *args, to=to, namespace=namespace or self.namespace, timeout=timeout
        )

    def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        self.server.enter_room(sid, room, namespace=namespace or self.namespace)

    def leave_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        self.server.leave_room(sid, room, namespace=namespace or self.namespace)

    def close_room(self, room: str, namespace: str | None = None) -> None:
        self.server.close_room(room, namespace=namespace or self.namespace)

    def rooms(self, sid: str, namespace: str | None = None) -> list[str]:
        return self.server.rooms(sid, namespace=namespace or self.namespace)

    def get_session(self, sid: str, namespace: str | None = None) -> dict[str, Any]:
        return self.server.get_session(sid, namespace=namespace or self.namespace)

    def save_session(self, sid: str, session: dict[str, Any], namespace: str | None = None) -> None:
        self.server.save_session(sid, session, namespace=namespace or self.namespace)

    def session(
        self, sid: str, namespace: str | None = None
    ) -> AbstractContextManager[dict[str, Any]]:
        return self.server.session(sid, namespace=namespace or self.namespace)

    def disconnect(self, sid: str, namespace: str | None = None) -> None:
        self.server.disconnect(sid, namespace=namespace or self.namespace)
