"""setup.py's switch for the optional mypyc build (docs/operations.md, "Compiled build"): unset,
the build is the pure one of before; only 1 and auto compile. The compiled modules' behaviour
is tested by scripts/test_compiled.sh (``make test-compiled``), not here."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setup_py() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gsocketio_setup", ROOT / "setup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # setup() itself only runs as __main__
    return module


@pytest.mark.parametrize(("value", "mode"), [("", ""), ("0", ""), ("1", "1"), (" AUTO ", "auto")])
def test_mode(setup_py: ModuleType, monkeypatch: pytest.MonkeyPatch, value: str, mode: str) -> None:
    monkeypatch.setenv("GSOCKETIO_MYPYC", value)
    assert setup_py.mypyc_mode() == mode


def test_unset_builds_pure_with_no_extra_requirement(
    setup_py: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GSOCKETIO_MYPYC", raising=False)
    assert setup_py._setup_args() == {}  # no ext_modules, no setup_requires, no build_ext


def test_an_unknown_value_fails_the_build(
    setup_py: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GSOCKETIO_MYPYC", "yes")
    with pytest.raises(SystemExit, match="expected 0, 1 or auto"):
        setup_py.mypyc_mode()


def test_the_compiled_modules_exist_and_the_build_asks_for_mypy(setup_py: ModuleType) -> None:
    assert all((ROOT / path).is_file() for path in setup_py.MYPYC_MODULES)
    requirements = setup_py._build_requirements()
    assert setup_py.MYPY in requirements and any(r.startswith("gevent") for r in requirements)


def test_mypyc_attr_does_nothing_with_or_without_mypy_extensions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Plain:
        pass

    from gsocketio.protocol._mypyc import mypyc_attr

    assert mypyc_attr(native_class=False)(Plain) is Plain
    monkeypatch.setitem(sys.modules, "mypy_extensions", None)  # a pure install: ImportError
    spec = importlib.util.find_spec("gsocketio.protocol._mypyc")
    assert spec is not None and spec.loader is not None
    fallback = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fallback)
    assert fallback.mypyc_attr(allow_interpreted_subclasses=True)(Plain) is Plain
