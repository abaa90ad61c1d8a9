"""Rules of the layout that import-linter cannot see."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ledger", "kernel", "ivr", "extranet", "flows", "archive", "billing_export", "demo")


def _python_files(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


def _reads_environment(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("environ", "getenv", "environb")
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            lines.append(node.lineno)
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(alias.name in ("environ", "getenv") for alias in node.names)
        ):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("package", PACKAGES)
def test_only_the_settings_module_reads_the_environment(package: str) -> None:
    offenders = []
    for path in _python_files(package):
        if path == ROOT / "kernel" / "settings.py":
            continue
        for line in _reads_environment(ast.parse(path.read_text(encoding="utf-8"))):
            offenders.append(f"{path.relative_to(ROOT)}:{line}")
    assert offenders == [], "read the environment through kernel.settings.environ()"


def test_the_check_finds_a_reader() -> None:
    assert _reads_environment(ast.parse("import os\nx = os.environ.get('A')\n")) == [2]
    assert _reads_environment(ast.parse("from os import getenv\n")) == [1]


def test_the_rules_of_money_have_one_home() -> None:
    """No module outside ledger.money turns a visit's times into minutes by itself."""
    patterns = ("total_seconds() / 60", "total_seconds() // 60", "/ 3600", "julianday(")
    offenders = []
    for package in PACKAGES:
        for path in _python_files(package):
            if path == ROOT / "ledger" / "money.py":
                continue
            text = path.read_text(encoding="utf-8")
            offenders += [f"{path.relative_to(ROOT)}: {p}" for p in patterns if p in text]
    assert offenders == []
