"""Django glue, as gevent-socketio's ``socketio.sdjango``: register namespaces with
``@namespace('/chat')`` in each app's ``sockets.py``, call :func:`autodiscover`, and route
Socket.IO to :data:`urls`::

    # urls.py
    from django.urls import include, re_path
    from gsocketio import sdjango

    sdjango.autodiscover()
    urlpatterns = [re_path(r"^socket\\.io", include(sdjango.urls)), ...]

Serve the project's WSGI application with :class:`gsocketio.serve.SocketIOServer` or the
gunicorn worker (:mod:`gsocketio.sgunicorn`): each Socket.IO connection then runs the view
below once, which serves it with the registered namespaces until it closes.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from typing import Any, TypeVar

from django.apps import apps
from django.http import HttpRequest, HttpResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt

from gsocketio._logging import get_logger
from gsocketio.compat.virtsocket import socketio_manage

__all__ = ["LOADING_SOCKETIO", "SOCKETIO_NS", "autodiscover", "namespace", "socketio", "urls"]

log = get_logger("gsocketio.sdjango")

T = TypeVar("T", bound=type)

SOCKETIO_NS: dict[str, type] = {}
"""The registered namespace classes by endpoint (``''`` is the global namespace)."""

LOADING_SOCKETIO = False
"""True while :func:`autodiscover` runs (the seed's re-entrancy guard)."""


def autodiscover() -> None:
    """Import the ``sockets`` module of every installed app that has one (so its
    ``@namespace`` classes register); apps without one are skipped."""
    global LOADING_SOCKETIO
    if LOADING_SOCKETIO:
        return
    LOADING_SOCKETIO = True
    try:
        for app_config in apps.get_app_configs():
            name = f"{app_config.name}.sockets"
            if importlib.util.find_spec(name) is not None:
                importlib.import_module(name)
    finally:
        LOADING_SOCKETIO = False


class namespace:  # the seed's (lower-case) name
    """Class decorator registering a namespace: ``@namespace('/chat')``."""

    def __init__(self, name: str = "") -> None:
        self.name = name

    def __call__(self, handler: T) -> T:
        SOCKETIO_NS[self.name] = handler
        return handler


def _serve(request: HttpRequest) -> HttpResponse:
    try:
        socketio_manage(request.environ, SOCKETIO_NS, request)
    except Exception:
        log.exception("Exception while handling socketio connection")
    return HttpResponse("")


socketio: Callable[[HttpRequest], HttpResponse] = csrf_exempt(_serve)
"""The view: serves one Socket.IO connection with :data:`SOCKETIO_NS` (CSRF-exempt)."""


urls: list[Any] = [re_path(r"", socketio)]
"""Include it under the Socket.IO resource: ``re_path(r"^socket\\.io", include(sdjango.urls))``."""
