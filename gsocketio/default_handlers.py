"""RegistryHandlers: the default handler layer, running a :class:`HandlerRegistry`'s handlers.

Middlewares, the connect policy and each event in a greenlet of the client's bounded set; the
optional hooks of :mod:`gsocketio.hooks` (packet middlewares, catch-all listeners, manual
acks, ``disconnecting``) switch on only when registered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gevent

from gsocketio._logging import get_logger
from gsocketio.acks import CallWaiter
from gsocketio.dynamic import adopt
from gsocketio.exceptions import ConnectionRefusedError
from gsocketio.hooks import AckResponder, Hooks
from gsocketio.listeners import filter_packet, notify_own, run_lifecycle, run_listeners
from gsocketio.protocol._mypyc import mypyc_attr
from gsocketio.protocol.reasons import DisconnectReason
from gsocketio.protocol.socketio import Packet, PacketType
from gsocketio.protocol.socketio_session import DEFAULT_REFUSAL
from gsocketio.registry import (
    ARGS,
    EVENT_ARGS,
    EVENT_NSP_ARGS,
    MANUAL_ACK,
    NSP_ARGS,
    Dispatch,
    Entry,
    HandlerRegistry,
    Middleware,
    call_prefix,
)
from gsocketio.socket import CLOSED, CONNECTED

if TYPE_CHECKING:
    import logging

    from gsocketio.client import Client
    from gsocketio.socket import Socket
    from gsocketio.socketio_server import Server

__all__ = ["RegistryHandlers"]


# not a native class: on_event switches by instance attribute (see refresh), which needs
# an instance __dict__ once compiled
@mypyc_attr(native_class=False)
class RegistryHandlers:
    """The default handler layer: middlewares, connect policy and the handlers of a
    :class:`HandlerRegistry`, each event in a greenlet of the client's bounded set.

    Connect flow: the socket is registered (so the connect handler can already join rooms and
    emit: what it emits is buffered), the middlewares and connect handler run in a greenlet;
    then the socket is accepted or refused. A socket closed while its handler ran is never
    opened; if the handler had accepted, the disconnect handler still runs, so every accepted
    ``connect`` is paired with one ``disconnect``.
    """

    def __init__(
        self, registry: HandlerRegistry, middlewares: list[Middleware], hooks: Hooks | None = None
    ) -> None:
        self.registry = registry
        self.middlewares = middlewares
        self.hooks = hooks if hooks is not None else Hooks()
        self.logger: logging.Logger = get_logger("gsocketio.server")
        self._server: Server | None = None

    @property
    def server(self) -> Server:
        if self._server is None:
            raise RuntimeError("RegistryHandlers used before Server.__init__ bound it")
        return self._server

    def bind(self, server: Server) -> None:
        self._server = server
        self.logger = server.logger

    def on_client(self, client: Client) -> None:
        timeout = self.server.connect_timeout
        if client.eio != 3 and timeout:  # v4 clients are in "/" at once
            client.arm_timer(timeout, self._timeout_fired)

    def _timeout_fired(self, client: Client) -> None:
        client.cancel_timer()  # runs in the hub: only schedule work, never block here
        if client.closed or any(s.state == CONNECTED for s in client.sockets.values()):
            return
        self.logger.info("closing %s: no namespace joined in time", client.conn.sid)
        gevent.spawn(self.server.close_client, client, DisconnectReason.FORCED_SERVER_CLOSE)

    def allows(self, client: Client, namespace: str) -> bool:
        if self.registry.known(namespace):
            return True
        parents = self.server.dynamic_parents
        if parents and adopt(parents, self.registry, namespace, client.conn.environ):
            return True
        policy = self.server.namespaces
        if policy is None:
            return namespace == "/"
        if policy == "*":
            return True
        if callable(policy):
            try:
                return bool(policy(namespace, client.conn.environ))
            except Exception:
                self.logger.exception("namespaces callable failed for %r", namespace)
                return False
        return namespace in policy

    def on_connect(self, sock: Socket, query: str | None) -> None:
        if self.server.always_connect:
            sock.accept()
        sock.client.spawn(self._run_connect, sock)

    def _run_connect(self, sock: Socket) -> None:
        refusal: Any = None
        accepted = False
        environ = sock.environ
        try:
            recovery = self.server.recovery
            skip = sock.recovered and recovery is not None and recovery.skip_middlewares
            for middleware in () if skip else self.middlewares:
                if middleware(sock.sid, environ, sock.auth, sock.namespace) is False:
                    refusal = DEFAULT_REFUSAL
                    break
            if refusal is None:
                handler = self.registry.get(sock.namespace).connect
                if (
                    handler is not None
                    and handler(sock.namespace, sock.sid, environ, sock.auth) is False
                ):
                    refusal = DEFAULT_REFUSAL
                accepted = refusal is None
        except ConnectionRefusedError as exc:
            refusal = exc.error_args
        except Exception:
            self.logger.exception(
                "error in connect handler (sid %s, namespace %s)", sock.sid, sock.namespace
            )
            refusal = DEFAULT_REFUSAL

        always_connect = self.server.always_connect
        if sock.state == CLOSED:  # closed while the handler ran
            reason = sock.close_reason or DisconnectReason.TRANSPORT_CLOSE
            if reason == DisconnectReason.SERVER_DISCONNECT and not always_connect:
                # sio.disconnect() during connect: the client still waits for an answer
                client = sock.client
                client.refuse(client.session.refuse(sock.namespace, refusal or DEFAULT_REFUSAL))
            if accepted and not always_connect:
                self._run_disconnect(sock, reason)
            return
        if refusal is not None:
            sock.refuse(refusal)
        else:
            sock.accept()

    def on_event(self, sock: Socket, data: list[Any], ack_id: int | None) -> None:
        table = self.registry.get(sock.namespace)
        entry = table.events.get(data[0]) or table.fallback
        if entry is not None:
            sock.client.spawn(self._run_event, sock, entry, data, ack_id)
        elif ack_id is not None:
            self.logger.debug("no handler for %r (ack %s unanswered)", data[0], ack_id)

    def refresh(self) -> None:
        """Pick the event path once, when hooks change: the hooked one only if any is set."""
        if self.hooks.inbound:
            self.on_event = self._on_event_hooked  # type: ignore[method-assign]
        else:
            self.__dict__.pop("on_event", None)

    def _on_event_hooked(self, sock: Socket, data: list[Any], ack_id: int | None) -> None:
        if sock.listeners is None and not self.hooks.shared_inbound:
            RegistryHandlers.on_event(self, sock, data, ack_id)  # only other sockets have hooks
            return
        sock.client.spawn(self._run_hooked, sock, data, ack_id)

    def _run_hooked(self, sock: Socket, data: list[Any], ack_id: int | None) -> None:
        """Node's order: catch-all listeners (every event, handled or not), then the packet
        middlewares, then the handler; the server-wide ones, then the socket's own
        (:mod:`gsocketio.listeners`). A refused packet goes to the ``error`` handlers."""
        hooks = self.hooks
        own = sock.listeners
        if hooks.incoming:
            hooks.notify(hooks.incoming, sock.sid, sock.namespace, data)
        if own is not None and own.incoming:
            notify_own(own.incoming, sock, data)
        table = self.registry.get(sock.namespace)
        if hooks.middlewares or (own is not None and own.middlewares):
            try:
                data = hooks.filter(sock.sid, sock.namespace, data)
                if own is not None:
                    data = filter_packet(own.middlewares, sock, data)
            except Exception as exc:  # noqa: BLE001  # any error refuses (Node: next(err))
                self._refused(sock, table, exc)
                return
        mine = own.events.get(data[0]) if own is not None else None
        if mine:  # the socket's listeners, after the namespace's handler (not its catch-all)
            run_listeners(sock, table.events.get(data[0]), mine, data, ack_id)
            return
        entry = table.events.get(data[0]) or table.fallback
        if entry is not None:
            self._run_event(sock, entry, data, ack_id)

    def _refused(self, sock: Socket, table: Dispatch, exc: Exception) -> None:
        """Node's ``error`` event: the namespace's handler, then the socket's own listeners."""
        handlers = [entry[0] for entry in (table.events.get("error"),) if entry is not None]
        if sock.listeners is not None:
            handlers += [fn for fn, _ in sock.listeners.events.get("error", ())]
        if not handlers:
            self.logger.info(
                "event refused (sid %s, namespace %s): %s", sock.sid, sock.namespace, exc
            )
        for fn in handlers:
            try:
                fn(sock.sid, exc)
            except Exception:
                self.logger.exception(
                    "error in error handler (sid %s, namespace %s)", sock.sid, sock.namespace
                )

    def _run_event(self, sock: Socket, entry: Entry, data: list[Any], ack_id: int | None) -> None:
        fn, convention = entry
        event = data[0]
        responder: AckResponder | None = None
        try:
            if convention == ARGS:
                result = fn(sock.sid, *data[1:])
            elif convention == EVENT_ARGS:
                result = fn(event, sock.sid, *data[1:])
            elif convention == NSP_ARGS:
                result = fn(sock.namespace, sock.sid, *data[1:])
            elif convention == EVENT_NSP_ARGS:
                result = fn(event, sock.namespace, sock.sid, *data[1:])
            else:  # the handler answers (or not) through ``ack``; a returned value still acks
                responder = AckResponder(sock, ack_id)
                prefix = call_prefix(convention - MANUAL_ACK, event, sock.sid, sock.namespace)
                result = fn(*prefix, *data[1:], ack=responder)
                if result is None or not responder.pending:
                    return
                responder.pending = False
        except Exception:
            self.logger.exception(
                "error in handler for event %r (sid %s, namespace %s)",
                event,
                sock.sid,
                sock.namespace,
            )
            return
        if ack_id is not None and sock.state == CONNECTED:
            if result is None:
                args: list[Any] = []
            elif isinstance(result, tuple):
                args = list(result)
            else:
                args = [result]
            try:
                sock.send_packet(Packet(PacketType.ACK, sock.namespace, args, ack_id))
            except (TypeError, ValueError) as exc:  # never drop an ack silently
                self.logger.error(
                    "ack of event %r not sent (sid %s, namespace %s): the reply cannot be "
                    "encoded: %s",
                    event,
                    sock.sid,
                    sock.namespace,
                    exc,
                )

    def on_ack(self, sock: Socket, callback: Callable[..., object], args: list[Any]) -> None:
        if isinstance(callback, CallWaiter):
            callback(*args)
        else:
            sock.client.spawn(self._run_callback, sock, callback, args)

    def _run_callback(self, sock: Socket, callback: Callable[..., object], args: list[Any]) -> None:
        try:
            callback(*args)
        except Exception:
            self.logger.exception(
                "error in ack callback (sid %s, namespace %s)", sock.sid, sock.namespace
            )

    def on_disconnect(self, sock: Socket, reason: str, *, accepted: bool, inline: bool) -> None:
        if not accepted:
            return
        table = self.registry.get(sock.namespace)  # now: a dynamic child may be cleaned up next
        if inline:
            self._run_disconnect(sock, reason, table)
        else:
            # Not counted against the client's handler bound: the reader must never wait here.
            gevent.spawn(self._run_disconnect, sock, reason, table)

    def keeps_rooms(self, sock: Socket) -> bool:
        """Whether ``sock`` stays in its rooms until its ``disconnecting`` handlers ran."""
        own = sock.listeners
        return self.registry.get(sock.namespace).disconnecting is not None or (
            own is not None and "disconnecting" in own.events
        )

    def _run_disconnect(self, sock: Socket, reason: str, table: Dispatch | None = None) -> None:
        if table is None:
            table = self.registry.get(sock.namespace)
        own = sock.listeners
        if table.disconnecting is not None or (own is not None and "disconnecting" in own.events):
            if table.disconnecting is not None:
                try:  # Node's order: still in its rooms here, then it leaves them, then disconnect
                    table.disconnecting(sock.namespace, sock.sid, reason)
                except Exception:
                    self.logger.exception(
                        "error in disconnecting handler (sid %s, namespace %s)",
                        sock.sid,
                        sock.namespace,
                    )
            run_lifecycle(sock, "disconnecting", reason)
            self.server.adapter.remove_socket(sock.namespace, sock.sid)
        handler = table.disconnect
        if handler is not None:
            try:
                handler(sock.namespace, sock.sid, reason)
            except Exception:
                self.logger.exception(
                    "error in disconnect handler (sid %s, namespace %s)", sock.sid, sock.namespace
                )
        if own is not None:
            run_lifecycle(sock, "disconnect", reason)

    def on_client_closed(self, client: Client, reason: str) -> None:
        client.cancel_timer()

    def save_session(self, sock: Socket, session: dict[str, Any]) -> None:
        sock.session = session
