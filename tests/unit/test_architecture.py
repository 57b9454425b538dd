"""The layers contract (``[tool.importlinter]`` in ``pyproject.toml``) holds on
the real tree, and breaks when a module imports a layer above its own.

Each check runs import-linter in a subprocess on a copy of the package, so that
it analyses the copy and not the package this test process imported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gigmarket

pytest.importorskip("importlinter")

PACKAGE = Path(gigmarket.__file__).parent
CONFIG = Path(__file__).parents[2] / "pyproject.toml"


def lint(source: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the ``gigmarket`` package found in ``source``."""
    selected = [argument for contract in contracts for argument in ("--contract", contract)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(source), str(PACKAGE.parent)])}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports_command; "
            "sys.exit(lint_imports_command())",
            str(CONFIG),
            "--no-cache",
            "--no-logo",
            *selected,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def copy_of_the_package(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    shutil.copytree(PACKAGE, source / "gigmarket", ignore=shutil.ignore_patterns("__pycache__"))
    return source


def test_the_real_tree_keeps_every_contract(tmp_path: Path) -> None:
    run = lint(copy_of_the_package(tmp_path))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "BROKEN" not in run.stdout
    assert "0 broken" in run.stdout


@pytest.mark.parametrize(
    ("module", "imports", "shown"),
    [
        # the domain reaches for a storage adapter
        ("orders/model.py", "gigmarket.storage.sqlite.store", "gigmarket.orders.model -> "),
        # the ledger, which stands alone, reaches for the order lifecycle
        ("escrow/model.py", "gigmarket.orders.model", "gigmarket.escrow.model -> "),
        # the kernel reaches for the domain
        ("money.py", "gigmarket.escrow.chart", "gigmarket.money -> "),
        # the ports reach for an adapter
        ("ports.py", "gigmarket.storage.memory.store", "gigmarket.ports -> "),
        # a service reaches for the composition root
        ("cashier/model.py", "gigmarket.marketplace", "gigmarket.cashier.model -> "),
    ],
)
def test_importing_a_higher_layer_breaks_the_contract(
    tmp_path: Path, module: str, imports: str, shown: str
) -> None:
    source = copy_of_the_package(tmp_path)
    path = source / "gigmarket" / module
    path.write_text(path.read_text() + f"\nimport {imports}  # breaks a layer on purpose\n")
    run = lint(source, "layers")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "layers" in run.stdout
    assert "BROKEN" in run.stdout
    assert f"{shown}{imports}" in run.stdout


def test_a_module_without_a_place_in_the_layers_breaks_the_contract(tmp_path: Path) -> None:
    source = copy_of_the_package(tmp_path)
    (source / "gigmarket" / "newcomer.py").write_text('"""Not yet placed in a layer."""\n')
    run = lint(source, "layers")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "gigmarket.newcomer" in run.stdout
