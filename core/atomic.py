"""Write files so that a reader never sees a half-written one."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; move it over `path` on success.

    The temporary name keeps the target's suffix so that writers which pick a
    format from the extension (cv2.imwrite, np.save, torch.save) still work.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.chmod(0o666 & ~current_umask())  # mkstemp makes it private; the result should look like any new file
    try:
        yield tmp
        fsync_path(tmp)
        os.replace(tmp, target)
        fsync_path(target.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a file's or a folder's contents to the disk, so that a rename after it survives a power cut."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if Path(path).is_dir() else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once: os.umask can only be read by setting it, which races with other threads


def current_umask() -> int:
    return _UMASK


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike, data, indent: int | None = 1) -> None:
    write_text_atomic(path, json.dumps(data, indent=indent) + "\n")


@contextlib.contextmanager
def atomic_directory(target: Path):
    """Yield a temporary folder beside `target`; it becomes `target` only when the block finishes.

    A rerun trusts a video's output folder only if it exists, so a killed run leaves nothing it would mistake
    for finished work. The files and the folder are flushed to the disk before the rename, so a finished
    folder also survives a power cut; an older `target` is renamed aside first and removed last, so there is
    never a moment without one or the other.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    tmp.chmod(0o777 & ~current_umask())
    aside = None
    try:
        yield tmp
        for item in tmp.iterdir():
            fsync_path(item)
        fsync_path(tmp)
        if target.exists():
            aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            target.rename(aside / target.name)
        try:
            tmp.rename(target)
        except BaseException:
            if aside is not None:
                (aside / target.name).rename(target)  # the old one goes back: never neither
            raise
        fsync_path(target.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
        if aside is not None and target.exists():
            shutil.rmtree(aside)
