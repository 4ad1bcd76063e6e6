"""Fixtures of the engine tests: a real EngineServer with an echo handler on an ephemeral port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gsocketio.engine import EngineServer
from gsocketio.wsgi import WSGIApp
from tests.helpers.engine import Engine
from tests.helpers.fakes import EchoHandler


@pytest.fixture
def start(serve: Callable[..., str]) -> Iterator[Callable[..., Engine]]:
    engines: list[EngineServer] = []

    def _start(**options: Any) -> Engine:
        options.setdefault("ping_interval", 10)
        options.setdefault("ping_timeout", 10)
        handler = EchoHandler()
        engine = EngineServer(handler, **options)
        engines.append(engine)
        return Engine(serve(WSGIApp(engine)), engine, handler)

    yield _start
    for engine in engines:
        engine.close()


@pytest.fixture
def eng(start: Callable[..., Engine]) -> Engine:
    return start()
