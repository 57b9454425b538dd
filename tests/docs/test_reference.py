"""The API reference is complete: every public name is documented and rendered.

The public names are those each facade lists in ``__all__``. Each one is
followed (with griffe, as mkdocstrings reads it) to where it is defined, and:

- every class, function and public method of a public class has a docstring
  (a constant or submodule too: mkdocstrings renders nothing without one);
- every one of them has an anchor in a reference page of the built site,
  under its defining path or under a facade's path, and so does every public
  method of a public class;
- the fields of the models and commands readers build and read most (an
  order's, a review's, a search query's...) are rendered as attributes.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import attrs
import griffe
import pydantic
import pytest

ROOT = Path(__file__).resolve().parents[2]
FACADES = (
    "gigmarket",
    "gigmarket.catalog",
    "gigmarket.orders",
    "gigmarket.escrow",
    "gigmarket.cashier",
    "gigmarket.gateways",
    "gigmarket.storage",
    "gigmarket.ports",
    "gigmarket.testing.gateways",
    "gigmarket.testing.storage",
    "gigmarket.testing.storage_payments",
)
# The models and commands whose fields a reader must find in the reference.
MODELS = (
    "gigmarket.orders.Order",
    "gigmarket.orders.Offer",
    "gigmarket.orders.OfferedPackage",
    "gigmarket.orders.Review",
    "gigmarket.orders.DueRun",
    "gigmarket.catalog.SearchQuery",
    "gigmarket.catalog.CreateGig",
    "gigmarket.catalog.CreateAccount",
    "gigmarket.catalog.SetUpProfile",
    "gigmarket.catalog.UpdateGig",
    "gigmarket.cashier.PaymentOperation",
    "gigmarket.escrow.JournalEntry",
    "gigmarket.escrow.Balance",
)
ANCHOR = re.compile(r'\bid="(gigmarket(?:\.[A-Za-z_][A-Za-z0-9_]*)+)"')


@dataclass(frozen=True)
class Public:
    """One public object: the paths it is reachable by, and its griffe object."""

    paths: frozenset[str]
    obj: griffe.Object


def _public_objects() -> dict[str, Public]:
    package = griffe.load("gigmarket", search_paths=[str(ROOT / "src")], resolve_aliases=True)
    found: dict[str, set[str]] = {}
    objects: dict[str, griffe.Object] = {}
    for facade in FACADES:
        for name in importlib.import_module(facade).__all__:
            target = package[f"{facade}.{name}".removeprefix("gigmarket.")]
            while target.is_alias:
                try:
                    target = target.target
                except griffe.AliasResolutionError:
                    break  # a re-export of a third party's object (py-moneyed's Money)
            if target.is_alias:
                continue
            found.setdefault(target.path, set()).add(f"{facade}.{name}")
            objects[target.path] = target
    return {
        path: Public(frozenset({path, *aliases}), objects[path])
        for path, aliases in sorted(found.items())
    }


PUBLIC = _public_objects()


def _methods(cls: griffe.Object) -> list[griffe.Object]:
    """The public methods (and properties) a class defines itself.

    A conformance kit's ``test_*`` methods are left out: pytest runs them, no
    one calls them, and each one's name is the sentence it checks.
    """
    return [
        member
        for name, member in cls.members.items()
        if not name.startswith("_")
        and not member.is_alias
        and member.is_function
        and not (name.startswith("test_") and cls.name.endswith("Conformance"))
    ]


def test_every_public_object_has_a_docstring() -> None:
    missing = set()
    for path, public in PUBLIC.items():
        if not public.obj.docstring:
            missing.add(path)
        if public.obj.is_class:
            missing.update(method.path for method in _methods(public.obj) if not method.docstring)
    # New public objects come with a docstring; the list of those still
    # waiting for one only shrinks.
    assert sorted(missing - UNDOCUMENTED) == [], "public objects without a docstring"
    assert sorted(UNDOCUMENTED - missing) == [], "documented now: strike them from UNDOCUMENTED"


@pytest.fixture(scope="module")
def anchors(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    site = tmp_path_factory.mktemp("reference-site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run(
        # Not -q: it hides the warnings that --strict turns into a failure.
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    pages = sorted((site / "reference").rglob("*.html"))
    assert pages
    return {anchor for page in pages for anchor in ANCHOR.findall(page.read_text("utf-8"))}


def test_every_public_object_is_rendered(anchors: set[str]) -> None:
    # mkdocstrings leaves out what has no docstring: those gaps are counted
    # once, in UNDOCUMENTED.
    missing = []
    for path, public in PUBLIC.items():
        shown = sorted(public.paths & anchors)
        if not shown:
            missing.append(path)
            continue
        if public.obj.is_class:
            missing.extend(
                method.path
                for method in _methods(public.obj)
                if not any(f"{where}.{method.name}" in anchors for where in shown)
            )
    missing = [path for path in missing if path not in UNDOCUMENTED]
    assert missing == [], f"{len(missing)} public objects missing from the reference"


def _fields(model: type) -> list[str]:
    if attrs.has(model):
        return [field.name for field in attrs.fields(model) if not field.name.startswith("_")]
    assert issubclass(model, pydantic.BaseModel), model
    return list(model.model_fields)


@pytest.mark.parametrize("dotted", MODELS)
def test_model_fields_are_rendered(dotted: str, anchors: set[str]) -> None:
    facade, name = dotted.rsplit(".", 1)
    public = PUBLIC[next(path for path, p in PUBLIC.items() if dotted in p.paths)]
    shown = sorted(public.paths & anchors)
    assert shown, dotted
    model = getattr(importlib.import_module(facade), name)
    missing = [
        field
        for field in _fields(model)
        if not any(f"{where}.{field}" in anchors for where in shown)
    ]
    assert missing == []


# Public objects still without a docstring (each one is a gap in the reference):
# documenting one strikes it from here.
UNDOCUMENTED: frozenset[str] = frozenset()
