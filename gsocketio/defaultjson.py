"""gevent-socketio's ``socketio.defaultjson`` path: ``default_json_dumps``/``default_json_loads``.

The seed's virtual socket's default JSON codec (what ``socketio_manage(json_dumps=,
json_loads=)`` replaces); the functions are :mod:`gsocketio.compat.virtsocket`'s.
"""

from gsocketio.compat.virtsocket import default_json_dumps, default_json_loads

__all__ = ["default_json_dumps", "default_json_loads"]
