"""The figures the benchmarks use, read from bench/bench.toml: targets, the SYNTHETIC data's spans, query windows."""

from __future__ import annotations

import tomllib
from pathlib import Path

FIGURES = tomllib.loads(Path(__file__).with_name("bench.toml").read_text(encoding="utf-8"))
TARGETS: dict[str, float] = FIGURES["targets"]
SYNTHETIC: dict = FIGURES["synthetic"]
QUERIES: dict = FIGURES["queries"]
