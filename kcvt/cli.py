"""What both command lines (`python -m etl`, `python -m analytics`) share: one shape for a refused value."""

from __future__ import annotations

import argparse
import math
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """argparse, except that a value it refuses is one line on stderr (and exit 2), like every other bad value."""

    def error(self, message: str) -> NoReturn:
        """Exit 2 with one line naming the refused value and pointing to --help, instead of argparse's usage block: the
        same shape as every other bad value (BAD_VALUES)."""
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def bounded_float(low: float, high: float, low_open: bool = False):
    """An argparse type: a finite number from `low` to `high` (above `low` when `low_open`); NaN, infinities and
    numbers out of range are refused by name (float() accepts 'nan' and 'inf', and NaN passes every comparison)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and (value > low if low_open else value >= low) and value <= high):
            bound = f"above {low:g}" if low_open else f"from {low:g}"
            raise argparse.ArgumentTypeError(f"not a number {bound} to {high:g}: {text[:40]!r}")
        return value

    return parse
