"""Layers point one way: kcvt <- etl, kcvt <- analytics <- app <- views (the pages); analytics has no Streamlit."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from kcvt.settings import ROOT

PROJECT = {"kcvt", "etl", "analytics", "app", "views", "dashboard", "bench", "tests", "scripts"}
#: package -> the project packages it may import (besides itself)
ALLOWED = {
    "kcvt": set(),
    "etl": {"kcvt"},
    "analytics": {"kcvt"},
    "app": {"kcvt", "analytics", "etl"},  # etl only for the first-run build the app starts
    "views": {"app", "analytics"},
}


def imported(path) -> set[str]:
    """Top-level modules a file imports, at any depth (function-level imports included)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_layer_imports_only_the_layers_below(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    for f in files:
        wrong = (imported(f) & PROJECT) - ALLOWED[package] - {package}
        assert not wrong, f"{f.relative_to(ROOT)} imports {sorted(wrong)}"


@pytest.mark.parametrize("package", ["kcvt", "etl", "analytics"])
def test_no_streamlit_below_the_app(package):
    for f in sorted((ROOT / package).rglob("*.py")):
        assert "streamlit" not in imported(f), f"{f.relative_to(ROOT)} imports streamlit"


def test_analytics_imports_without_streamlit_installed():
    """Every analytics module imports in a process where `import streamlit` fails."""
    modules = [f"analytics.{f.stem}" for f in sorted((ROOT / "analytics").glob("*.py")) if f.stem != "__main__"]
    code = ("import sys; sys.modules['streamlit'] = None\n"
            f"for m in {modules!r}:\n    __import__(m)\nprint('ok')")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_pages_hold_no_sql():
    for f in sorted((ROOT / "views").glob("*.py")):
        text = f.read_text()
        assert ".execute(" not in text and "SELECT " not in text, f"{f.name} holds SQL"
