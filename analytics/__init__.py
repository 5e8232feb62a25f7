"""Shared queries and statistics for KC Violence Trends.

Pages only render; everything that computes lives here (and is importable and
unit-tested). The command line (`python -m analytics`) gives the same numbers.
"""
