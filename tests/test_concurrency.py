"""The matcher's concurrency pieces: the readers-writer lock and the per-query cache shared by two threads."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from matcher.image.signals import ImageQuery
from matcher.locks import ReadWriteLock


def test_readers_share_the_lock_and_a_writer_waits_for_them() -> None:
    lock = ReadWriteLock()
    inside = threading.Barrier(2, timeout=5)
    events: list[str] = []

    def reader(name: str) -> None:
        with lock.read():
            inside.wait()  # both readers are in at once, or this times out
            time.sleep(0.05)
            events.append(f"{name} out")

    def writer() -> None:
        time.sleep(0.01)
        with lock.write():
            events.append("writer in")

    threads = [threading.Thread(target=reader, args=("a",)), threading.Thread(target=reader, args=("b",)),
               threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert events[-1] == "writer in" and sorted(events[:2]) == ["a out", "b out"]


def test_a_waiting_writer_holds_back_new_readers() -> None:
    lock = ReadWriteLock()
    order: list[str] = []
    first_in = threading.Event()

    def first_reader() -> None:
        with lock.read():
            first_in.set()
            time.sleep(0.1)
            order.append("reader 1")

    def writer() -> None:
        with lock.write():
            order.append("writer")

    def late_reader() -> None:
        with lock.read():
            order.append("reader 2")

    t1 = threading.Thread(target=first_reader)
    t1.start()
    first_in.wait(5)
    tw = threading.Thread(target=writer)
    tw.start()
    time.sleep(0.03)  # the writer is waiting now
    t2 = threading.Thread(target=late_reader)
    t2.start()
    for t in (t1, tw, t2):
        t.join(5)
    assert order == ["reader 1", "writer", "reader 2"]


def test_a_query_step_is_computed_once_whichever_thread_asks_first() -> None:
    query = ImageQuery(Image.new("RGB", (8, 8)))
    calls: list[int] = []

    def slow() -> int:
        calls.append(1)
        time.sleep(0.05)
        return 42

    with ThreadPoolExecutor(4) as pool:
        query.prefetch(pool, "step", slow)
        results = list(pool.map(lambda _: query.cached("step", slow), range(6)))
    assert results == [42] * 6 and len(calls) == 1 and "step" in query.timings


def test_a_failed_step_raises_in_every_thread_that_waits_for_it() -> None:
    query = ImageQuery(Image.new("RGB", (8, 8)))

    def broken() -> int:
        raise ValueError("cannot")

    with ThreadPoolExecutor(2) as pool:
        query.prefetch(pool, "step", broken)
        with pytest.raises(ValueError, match="cannot"):
            query.cached("step", broken)
