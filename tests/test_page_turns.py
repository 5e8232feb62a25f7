"""The page-run gate (app.web.page_turn): at most PAGE_TURNS page scripts at once, served in the order they came."""

from __future__ import annotations

import threading

from app import web


def test_turns_hold_at_most_n_and_serve_in_arrival_order():
    turns = web._Turns(2)
    entered, inside, most = [], [0], [0]
    lock = threading.Lock()
    release = threading.Event()
    arrived = [threading.Event() for _ in range(12)]

    def run(i: int) -> None:
        arrived[i].set()
        with turns:
            with lock:
                entered.append(i)
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            release.wait(5)
            with lock:
                inside[0] -= 1

    threads = []
    for i in range(12):  # one at a time, so the arrival order is known: each waits in the queue before the next comes
        t = threading.Thread(target=run, args=(i,))
        t.start()
        arrived[i].wait(5)
        threads.append(t)
        while i >= 2 and len(turns) < i - 1:  # the gate has queued it (the first two went straight in)
            threading.Event().wait(0.001)
    release.set()
    for t in threads:
        t.join(5)
    assert most[0] == 2
    assert entered == list(range(12))


def test_a_failing_page_gives_its_turn_back():
    turns = web._Turns(1)
    try:
        with turns:
            raise RuntimeError("page failed")
    except RuntimeError:
        pass
    done = threading.Event()
    threading.Thread(target=lambda: (turns.__enter__(), done.set())).start()
    assert done.wait(5)
