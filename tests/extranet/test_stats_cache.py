from __future__ import annotations

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
