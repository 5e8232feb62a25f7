"""A benchmark process's own peak memory (no project imports, so measuring it adds nothing to what it measures)."""

from __future__ import annotations

from pathlib import Path


def peak_mb() -> float:
    """This process's peak resident memory in MB (VmHWM; unlike ru_maxrss it starts afresh when a process execs)."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024
