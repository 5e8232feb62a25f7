"""One writer at a time: an advisory lock beside each file that is rewritten whole.

Builds, loads and refreshes rewrite the database file by an atomic swap; registry and watch-area saves rewrite
their CSV the same way. Two writers at once would both succeed on their own copy and the later rename would
silently discard the other's work, so every writer holds `writer_lock(file)` for its whole read-modify-write.

The lock is `flock` on `<file>.lock` (released by the kernel when a process dies, so a killed writer never
leaves it held); the file records who holds it, so a second writer can say which process it waits for. A lock is
re-entrant within one thread (a refresh that first builds takes it twice); other threads of the same process
(Streamlit sessions) wait like other processes do.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

#: Seconds a second writer waits for the first before refusing (`KC_VIOLENCE_LOCK_WAIT` overrides).
DEFAULT_WAIT = 10.0
_held: dict[tuple[str, int], int] = {}
_guard = threading.Lock()


class LockHeld(RuntimeError):
    """Another process (or session) is writing the same file; the message names it."""


def lock_wait() -> float:
    """How long a writer waits for another one, from `KC_VIOLENCE_LOCK_WAIT` (seconds, 0 = refuse at once)."""
    text = os.environ.get("KC_VIOLENCE_LOCK_WAIT", "")
    try:
        value = float(text) if text else DEFAULT_WAIT
    except ValueError:
        value = DEFAULT_WAIT
    return value if 0 <= value < 86_400 else DEFAULT_WAIT


def holder(path: Path) -> str:
    """Who holds the lock on `path`, in words (from the lock file; 'another process' when it says nothing)."""
    try:
        info = json.loads(lock_path(path).read_text() or "{}")
        return f"process {int(info['pid'])} ({str(info.get('what', ''))[:80]}, since {str(info.get('since', ''))[:19]})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def lock_path(path: Path) -> Path:
    """The lock file beside `path`, never `path` itself: writers replace the file by an atomic rename, and a lock
    held on the old file would not guard the new one."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


@contextmanager
def writer_lock(path: Path, what: str = "", wait: float | None = None) -> Iterator[None]:
    """Hold the write lock on `path` for the block. Waits up to `wait` seconds (default: lock_wait()), telling
    stderr once whom it waits for, then raises LockHeld naming the holder."""
    path = Path(path).resolve()
    key = (str(path), threading.get_ident())
    with _guard:
        if _held.get(key):
            _held[key] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _guard:
                _held[key] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, path, lock_wait() if wait is None else wait)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "what": what or " ".join(sys.argv[:3])[:80],
                                  "since": datetime.now().isoformat(timespec="seconds")}).encode(), 0)
        with _guard:
            _held[key] = 1
        try:
            yield
        finally:
            with _guard:
                _held.pop(key, None)
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, path: Path, wait: float) -> None:
    deadline = time.monotonic() + wait
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LockHeld(f"{path.name} is being written by {holder(path)}; nothing was changed. "
                               "Try again when it has finished.") from None
            if not told:
                print(f"waiting up to {wait:.0f} s for {holder(path)}, which is writing {path.name}", file=sys.stderr)
                told = True
            time.sleep(0.1)
