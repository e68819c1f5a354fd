"""What the scoring command takes in: the video files to score, and where their diagnostics go.

Kept free of torch and the models so that bad input is reported before the heavy imports.
"""
from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from core.cli import at_least
from core.device import DEVICE_CHOICES
from core.video import IMAGE_SUFFIXES

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"} | IMAGE_SUFFIXES  # photos: one frame


class InputError(Exception):
    """Bad command-line input: a missing folder, weights file, or no video to score."""


def find_videos(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """Videos named directly, plus the video files (and still photos) directly inside named folders; sorted by file name."""
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


def add_scoring_options(parser: argparse.ArgumentParser) -> None:
    """The options of how a video is scored that the scoring command and the inference benchmark share."""
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="where to run detection and the classifiers")
    parser.add_argument("--frames", type=at_least(1), default=32, help="evenly spaced frames sampled per video")
    parser.add_argument("--input-size", type=at_least(32), default=None,
                        help="side of the square face image the classifiers take (default: the size in the training config "
                        "saved beside each checkpoint, else 380, the released checkpoints' size)")
    parser.add_argument("--batch-size", type=at_least(1), default=None,
                        help="faces per classifier forward pass (default: 32 on CUDA, 4 on CPU with PyTorch, 1 with OpenVINO)")
    parser.add_argument("--parallel-batches", type=at_least(1), default=None,
                        help="batches classified side by side, each on its share of the CPU threads; the scores do not change "
                        "(default: 2 on a CPU with 2 or more threads, else 1)")


def add_backend_options(parser: argparse.ArgumentParser, several: bool = False) -> None:
    """--backend (several of them to compare, where `several`) and --cache-dir."""
    parser.add_argument("--backend", choices=("auto", "torch", "openvino"), default=["auto"] if several else "auto",
                        nargs="+" if several else None,
                        help="what runs the classifiers on the CPU: OpenVINO (fp32, the same scores, faster; converted once and "
                        "cached) or PyTorch; auto: OpenVINO when installed. CUDA always runs PyTorch"
                        + ("; several are timed in alternating rounds" if several else ""))
    parser.add_argument("--cache-dir", default=None,
                        help="where converted models are cached (default: $DFDC_CACHE_DIR, else ~/.cache/dfdc)")


def diagnostics_path(output: str | os.PathLike) -> Path:
    output = Path(output)
    return output.with_name(output.stem + ".diagnostics.json")


def check_inputs(args: argparse.Namespace) -> tuple[list[Path], list[Path]]:
    """The weights files and the videos to score; a missing one raises InputError before anything is loaded."""
    weights_dir = Path(args.weights_dir)
    if not weights_dir.is_dir():
        raise InputError(f"weights folder not found: {weights_dir} (download_weights.sh fetches the released ones)")
    weights = [weights_dir / name for name in args.models]
    for path in weights:
        if not path.is_file():
            raise InputError(f"weights file not found: {path}")
    return weights, find_videos(args.test_dir)
