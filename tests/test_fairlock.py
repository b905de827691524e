"""The lock shared Whisper models use: granted in the order it was asked for."""

import threading
import time

import pytest

from emotion.fairlock import FairLock


def test_a_thread_that_asks_again_at_once_waits_its_turn():
    lock, order = FairLock(), []
    stop = threading.Event()

    def worker(name):
        while not stop.is_set():  # an analysis thread: one utterance after another, no pause between
            with lock:
                order.append(name)
                time.sleep(0.002)

    threads = [threading.Thread(target=worker, args=(n,)) for n in "abc"]
    for t in threads:
        t.start()
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    turns = order[len(order) // 4 :]  # once all three are queued
    # each hands over to the longest waiter: a, b, c, a, b, c... (a plain Lock lets one keep it)
    repeats = sum(1 for x, y in zip(turns, turns[1:], strict=False) if x == y)
    assert len(turns) > 30 and repeats == 0, "".join(turns)


def test_releasing_an_unheld_lock_is_an_error():
    lock = FairLock()
    with lock:
        pass
    with pytest.raises(RuntimeError):
        lock.release()
