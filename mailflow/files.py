"""Writing a file so that a reader (or a crash) never sees half of it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def write_temporary(folder: Path, chunks: Iterable[bytes]) -> Path:
    """Write `chunks` to a new temporary file in `folder` and flush it to disk; nothing is left behind
    if writing fails. The caller renames it into place."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_atomically(target: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `target`, flush it to disk, then rename it into place."""
    tmp = write_temporary(target.parent, (data,))
    try:
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def why_not_creatable(path: Path) -> str | None:
    """Why `path`, absent, could not be created (its nearest existing parent is not a folder this process
    may write in, or cannot be looked at), or None when it could. Creates nothing (`mailflow check`)."""
    try:
        parent = next(folder for folder in path.parents if folder.exists())
        if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
            return None
    except OSError as exc:
        return f"{path}: cannot be looked at ({exc.strerror})"
    return f"{path}: absent, and cannot be created in {parent}"
