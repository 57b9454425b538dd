"""The built sites, English and Bengali, as a reader's browser gets them.

Both are built once, strictly, as CI builds them (the Bengali one into
``bn/`` of the English one). Then every page is read: it loads no script or
stylesheet from another host (the site must work offline and leak no
reader to a CDN), shows no raw Sphinx role from a docstring, is tagged with
its language, and draws its diagrams with the Mermaid the site ships.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|mod|data|exc|obj):`?[\w~.]")
EXTERNAL = re.compile(
    r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=[\"']?(?:https?:)?//", re.IGNORECASE
)
CSS_IMPORT = re.compile(r"@import\s+url\(\s*[\"']?(?:https?:)?//", re.IGNORECASE)
PRE = re.compile(r"<pre\b.*?</pre>", re.DOTALL)
TAG = re.compile(r"<[^>]+>")


def _build(config: str, site: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-q",
            "-f",
            config,
            "--site-dir",
            str(site),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    _build("mkdocs.yml", root)
    _build("mkdocs.bn.yml", root / "bn")
    return root


def _pages(site: Path) -> list[Path]:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 30
    return pages


def test_no_page_loads_anything_from_another_host(site: Path) -> None:
    offenders = {
        str(page.relative_to(site)): EXTERNAL.findall(page.read_text(encoding="utf-8"))
        for page in _pages(site)
    }
    assert {page: tags for page, tags in offenders.items() if tags} == {}
    for css in site.rglob("*.css"):
        assert not CSS_IMPORT.search(css.read_text(encoding="utf-8")), css


def test_no_raw_sphinx_role_in_the_text(site: Path) -> None:
    found = {}
    for page in _pages(site):
        # Code listings show source as it is; only the prose must be clean.
        text = html.unescape(TAG.sub("", PRE.sub("", page.read_text(encoding="utf-8"))))
        if hits := ROLE.findall(text):
            found[str(page.relative_to(site))] = hits[:3]
    assert found == {}


def test_no_page_cites_the_design_brief(site: Path) -> None:
    # The brief does not ship: its sections are links to the pages that say the same.
    for page in _pages(site):
        text = TAG.sub("", PRE.sub("", page.read_text(encoding="utf-8")))
        assert "DESIGN §" not in text, page


def test_roles_become_links_to_the_reference(site: Path) -> None:
    page = (site / "reference" / "ledger" / "index.html").read_text(encoding="utf-8")
    assert 'href="../errors/#gigmarket.errors.InsufficientFunds"><code>InsufficientFunds' in page


def test_every_page_is_tagged_with_its_language(site: Path) -> None:
    for page in _pages(site):
        bengali = page.relative_to(site).parts[0] == "bn"
        head = page.read_text(encoding="utf-8")[:300]
        assert f'<html lang="{"bn" if bengali else "en"}"' in head, page


def test_the_bengali_site_speaks_bengali(site: Path) -> None:
    page = (site / "bn" / "tutorial" / "first-escrow" / "index.html").read_text(encoding="utf-8")
    assert "অনুসন্ধান করুন" in page  # the search box
    assert "সূচি তালিকা" in page  # "table of contents"
    assert "Table of contents" not in page


def test_diagrams_use_the_shipped_mermaid(site: Path) -> None:
    drawn = []
    for page in _pages(site):
        text = page.read_text(encoding="utf-8")
        if 'class="mermaid"' not in text:
            assert "mermaid.min.js" not in text, page
            continue
        drawn.append(page)
        (src,) = re.findall(r'<script src="([^"]*mermaid\.min\.js)"', text)
        assert (page.parent / src).resolve().is_file(), page
    names = {str(page.relative_to(site).parent) for page in drawn}
    assert {"explanation/lifecycle", "bn/explanation/lifecycle"} <= names


def test_links_between_the_two_sites_arrive(site: Path) -> None:
    # Links across the two builds are plain URLs, which mkdocs cannot check.
    broken = []
    for page in _pages(site):
        if page.name == "404.html":  # served from any depth, so its links are absolute
            continue
        for href in re.findall(
            r'<a [^>]*href="([^"#:/][^"#:]*/)(?:#[^"]*)?"', page.read_text("utf-8")
        ):
            target = (page.parent / href).resolve()
            if not (target / "index.html").is_file():
                broken.append((str(page.relative_to(site)), href))
    assert broken == []
