"""Bounds on what a decoder accepts, checked before anything large is allocated."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Input limits shared by every decoder.

    ``max_payload`` matches the official servers' ``maxHttpBufferSize`` default (1,000,000
    bytes): no packet, payload or announced length above it is accepted.
    """

    max_payload: int = 1_000_000
    max_packets: int = 10_000
    max_attachments: int = 256
    max_depth: int = 100
    #: total bytes of the attachments of one binary packet: each attachment is checked against
    #: ``max_payload``, this bounds what one pending packet may hold in memory altogether.
    max_attachment_bytes: int = 10_000_000


DEFAULT_LIMITS = Limits()
