"""The seed's django_chat sockets.py, with only the imports changed."""

import logging

from gsocketio.mixins import BroadcastMixin, RoomsMixin
from gsocketio.namespace import BaseNamespace
from gsocketio.sdjango import namespace


@namespace("/chat")
class ChatNamespace(BaseNamespace, RoomsMixin, BroadcastMixin):
    nicknames = []

    def initialize(self):
        self.logger = logging.getLogger("socketio.chat")
        self.log("Socketio session started")

    def log(self, message):
        self.logger.info(f"[{self.socket.sessid}] {message}")

    def on_join(self, room):
        self.join(room)
        return True

    def on_nickname(self, nickname):
        self.log(f"Nickname: {nickname}")
        self.session["nickname"] = nickname
        nicknames = self.session.get("nicknames", None)
        if nicknames is None:
            nicknames = set()
        nicknames.add(nickname)
        self.session["nicknames"] = nicknames

        self.broadcast_event("announcement", f"{nickname} has connected")
        self.broadcast_event("nicknames", list(nicknames))
        return True, nickname

    def recv_disconnect(self):
        # Remove nickname from the list.
        self.log("Disconnected")
        nickname = self.session.get("nickname")
        if nickname:
            nicknames = self.session.get("nicknames", None)
            if nicknames:
                nicknames.remove(nickname)
            self.session["nicknames"] = nicknames
        self.broadcast_event("announcement", f"{nickname} has disconnected")
        self.broadcast_event("nicknames", list(self.nicknames))
        self.disconnect(silent=True)
        return True

    def on_user_message(self, room, msg):
        self.log(f"User message: {msg}")
        self.emit_to_room(room, "msg_to_room", self.session["nickname"], msg)
        return True
