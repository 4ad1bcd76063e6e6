"""``mypyc_attr``: mypyc's class options, read (by name) only when compiling (issue 14).

A compiled class refuses interpreted subclasses and has no instance ``__dict__`` unless told
otherwise; this is how a module says so. At run time the decorator does nothing, and a pure
install need not have mypy_extensions at all: then it is a stand-in that does nothing either.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["mypyc_attr"]

try:
    from mypy_extensions import mypyc_attr
except ImportError:  # a pure install

    def _no_attrs(*attrs: str, **kwattrs: object) -> Callable[[type], type]:
        return lambda cls: cls

    mypyc_attr = _no_attrs  # type: ignore[assignment]
