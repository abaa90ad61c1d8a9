from __future__ import annotations

import threading
import time

import pytest

from extranet.stats.cache import TtlCache


def test_values_are_reused_until_they_expire() -> None:
    now = [100.0]
    cache = TtlCache(300, clock=lambda: now[0])
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get_or_compute("k", compute) == (1, False)
    now[0] += 299
    assert cache.get_or_compute("k", compute) == (1, True)
    assert cache.get_or_compute("other", compute) == (2, False)
    now[0] += 2
    assert cache.get_or_compute("k", compute) == (3, False)


def test_one_computation_per_key_at_a_time() -> None:
    cache = TtlCache(300)
    calls: list[int] = []
    results: list[tuple[int, bool]] = []

    def compute() -> int:
        calls.append(1)
        time.sleep(0.2)
        return len(calls)

    threads = [
        threading.Thread(target=lambda: results.append(cache.get_or_compute("k", compute)))
        for _ in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert sorted(results) == [(1, False)] + [(1, True)] * 4


def test_a_failed_computation_is_not_kept() -> None:
    cache = TtlCache(300)

    def fail() -> int:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        cache.get_or_compute("k", fail)
    assert cache.get_or_compute("k", lambda: 2) == (2, False)
