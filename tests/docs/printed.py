"""What a docs page shows as printed is what its code prints.

A page may follow a ```python block with a region

    <!-- printed -->
    ...
    <!-- end printed -->

holding, verbatim, what that block prints (a T-account table, say, which
the page then renders as a table). The docs tests run the block and compare.
After a change, regenerate every region of a page with

    python tests/docs/printed.py docs/tutorial/first-escrow.md
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import attrs

BLOCK = re.compile(r"^```python\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
PRINTED = re.compile(r"<!-- printed -->\n(.*?)<!-- end printed -->\n", re.DOTALL)


@attrs.frozen
class Example:
    """One ```python block of a page and the printed region that follows it, if any."""

    code: str
    printed: str | None
    region: tuple[int, int] | None  # where the region's text is in the page


def examples(text: str) -> list[Example]:
    found = []
    blocks = list(BLOCK.finditer(text))
    for i, block in enumerate(blocks):
        end = blocks[i + 1].start() if i + 1 < len(blocks) else len(text)
        region = PRINTED.search(text, block.end(), end)
        found.append(
            Example(
                code=block.group(1),
                printed=region.group(1) if region else None,
                region=region.span(1) if region else None,
            )
        )
    return found


def run(page: Path, name: str) -> Iterator[tuple[int, Example, str]]:
    """Run a page's blocks in order in one namespace; yield each with what it printed."""
    namespace: dict[str, object] = {"__name__": name}
    for number, example in enumerate(examples(page.read_text(encoding="utf-8")), start=1):
        code = compile(example.code, f"{page} (example {number})", "exec")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(code, namespace)
        yield number, example, out.getvalue()


def regenerate(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)
        try:
            results = [(e, out) for _, e, out in run(page, f"docs_{page.stem}")]
        finally:
            os.chdir(here)
    for example, out in reversed(results):
        if example.region is not None:
            start, end = example.region
            text = text[:start] + out + text[end:]
    page.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    for argument in sys.argv[1:]:
        regenerate(Path(argument).resolve())
