"""A gevent-socketio 0.3.x app ports by renaming `socketio` to `gsocketio`: every import it made works."""

from __future__ import annotations

import importlib

import pytest

SEED_IMPORTS = [
    ("gsocketio", "socketio_manage"),
    ("gsocketio.namespace", "BaseNamespace"),
    ("gsocketio.mixins", "RoomsMixin"),
    ("gsocketio.mixins", "BroadcastMixin"),
    ("gsocketio.server", "SocketIOServer"),
    ("gsocketio.sgunicorn", "GeventSocketIOWorker"),
    ("gsocketio.sgunicorn", "NginxGeventSocketIOWorker"),
    ("gsocketio.sdjango", "namespace"),
    ("gsocketio.sdjango", "autodiscover"),
]


@pytest.mark.parametrize(("module", "name"), SEED_IMPORTS)
def test_seed_import_path(module: str, name: str) -> None:
    assert getattr(importlib.import_module(module), name) is not None


def test_server_module_serves_both_apis() -> None:
    from gsocketio.serve import SocketIOServer
    from gsocketio.server import Server
    from gsocketio.server import SocketIOServer as seed_name

    assert seed_name is SocketIOServer and Server is not None
    with pytest.raises(AttributeError):
        importlib.import_module("gsocketio.server").NoSuchThing  # noqa: B018


def test_seed_runner_entry_points_are_importable_where_the_seed_had_them() -> None:
    from gsocketio import serve as serve_module
    from gsocketio.server import serve, serve_paste

    assert serve is serve_module.serve and serve_paste is serve_module.serve_paste


def test_paste_server_runner_entry_point() -> None:
    from importlib.metadata import entry_points

    from gsocketio.serve import serve_paste

    (entry,) = [ep for ep in entry_points(group="paste.server_runner") if ep.name == "paster"]
    assert entry.load() is serve_paste
