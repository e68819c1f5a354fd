"""What the scoring command takes in: the video files to score, and where their diagnostics go.

Kept free of torch and the models so that bad input is reported before the heavy imports.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"}


class InputError(Exception):
    """Bad command-line input: a missing folder, weights file, or no video to score."""


def find_videos(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """Videos named directly, plus the video files directly inside named folders; sorted by file name."""
    videos: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            videos.extend(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
        elif item.is_file():
            videos.append(item)
        else:
            raise InputError(f"no such file or folder: {item}")
    names = [video.name for video in videos]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InputError(f"several inputs share the file name {duplicates[0]!r}; the CSV is keyed by file name")
    if not videos:
        raise InputError(f"no video files ({', '.join(sorted(VIDEO_SUFFIXES))}) in {', '.join(map(str, inputs))}")
    return sorted(videos, key=lambda p: p.name)


def diagnostics_path(output: str | os.PathLike) -> Path:
    output = Path(output)
    return output.with_name(output.stem + ".diagnostics.json")
