"""The collector's process-wide settings are put back after the work that changed them
(``ledger.collector``: an import's ``quiet_collector``, a month's ``without_cyclic_gc``)."""

from __future__ import annotations

import gc
import weakref

import pytest

from ledger import collector


def test_settings_put_back_after_nested_and_failed_imports() -> None:
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    with pytest.raises(RuntimeError), collector.quiet_collector():
        assert gc.get_threshold()[0] == collector.QUIET_THRESHOLD
        with collector.quiet_collector():
            pass
        # The inner import's end does not put them back while the outer one runs.
        assert gc.get_threshold()[0] == collector.QUIET_THRESHOLD
        raise RuntimeError("the import failed")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen


def test_objects_the_process_froze_stay_frozen() -> None:
    gc.freeze()
    try:
        with collector.quiet_collector():
            pass
        # Still frozen (``unfreeze`` would empty the permanent generation; its
        # count may drop by the frozen objects freed meanwhile).
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_the_collector_is_off_for_a_burst_and_back_on_after_nested_and_failed_ones() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector.without_cyclic_gc():
        assert not gc.isenabled()
        with collector.without_cyclic_gc():
            assert not gc.isenabled()
        # The inner burst found it off and leaves it off.
        assert not gc.isenabled()
        raise RuntimeError("the burst failed")
    assert gc.isenabled()


def test_a_burst_leaves_a_collector_switched_off_by_the_process_off() -> None:
    gc.disable()
    try:
        with collector.without_cyclic_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_warmed_process_collects_its_garbage_then_freezes_what_survived() -> None:
    class Node:
        other: object = None

    before = gc.get_freeze_count()
    # Off, so that only ``freeze_survivors`` can collect the cycle (``gc.collect`` runs
    # with the collector off).
    with collector.without_cyclic_gc():
        garbage = Node()
        garbage.other = garbage  # a cycle: only a collection frees it
        gone = weakref.ref(garbage)
        del garbage
        assert gone() is not None
        try:
            collector.freeze_survivors()
            assert gone() is None, "collected before the freeze, not frozen with the rest"
            assert gc.get_freeze_count() > before
        finally:
            gc.unfreeze()
