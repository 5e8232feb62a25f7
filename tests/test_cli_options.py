"""Every option of every command is in README.md's command table (not only the command names)."""

from __future__ import annotations

import pytest

from analytics import cli as analytics_cli
from etl import cli as etl_cli
from kcvt.settings import ROOT


def _rows(readme: str, prog: str, name: str) -> list[str]:
    return [line for line in readme.splitlines() if line.startswith("|") and f"{prog} {name}" in line]


@pytest.mark.parametrize("parser", [analytics_cli.parser(), etl_cli.parser()], ids=["analytics", "etl"])
def test_every_option_of_every_command_is_in_the_readme_table(parser):
    readme = (ROOT / "README.md").read_text()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, command in sub.choices.items():
        rows = _rows(readme, parser.prog, name)
        assert rows, f"`{parser.prog} {name}` has no row in README's command table"
        options = [o for a in command._actions for o in a.option_strings if o.startswith("--") and o != "--help"]
        missing = [o for o in options if not any(o in row for row in rows)]
        assert not missing, f"`{parser.prog} {name}`: {missing} not in README's command table"


def test_evaluate_offers_every_method():
    sub = next(a for a in analytics_cli.parser()._actions if a.dest == "command")
    method = next(a for a in sub.choices["evaluate"]._actions if "--method" in a.option_strings)
    assert method.choices == ["wdd", "synth", "all"] and method.default == "wdd"
