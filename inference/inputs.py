"""What the scoring command takes in: the video files to score, and where their diagnostics go.

Kept free of torch and the models so that bad input is reported before the heavy imports.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

from core.cli import at_least
from core.device import DEVICE_CHOICES
from core.video import IMAGE_SUFFIXES

# Containers people bring (phones, cameras, downloads, screen recorders); an animated GIF is a video too.
# Photos: one frame.
VIDEO_SUFFIXES = {
    ".mp4",
    ".m4v",
    ".mov",
    ".mkv",
    ".webm",
    ".avi",
    ".wmv",
    ".flv",
    ".mpg",
    ".mpeg",
    ".ts",
    ".mts",
    ".m2ts",
    ".3gp",
    ".ogv",
    ".gif",
} | IMAGE_SUFFIXES


class InputError(Exception):
    """Bad command-line input: a missing folder, weights file, or no video to score."""


def warn_on_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def find_videos(
    inputs: Sequence[str | os.PathLike], warn: Callable[[str], None] = warn_on_stderr
) -> list[Path]:
    """Files named directly, and every entry named like a video or photo (VIDEO_SUFFIXES) in the named folders
    and their subfolders, each once, sorted by result name (see result_names).

    An entry is listed also when it cannot be read (a dangling symbolic link, a file this user may not read, a
    folder named clip.mp4), so that it gets a row with its reason. Hidden entries (.git, macOS's ._clip.mp4)
    are skipped. Each named folder that holds nothing to score is a warning; nothing to score in any input is
    an InputError.
    """
    videos: dict[str, Path] = {}
    fruitless = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = _search(item, warn)
            fruitless += [] if found else [item]
            videos.update((os.path.abspath(video), video) for video in found)
        elif item.exists() or item.is_symlink():
            videos.setdefault(os.path.abspath(item), item)
        else:
            raise InputError(f"no such file or folder: {item}")
    if not videos:
        raise InputError(
            f"no video files ({', '.join(sorted(VIDEO_SUFFIXES))}) in {', '.join(map(str, inputs))}"
        )
    for folder in fruitless:
        warn(f"{folder}: no video or photo in this folder or its subfolders; nothing scored from it")
    names = result_names(list(videos.values()))
    return sorted(videos.values(), key=names.__getitem__)


def _search(folder: Path, warn: Callable[[str], None]) -> list[Path]:
    """Entries named like videos or photos in `folder` and below; a folder reached twice through links is
    searched once."""
    found: list[Path] = []
    searched = {folder.resolve()}
    pending = [folder]
    while pending:
        directory = pending.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as error:
            warn(f"{directory}: cannot list this folder ({error.strerror or error}); nothing scored from it")
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            if path.suffix.lower() in VIDEO_SUFFIXES:
                found.append(path)
            elif _is_folder(entry) and path.resolve() not in searched:
                searched.add(path.resolve())
                pending.append(path)
    return found


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows a symbolic link
    except OSError:
        return False


def result_names(videos: Sequence[Path]) -> dict[Path, str]:
    """The name each video gets in the CSV: its file name, or, where several files share one, the shortest
    ending of their paths that tells them apart (dfdc_train_part_0/clip.mp4 and
    dfdc_train_part_1/clip.mp4)."""
    by_name: dict[str, list[Path]] = {}
    for video in videos:
        by_name.setdefault(video.name, []).append(video)
    names = {}
    for name, same in by_name.items():
        if len(same) == 1:
            names[same[0]] = name
            continue
        parts = [Path(os.path.abspath(video)).parts for video in same]
        depth = 2
        while len({path[-depth:] for path in parts}) < len(parts):
            depth += 1
        names.update(
            (video, PurePosixPath(*path[-depth:]).as_posix()) for video, path in zip(same, parts, strict=True)
        )
    return names


def add_scoring_options(parser: argparse.ArgumentParser, runtime=None) -> None:
    """The options of how a video is scored that the scoring command and the inference benchmark share; those
    that change where and how fast, not the scores (device, batches), go to the `runtime` group where one is
    given."""
    runtime = runtime or parser
    runtime.add_argument(
        "--device", choices=DEVICE_CHOICES, default="auto", help="where to run detection and the classifiers"
    )
    parser.add_argument(
        "--frames", type=at_least(1), default=32, help="evenly spaced frames sampled per video"
    )
    parser.add_argument(
        "--input-size",
        type=at_least(32),
        default=None,
        help="side of the square face image the classifiers take (default: the size in the training config "
        "saved beside each checkpoint, else 380, the released checkpoints' size)",
    )
    runtime.add_argument(
        "--batch-size",
        type=at_least(1),
        default=None,
        help="faces per classifier forward pass (default: 32 on CUDA, 4 on CPU with PyTorch, 1 with "
        "OpenVINO)",
    )
    runtime.add_argument(
        "--parallel-batches",
        type=at_least(1),
        default=None,
        help="batches classified side by side, each on its share of the CPU threads; the scores do not "
        "change (default: 2 on a CPU with 2 or more threads, else 1)",
    )


def add_backend_options(parser: argparse.ArgumentParser, several: bool = False) -> None:
    """--backend (several of them to compare, where `several`) and --cache-dir."""
    parser.add_argument(
        "--backend",
        choices=("auto", "torch", "openvino"),
        default=["auto"] if several else "auto",
        nargs="+" if several else None,
        help="what runs the classifiers on the CPU: OpenVINO (fp32, the same scores, faster; converted once "
        "and cached) or PyTorch; auto: OpenVINO when installed. CUDA always runs PyTorch"
        + ("; several are timed in alternating rounds" if several else ""),
    )
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="where converted models are cached (default: $DFDC_CACHE_DIR, else ~/.cache/dfdc)",
    )


def diagnostics_path(output: str | os.PathLike) -> Path:
    output = Path(output)
    return output.with_name(output.stem + ".diagnostics.json")
