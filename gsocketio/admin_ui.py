"""The opt-in route serving the Admin UI's static files: ``sio.wsgi_app(app, admin_ui_path=...)``.

The UI is the ``ui/dist`` folder of the npm package ``@socket.io/admin-ui``, found in
``GSOCKETIO_ADMIN_UI_DIST`` or a ``node_modules`` above the working directory or this package;
it is never bundled nor committed. Served from the same origin as the server, the UI needs no
CORS setup and no outside site. Without the files the route answers 404 saying how to get
them, and logs that once.
"""

from __future__ import annotations

import mimetypes
import os
import posixpath
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final

from gsocketio._logging import get_logger

__all__ = ["AdminUIApp", "find_admin_ui"]

log = get_logger("gsocketio.admin")

StartResponse = Callable[..., Any]
WSGIApplication = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_PACKAGE_DIST: Final = Path("node_modules") / "@socket.io" / "admin-ui" / "ui" / "dist"

NOT_INSTALLED: Final = (
    b"The Socket.IO Admin UI is not installed: run `npm install @socket.io/admin-ui@0.5` in "
    b"the project directory, or set GSOCKETIO_ADMIN_UI_DIST to its ui/dist folder.\n"
)


def find_admin_ui() -> Path | None:
    """The UI's ``ui/dist`` folder: ``GSOCKETIO_ADMIN_UI_DIST``, else the nearest npm copy."""
    explicit = os.environ.get("GSOCKETIO_ADMIN_UI_DIST")
    if explicit:
        path = Path(explicit)
        return path if (path / "index.html").is_file() else None
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for directory in (start, *start.parents):
            candidate = directory / _PACKAGE_DIST
            if (candidate / "index.html").is_file():
                return candidate
    return None


def _answer(start_response: StartResponse, status: str, body: bytes, kind: str) -> list[bytes]:
    start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body)))])
    return [body]


class AdminUIApp:
    """WSGI: the UI under ``path`` (``/admin-ui`` redirects to ``/admin-ui/``), everything else
    to ``app``. Other attributes are the wrapped app's, so servers treat it as that app."""

    gsocketio_app = True  # routes Socket.IO itself (through the wrapped WSGIApp)

    def __init__(self, app: WSGIApplication, path: str, directory: Path | None = None) -> None:
        self.app = app
        self.path = "/" + path.strip("/")
        self.directory = directory if directory is not None else find_admin_ui()
        if self.directory is None:
            log.warning(
                "admin UI: %s/ answers 404: no @socket.io/admin-ui ui/dist folder "
                "(GSOCKETIO_ADMIN_UI_DIST nor node_modules); see docs/operations.md",
                self.path,
            )
        else:
            log.info("admin UI: serving %s on %s/", self.directory, self.path)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path == self.path:  # the page's relative URLs need the trailing slash
            start_response("301 Moved Permanently", [("Location", self.path + "/")])
            return [b""]
        if not path.startswith(self.path + "/"):
            return self.app(environ, start_response)
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return _answer(start_response, "405 Method Not Allowed", b"", "text/plain")
        if self.directory is None:
            return _answer(start_response, "404 Not Found", NOT_INSTALLED, "text/plain")
        rest = path[len(self.path) + 1 :]
        if "\x00" in rest:
            return _answer(start_response, "404 Not Found", b"Not Found\n", "text/plain")
        rest = posixpath.normpath("/" + rest).lstrip("/")  # "/.." normalises to "/"
        target = self.directory / rest if rest else self.directory / "index.html"
        if target.is_dir():
            target = target / "index.html"
        try:
            body = target.read_bytes()
        except OSError:
            return _answer(start_response, "404 Not Found", b"Not Found\n", "text/plain")
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind.endswith("javascript"):
            kind += "; charset=utf-8"
        answer = _answer(start_response, "200 OK", body, kind)
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else answer
