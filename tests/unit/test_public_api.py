"""The public surface of gigmarket: what ``__all__`` promises, exists.

- every public module that declares ``__all__`` keeps it sorted (ruff's
  isort-style order, RUF022), free of duplicates, and naming real attributes;
- the top-level package re-exports every error, so ``from gigmarket import
  InsufficientFunds`` always works;
- every error in ``gigmarket.errors`` sits under ``GigmarketError`` with its own
  stable ``code``;
- no module under ``src/gigmarket`` uses ``assert``: it vanishes under
  ``python -O``, so a runtime check written that way is no check at all.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest

import gigmarket
import gigmarket.errors
from gigmarket.errors import GigmarketError

SOURCE_ROOT = Path(gigmarket.__file__).parent

TEST_KIT = SOURCE_ROOT / "testing"
"""``gigmarket.testing`` ships pytest suites for adapter authors (the
eventsourcing pattern); there ``assert`` is pytest's language, not a runtime
check, so the no-assert rule does not apply to it."""


def _public_module_names() -> list[str]:
    """``gigmarket`` and every module under it whose dotted path has no
    ``_private`` part. Packages that fail to import are still listed (the walk
    cannot look inside them) so that :func:`test_public_module_imports` says so."""
    walk = pkgutil.walk_packages(gigmarket.__path__, "gigmarket.", onerror=lambda _: None)
    return ["gigmarket"] + [
        info.name for info in walk if not any(part.startswith("_") for part in info.name.split("."))
    ]


PUBLIC_MODULES = _public_module_names()


def _modules_with_all() -> list[str]:
    with_all = []
    for name in PUBLIC_MODULES:
        try:
            module = importlib.import_module(name)
        except Exception:  # reported by test_public_module_imports
            continue
        if hasattr(module, "__all__"):
            with_all.append(name)
    return with_all


MODULES_WITH_ALL = _modules_with_all()


def _isort_style_key(name: str) -> tuple[int, list[tuple[int, int | str]]]:
    """The order of ruff's RUF022: SCREAMING_SNAKE_CASE constants, then
    CamelCase classes, then everything else; a natural sort inside each."""
    if len(name) > 1 and name.isupper():
        category = 0
    elif name[:1].isupper():
        category = 1
    else:
        category = 2
    natural = [
        (0, int(chunk)) if chunk.isdigit() else (1, chunk)
        for chunk in re.split(r"(\d+)", name)
        if chunk
    ]
    return category, natural


def _all_of(name: str) -> list[str]:
    module: ModuleType = importlib.import_module(name)
    exported = module.__all__
    assert all(isinstance(item, str) for item in exported), exported
    return list(exported)


def test_the_walk_finds_the_package() -> None:
    assert "gigmarket" in MODULES_WITH_ALL
    assert "gigmarket.money" in MODULES_WITH_ALL
    assert "gigmarket.errors" in MODULES_WITH_ALL
    assert not any(name.startswith("gigmarket._") for name in PUBLIC_MODULES)


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_public_module_imports(name: str) -> None:
    importlib.import_module(name)


@pytest.mark.parametrize("name", MODULES_WITH_ALL)
def test_all_is_sorted(name: str) -> None:
    exported = _all_of(name)
    assert exported == sorted(exported, key=_isort_style_key)


@pytest.mark.parametrize("name", MODULES_WITH_ALL)
def test_all_has_no_duplicates(name: str) -> None:
    exported = _all_of(name)
    duplicates = sorted({item for item in exported if exported.count(item) > 1})
    assert not duplicates


@pytest.mark.parametrize("name", MODULES_WITH_ALL)
def test_every_name_in_all_exists(name: str) -> None:
    module = importlib.import_module(name)
    missing = [item for item in _all_of(name) if not hasattr(module, item)]
    assert not missing


def test_top_level_names_are_importable() -> None:
    for item in gigmarket.__all__:
        namespace: dict[str, object] = {}
        exec(f"from gigmarket import {item}", namespace)  # the statement users write
        assert namespace[item] is getattr(gigmarket, item)


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from gigmarket import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(gigmarket.__all__)


def test_every_error_is_re_exported_at_the_top() -> None:
    missing = set(gigmarket.errors.__all__) - set(gigmarket.__all__)
    assert not missing
    for item in gigmarket.errors.__all__:
        assert getattr(gigmarket, item) is getattr(gigmarket.errors, item)


def test_every_error_subclasses_the_root_and_has_its_own_code() -> None:
    codes: dict[str, str] = {}
    for item in gigmarket.errors.__all__:
        error = getattr(gigmarket.errors, item)
        assert isinstance(error, type)
        assert issubclass(error, GigmarketError), item
        code = error.__dict__.get("code")  # declared on the class itself, not inherited
        assert isinstance(code, str), f"{item} has no code of its own"
        assert re.fullmatch(r"[a-z]+(?:_[a-z]+)*", code), code
        assert code not in codes, f"{item} and {codes.get(code)} share the code {code!r}"
        codes[code] = item


def _bare_asserts() -> list[str]:
    found: list[str] = []
    for path in sorted(SOURCE_ROOT.rglob("*.py")):
        if path.is_relative_to(TEST_KIT):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found.extend(
            f"{path.relative_to(SOURCE_ROOT.parent)}:{node.lineno}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Assert)
        )
    return found


def test_no_assert_statements_in_the_library() -> None:
    """``assert`` is stripped under ``python -O``; a check the library relies on
    must raise a GigmarketError (or a builtin) explicitly. The shipped test kit
    (:data:`TEST_KIT`) is exempt."""
    assert list(SOURCE_ROOT.rglob("*.py"))
    assert _bare_asserts() == []
