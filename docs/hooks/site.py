"""Build hooks shared by the English and the Bengali site.

- Sphinx roles in docstrings (``:class:`~gigmarket.money.Amount```) reach the
  reference pages as raw text; mkdocstrings' Sphinx parser reads the fields
  (``:param x:``) but not the roles. Once every page is rendered, each role
  becomes a link to the object's anchor when the object is documented, and
  plain code when it is not. Code listings (``<pre>``) are left alone: they
  show source as it is.
- Docstrings cite sections of a design brief that does not ship with the
  docs (``DESIGN §4``, ``DESIGN §8``); each citation becomes a link to the
  page that says the same thing for a reader.
- Diagrams are drawn by the Mermaid script the site ships
  (``javascripts/mermaid.min.js``), loaded only by pages that have one, so
  the theme never fetches it from a CDN and a reader offline still sees the
  drawing.
"""

from __future__ import annotations

import html
import posixpath
import re
import shutil
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1]
MERMAID_URL = "javascripts/mermaid.min.js"
STYLESHEET_URL = "stylesheets/extra.css"

_ROLE = re.compile(
    r":(?:py:)?(?P<role>class|meth|func|attr|mod|data|exc|obj|const)"
    r":(?:<code>(?P<code>[^<]*)</code>|`(?P<tick>[^`]*)`)"
)
_ANCHOR = re.compile(r'\bid="(gigmarket(?:\.[A-Za-z_][A-Za-z0-9_]*)+)"')
_PRE = re.compile(r"(<pre\b.*?</pre>)", re.DOTALL)
_DESIGN = re.compile(r"DESIGN §(\d+)")
# The brief's sections, and the page of the site that carries each one.
_DESIGN_PAGES = {
    "4": ("reference/cli/#audit", "the invariant list"),
    "8": ("explanation/fees/", "the fees page"),
}

# anchor id -> the URL of the page that holds it, filled as pages render
_anchors: dict[str, str] = {}


def on_config(config: Any) -> Any:
    _anchors.clear()
    return config


def on_page_content(html_text: str, page: Any, **_: Any) -> str:
    for anchor in _ANCHOR.findall(html_text):
        _anchors.setdefault(anchor, page.url)
    return html_text


def _resolve(target: str) -> str | None:
    if target in _anchors:
        return target
    suffix = "." + target
    found = sorted(anchor for anchor in _anchors if anchor.endswith(suffix))
    # The shortest path is the public one (gigmarket.money.Amount before
    # gigmarket.escrow.model.Amount); ambiguity between equals stays code.
    if found and (len(found) == 1 or len(found[0]) < len(found[1])):
        return min(found, key=len)
    return None


def _href(from_url: str, anchor: str) -> str:
    to_url = _anchors[anchor]
    base = posixpath.dirname(from_url) if not from_url.endswith("/") else from_url.rstrip("/")
    relative = posixpath.relpath(to_url or ".", base or ".") if to_url != from_url else ""
    if relative and to_url.endswith("/") and not relative.endswith("/"):
        relative += "/"
    return f"{relative}#{anchor}"


def _roles_to_links(text: str, page_url: str) -> str:
    def replace(match: re.Match[str]) -> str:
        raw = html.unescape(match.group("code") or match.group("tick") or "")
        target = raw.lstrip("~!.").removesuffix("()")
        shown = target.rsplit(".", 1)[-1] if raw.startswith("~") else target
        if match.group("role") in {"meth", "func"}:
            shown += "()"
        code = f"<code>{html.escape(shown)}</code>"
        anchor = _resolve(target)
        if anchor is None:
            return code
        return f'<a class="autorefs autorefs-internal" href="{_href(page_url, anchor)}">{code}</a>'

    def cite(match: re.Match[str]) -> str:
        target = _DESIGN_PAGES.get(match.group(1))
        if target is None:
            return match.group(0)
        url, words = target
        return f'<a href="{"../" * page_url.count("/")}{url}">{words}</a>'

    parts = _PRE.split(text)
    return "".join(
        part if part.startswith("<pre") else _DESIGN.sub(cite, _ROLE.sub(replace, part))
        for part in parts
    )


def on_env(env: Any, config: Any, files: Any) -> Any:
    for file in files.documentation_pages():
        page = file.page
        if page is not None and page.content:
            page.content = _roles_to_links(page.content, page.url)
    return env


def on_post_page(output: str, page: Any, config: Any) -> str:
    if 'class="mermaid"' not in output:
        return output
    depth = page.url.count("/") if page.url else 0
    src = "../" * depth + MERMAID_URL
    tag = f'<script src="{src}"></script>\n'
    # Before the theme's bundle, which draws diagrams with a global `mermaid`
    # when there is one and fetches its own from a CDN when there is not.
    bundle = re.search(r'<script src="[^"]*assets/javascripts/bundle\.[^"]*"', output)
    if bundle is None:
        return output.replace("</body>", tag + "</body>")
    return output[: bundle.start()] + tag + output[bundle.start() :]


def on_post_build(config: Any) -> None:
    # A site whose docs_dir lacks the shared assets (the Bengali one) gets a copy.
    for url in (MERMAID_URL, STYLESHEET_URL):
        target = Path(config["site_dir"]) / url
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(DOCS / url, target)
