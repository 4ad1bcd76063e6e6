"""The demo's non-Socket.IO routes: both pages and their one shared stylesheet."""

from __future__ import annotations

from typing import Any

import pytest

from gsocketio.demo import page_app


def get(path: str) -> tuple[str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(page_app({"PATH_INFO": path}, start_response))
    return seen["status"], seen["headers"], body


@pytest.mark.parametrize("path", ["/", "/legacy"])
def test_pages_link_the_shared_stylesheet(path: str) -> None:
    status, headers, body = get(path)
    assert status == "200 OK" and headers["Content-Type"].startswith("text/html")
    assert b'<link rel="stylesheet" href="/chat.css">' in body
    assert b"<style>" not in body


def test_stylesheet_and_unknown_paths() -> None:
    status, headers, body = get("/chat.css")
    assert (status, headers["Content-Type"]) == ("200 OK", "text/css; charset=utf-8")
    assert b"#messages" in body
    assert get("/nope")[0] == "404 Not Found"
