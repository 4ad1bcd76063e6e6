"""Dynamic namespaces: ``sio.of(re.compile(r"^/dyn-\\d+$"))``, Node's parent namespaces.

A :class:`ParentNamespace` matches namespace names (a compiled regular expression, or a
function ``(name, environ) -> bool``) that have no handlers of their own. The first client
asking for a matching name creates the child: it shares the parent's handlers (the child's
dispatch table *is* the parent's, so its events cost one dict lookup as any namespace's),
the parent's connect and packet middlewares, and the parent can emit to every child. With the
server's ``cleanup_empty_child_namespaces`` a child is forgotten when its last socket leaves.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from gsocketio.registry import HandlerRegistry
    from gsocketio.socketio_server import Server

__all__ = ["Matcher", "ParentNamespace", "adopt", "forget_child"]

F = TypeVar("F", bound=Callable[..., Any])
Matcher = re.Pattern[str] | Callable[[str, dict[str, Any]], bool]


class ParentNamespace:
    """Handlers, middlewares and emits for every namespace ``matcher`` accepts."""

    def __init__(self, server: Server, matcher: Matcher, key: str) -> None:
        self._server = server
        self.matcher = matcher
        self.key = key  # the registry's name for the parent's handlers (never a namespace)
        self.children: set[str] = set()

    def __repr__(self) -> str:
        return f"<ParentNamespace {self.matcher!r} children={sorted(self.children)}>"

    def matches(self, name: str, environ: dict[str, Any]) -> bool:
        matcher = self.matcher
        if isinstance(matcher, re.Pattern):
            return matcher.search(name) is not None
        return bool(matcher(name, environ))

    # --- registration (as on the server, for every child) ------------------------------------

    @overload
    def on(self, event: str, handler: None = None) -> Callable[[F], F]: ...

    @overload
    def on(self, event: str, handler: F) -> F: ...

    def on(self, event: str, handler: Callable[..., Any] | None = None) -> Any:
        """As :meth:`gsocketio.Server.on`, for every child namespace."""
        return self._server.on(event, handler, namespace=self.key)

    def event(self, handler: F) -> F:
        self._server.on(handler.__name__, handler, namespace=self.key)
        return handler

    def use(self, middleware: F) -> F:
        """A connect middleware ``fn(sid, environ, auth, namespace)`` for the children only."""
        children = self.children

        def scoped(sid: str, environ: dict[str, Any], auth: Any, namespace: str) -> Any:
            return middleware(sid, environ, auth, namespace) if namespace in children else None

        self._server.use(scoped)
        return middleware

    def use_packet(self, middleware: F) -> F:
        """A packet middleware (:meth:`gsocketio.Server.use_packet`) for the children only."""
        children = self.children

        def scoped(sid: str, packet: list[Any], namespace: str) -> Any:
            return middleware(sid, packet, namespace) if namespace in children else None

        self._server.use_packet(scoped)
        return middleware

    # --- emitting ---------------------------------------------------------------------------

    def emit(self, event: str, *args: Any) -> None:
        """Emit to everyone in every child namespace this server knows (Node's parent emit;
        each child's emit reaches that namespace across the cluster)."""
        for child in sorted(self.children):
            self._server.emit(event, *args, namespace=child)


def adopt(
    parents: list[ParentNamespace],
    registry: HandlerRegistry,
    namespace: str,
    environ: dict[str, Any],
) -> bool:
    """Make ``namespace`` the child of the first parent matching it (False: none does)."""
    for parent in parents:
        if namespace in parent.children:
            return True
        if parent.matches(namespace, environ):
            parent.children.add(namespace)
            registry.alias(namespace, parent.key)
            return True
    return False


def forget_child(parents: list[ParentNamespace], registry: HandlerRegistry, namespace: str) -> None:
    """``cleanup_empty_child_namespaces``: the child's last socket left."""
    for parent in parents:
        if namespace in parent.children:
            parent.children.discard(namespace)
            registry.unalias(namespace)
