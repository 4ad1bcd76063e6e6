"""Seed classes that only made sense for gevent-socketio's internals: importable, but warning.

An app that imports such a name (a transport class, a pywsgi handler) should not stop at an
``ImportError`` before it can see what really differs; using the class instead (instantiating
or subclassing it outside gsocketio) raises a ``DeprecationWarning`` that says what to use.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

__all__ = ["Retired"]


class Retired:
    """Base of such classes; ``instead`` says what to use (shown in the warning)."""

    instead: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__module__.startswith("gsocketio."):
            base = next(c for c in cls.__mro__[1:] if c.__module__.startswith("gsocketio."))
            _warn(f"subclassing {base.__name__}", cls.instead)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _warn(type(self).__name__, self.instead)


def _warn(what: str, instead: str) -> None:
    warnings.warn(
        f"{what}: gevent-socketio's internals are gone; {instead}",
        DeprecationWarning,
        stacklevel=3,
    )
