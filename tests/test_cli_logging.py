"""``python -m gsocketio --log-level/--log-format``: run as a subprocess, every line parsed."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest
import requests

from gsocketio.logformat import JsonFormatter, configure_logging

ROOT = Path(__file__).resolve().parents[1]
NASTY = 'quote " backslash \\ newline \n tab \t nul \x00 esc \x1b lone \udc80 emoji \U0001f600'

APP = textwrap.dedent(
    """
    import logging

    log = logging.getLogger("tests.cli_app")
    NASTY = {nasty!r}

    def app(environ, start_response):
        log.info("request for %s", environ.get("PATH_INFO"))
        log.debug("debug detail %r", NASTY)
        log.info(NASTY)
        log.warning("bad args %s %s", "only one")
        try:
            raise ValueError("boom " + NASTY)
        except ValueError:
            log.exception("handler failed")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    """
)


class CLI:
    """``python -m gsocketio`` in a child process, its stderr read line by line (bounded)."""

    def __init__(self, cwd: Path, *args: str, port: int = 0) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(cwd), str(ROOT)]))
        self.port = port
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gsocketio", *args, "--port", str(port)],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.lines: list[bytes] = []

    def wait_for(self, text: bytes, timeout: float = 20) -> bytes:
        assert self.proc.stderr is not None
        with gevent.Timeout(timeout, AssertionError(f"no {text!r} line in {self.lines}")):
            for _ in range(10_000):
                line = self.proc.stderr.readline()
                if not line:
                    raise AssertionError(f"CLI exited ({self.proc.wait()}): {self.lines}")
                self.lines.append(line)
                if text in line:
                    return line
        raise AssertionError(f"no {text!r} line")

    def stop(self) -> list[bytes]:
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=10)
        self.lines.extend(err.splitlines(keepends=True))
        return self.lines


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Any]:
    (tmp_path / "cli_app.py").write_text(APP.format(nasty=NASTY))
    started: list[CLI] = []

    def start(*args: str, port: int = 0) -> CLI:
        started.append(CLI(tmp_path, *args, port=port))
        return started[-1]

    yield start
    for one in started:
        if one.proc.poll() is None:
            one.proc.kill()
            one.proc.wait(timeout=5)


def _url(line: dict[str, Any]) -> str:
    message: str = line["message"]
    return message.split(" on ", 1)[1].split("/ ", 1)[0]


def test_json_lines_for_any_message(cli: Any) -> None:
    proc = cli("run", "cli_app:app", "--log-format", "json", "--log-level", "debug")
    first = json.loads(proc.wait_for(b"serving"))
    assert requests.get(_url(first) + "/x%22y%0A", timeout=10).text == "ok"
    proc.wait_for(b"handler failed")
    records = [json.loads(line) for line in proc.stop() if line.strip()]
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys()
        assert record["time"].endswith("+00:00")
    by_message = {r["message"]: r for r in records}
    assert by_message[NASTY]["level"] == "INFO"
    assert by_message[NASTY]["logger"] == "tests.cli_app"
    assert f"debug detail {NASTY!r}" in by_message
    assert 'request for /x"y\n' in by_message  # the WSGI server's decoded path
    failed = by_message["handler failed"]
    assert failed["level"] == "ERROR"
    assert "Traceback" in failed["exc_info"] and "ValueError: boom " + NASTY in failed["exc_info"]
    assert by_message["bad args %s %s ('only one',)"]["level"] == "WARNING"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _get_when_up(url: str, timeout: float = 20) -> str:
    """GET ``url``, retrying (bounded) while the child process is still starting."""
    with gevent.Timeout(timeout, AssertionError(f"{url} never answered")):
        for _ in range(1000):
            try:
                return requests.get(url, timeout=5).text
            except requests.ConnectionError:
                gevent.sleep(0.05)
    raise AssertionError(f"{url} never answered")


def test_log_level_filters_and_plain_is_default(cli: Any) -> None:
    ready = cli("run", "cli_app:app", "--log-level", "INFO")
    url = ready.wait_for(b"serving").decode().split(" on ", 1)[1].split("/ ", 1)[0]
    assert requests.get(url + "/", timeout=10).text == "ok"
    ready.wait_for(b"handler failed")
    plain = ready.stop()
    assert any(b" INFO tests.cli_app request for /" in line for line in plain)
    assert any(line.startswith(b"Traceback") for line in plain)  # plain: multi-line traceback
    assert not any(line.startswith(b"{") for line in plain)

    port = _free_port()
    quiet = cli("run", "cli_app:app", "--log-level", "warning", port=port)
    assert _get_when_up(f"http://127.0.0.1:{port}/") == "ok"
    quiet.wait_for(b"handler failed")
    lines = quiet.stop()
    assert any(b" WARNING tests.cli_app bad args" in line for line in lines)
    assert not [line for line in lines if b" INFO " in line or b" DEBUG " in line]


def test_unknown_level_or_format_is_a_usage_error(tmp_path: Path) -> None:
    for args in (["--log-level", "chatty"], ["--log-format", "xml"]):
        done = subprocess.run(
            [sys.executable, "-m", "gsocketio", *args],
            cwd=tmp_path,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            capture_output=True,
            timeout=30,
        )
        assert done.returncode == 2 and b"invalid choice" in done.stderr


def test_formatter_alone() -> None:
    formatter = JsonFormatter()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d items", ("many",), None)
    assert json.loads(formatter.format(record))["message"] == "%d items ('many',)"
    try:
        raise KeyError("k")
    except KeyError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "m", (), sys.exc_info())
    line = formatter.format(record)
    assert "\n" not in line and "KeyError: 'k'" in json.loads(line)["exc_info"]
    with pytest.raises(ValueError):
        configure_logging("loud")
    with pytest.raises(ValueError):
        configure_logging("INFO", "xml")
