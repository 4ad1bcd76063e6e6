"""The seed's Flask chat (examples/flask_chat), ported.

The namespace and the Socket.IO view are the seed's with only the imports changed; the models
are plain in-memory objects instead of Flask-SQLAlchemy's (not a Socket.IO matter).
Run it: ``python examples/flask_chat/run.py`` and open http://127.0.0.1:5000/.
"""

import re
import unicodedata

from flask import Flask, Response, redirect, render_template, request, url_for
from werkzeug.exceptions import NotFound

from gsocketio import socketio_manage
from gsocketio.mixins import BroadcastMixin, RoomsMixin
from gsocketio.namespace import BaseNamespace

app = Flask(__name__)
app.debug = True


# models
class ChatRoom:
    rooms = []

    def __init__(self, name):
        self.name = name
        self.slug = slugify(name)

    def get_absolute_url(self):
        return url_for("room", slug=self.slug)

    def save(self):
        self.rooms.append(self)


# utils
def slugify(value):
    value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    value = re.sub(r"[^\w\s-]", "", value).strip().lower()
    return re.sub(r"[-\s]+", "-", value)


def get_object_or_404(slug):
    for room in ChatRoom.rooms:
        if room.slug == slug:
            return room
    raise NotFound()


def get_or_create(name):
    try:
        return get_object_or_404(slugify(name)), False
    except NotFound:
        room = ChatRoom(name)
        room.save()
        return room, True


# views
@app.route("/")
def rooms():
    """Homepage - lists all rooms."""
    return render_template("rooms.html", rooms=ChatRoom.rooms)


@app.route("/<path:slug>")
def room(slug):
    """Show a room."""
    return render_template("room.html", room=get_object_or_404(slug))


@app.route("/create", methods=["POST"])
def create():
    """Handles post from the "Add room" form on the homepage, and redirects to the new room."""
    name = request.form.get("name")
    if name:
        room, _created = get_or_create(name)
        return redirect(url_for("room", slug=room.slug))
    return redirect(url_for("rooms"))


class ChatNamespace(BaseNamespace, RoomsMixin, BroadcastMixin):
    nicknames = []

    def initialize(self):
        self.logger = app.logger
        self.log("Socketio session started")

    def log(self, message):
        self.logger.info(f"[{self.socket.sessid}] {message}")

    def on_join(self, room):
        self.room = room
        self.join(room)
        return True

    def on_nickname(self, nickname):
        self.log(f"Nickname: {nickname}")
        self.nicknames.append(nickname)
        self.session["nickname"] = nickname
        self.broadcast_event("announcement", f"{nickname} has connected")
        self.broadcast_event("nicknames", self.nicknames)
        return True, nickname

    def recv_disconnect(self):
        # Remove nickname from the list.
        self.log("Disconnected")
        nickname = self.session["nickname"]
        self.nicknames.remove(nickname)
        self.broadcast_event("announcement", f"{nickname} has disconnected")
        self.broadcast_event("nicknames", self.nicknames)
        self.disconnect(silent=True)
        return True

    def on_user_message(self, msg):
        self.log(f"User message: {msg}")
        self.emit_to_room(self.room, "msg_to_room", self.session["nickname"], msg)
        return True


@app.route("/socket.io/<path:remaining>")
def socketio(remaining):
    try:
        socketio_manage(request.environ, {"/chat": ChatNamespace}, request)
    except Exception:
        app.logger.error("Exception while handling socketio connection", exc_info=True)
    return Response()
