from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.chat_app import Recorder, build


@pytest.fixture
def app(serve: Callable[..., str]) -> Callable[..., tuple[str, Any, Recorder]]:
    """Start the integration app; returns (url, sio, recorder)."""

    def _app(**options: Any) -> tuple[str, Any, Recorder]:
        options.setdefault("cors_allowed_origins", "*")
        sio, rec = build(**options)
        return serve(sio.wsgi_app()), sio, rec

    return _app
