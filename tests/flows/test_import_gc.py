"""The collector's process-wide settings are put back after an import (``importer._quiet_gc``)."""

from __future__ import annotations

import gc

import pytest

from flows import importer


def test_settings_put_back_after_nested_and_failed_imports() -> None:
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    with pytest.raises(RuntimeError), importer._quiet_gc():
        assert gc.get_threshold()[0] == importer._IMPORT_GC_THRESHOLD
        with importer._quiet_gc():
            pass
        # The inner import's end does not put them back while the outer one runs.
        assert gc.get_threshold()[0] == importer._IMPORT_GC_THRESHOLD
        raise RuntimeError("the import failed")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen


def test_objects_the_process_froze_stay_frozen() -> None:
    gc.freeze()
    try:
        with importer._quiet_gc():
            pass
        # Still frozen (``unfreeze`` would empty the permanent generation; its
        # count may drop by the frozen objects freed meanwhile).
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
