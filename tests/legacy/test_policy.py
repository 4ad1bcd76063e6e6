"""The Flash cross-domain policy document (the server itself is tested over a socket)."""

from __future__ import annotations

from typing import Any

import pytest

from gsocketio.legacy.policy import POLICY_REQUEST, policy_xml


def test_request_is_the_flash_players() -> None:
    assert POLICY_REQUEST == b"<policy-file-request/>\x00"


def test_policy_for_ports() -> None:
    policy = policy_xml([8080, 80, 8080])
    assert policy.endswith(b"</cross-domain-policy>\x00")
    assert policy.count(b"\x00") == 1
    assert b'<allow-access-from domain="*" to-ports="80,8080"/>' in policy
    assert b'to-ports="*"' in policy_xml(None)
    assert b'domain="*.example.com"' in policy_xml(None, "*.example.com")


@pytest.mark.parametrize(
    ("ports", "domain"),
    [([], "*"), ([0], "*"), ([70000], "*"), ([True], "*"), (None, 'x" to-ports="*'), (None, "")],
)
def test_bad_policy_input(ports: Any, domain: str) -> None:
    with pytest.raises(ValueError):
        policy_xml(ports, domain)
