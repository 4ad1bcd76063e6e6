"""Views and the namespace: the seed's chatter2 code with only the imports changed."""

import os

from pyramid.response import Response

from gsocketio import socketio_manage
from gsocketio.mixins import BroadcastMixin
from gsocketio.namespace import BaseNamespace

HERE = os.path.dirname(os.path.abspath(__file__))


def index(request):
    """Base view to load our page."""
    with open(os.path.join(HERE, "index.html"), "rb") as f:
        return Response(f.read(), content_type="text/html")


class ChatNamespace(BaseNamespace, BroadcastMixin):
    def on_chat(self, msg):
        self.broadcast_event("chat", msg)


def socketio_service(request):
    socketio_manage(
        request.environ,
        {
            "": ChatNamespace,
        },
        request=request,
    )
    return Response("")
