"""Serving files from the data directory, and from nowhere else."""

from __future__ import annotations

from pathlib import Path, PurePosixPath


def inside_data_dir(data_dir: Path, relative: str) -> Path | None:
    """The file ``relative`` names under ``data_dir``, or None if it is not a plain file there.

    Refuses absolute paths, ``..`` parts and symbolic links leading elsewhere.
    """
    pure = PurePosixPath(relative)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        return None
    root = data_dir.resolve()
    target = (root / Path(*pure.parts)).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        return None
    return target
