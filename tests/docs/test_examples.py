"""Every code example in the README and the docs runs, and so does every doctest.

A documentation example that no longer works is worse than none: the reader
trusts it. Each markdown file's ```python blocks run in order in one
namespace (so a page can build on its earlier blocks); docstring examples run
as doctests.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest

import gigmarket
from tests.docs.printed import run

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
PAGES = [
    page
    for page in sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
    if BLOCK.search(page.read_text(encoding="utf-8"))
]


def _modules() -> list[ModuleType]:
    names = [
        info.name
        for info in pkgutil.walk_packages(gigmarket.__path__, prefix="gigmarket.")
        if info.name != "gigmarket.__main__"
    ]
    return [gigmarket, *(importlib.import_module(name) for name in names)]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_markdown_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ran = 0
    for number, example, out in run(page, f"docs_{page.stem}"):
        ran += 1
        if example.printed is not None:
            assert out == example.printed, (
                f"{page.relative_to(ROOT)} example {number} prints something else than the page"
                f" shows: run 'python tests/docs/printed.py {page.relative_to(ROOT)}'"
            )
    assert ran == len(BLOCK.findall(page.read_text(encoding="utf-8")))


@pytest.mark.parametrize("module", _modules(), ids=lambda m: m.__name__)
def test_docstring_examples_run(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0
