"""Videos per minute for preprocessing steps 1 (face boxes on every frame) and 2 (crops), on the present
device.

    python -m benchmarks.benchmark_preprocessing \
        --videos ../shared/data/ffpp/original_sequences/youtube/c23/videos

The videos are linked into a temporary DATA_ROOT as REAL originals, so step 1
detects on every frame of each and step 2 crops every 10th frame.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import torch

from core.allocator import keep_freed_memory
from core.cli import ArgumentParser, at_least
from core.device import DEVICE_CHOICES, resolve_device
from inference.inputs import find_videos
from preprocessing import detect_original_faces, extract_crops


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", nargs="+", required=True, help="video files or folders of videos")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="where face detection runs")
    parser.add_argument(
        "--workers", type=at_least(0), default=2, help="decoding worker processes (0: in the main process)"
    )
    args = parser.parse_args(argv)
    keep_freed_memory()
    device = resolve_device(args.device)
    videos = find_videos(args.videos)
    frames = sum(int(cv2.VideoCapture(str(v)).get(cv2.CAP_PROP_FRAME_COUNT)) for v in videos)
    with tempfile.TemporaryDirectory() as tmp:
        part = Path(tmp) / "part"
        part.mkdir()
        for video in videos:
            (part / video.name).symlink_to(video.resolve())
        (part / "metadata.json").write_text(
            json.dumps({v.name: {"label": "REAL", "original": None} for v in videos})
        )
        common = ["--root-dir", tmp, "--workers", str(args.workers)]
        print(
            f"device: {device}; {len(videos)} videos, {frames} frames; torch threads "
            f"{torch.get_num_threads()}"
        )
        for name, step, extra in (
            ("1 detect_original_faces", detect_original_faces, ["--device", args.device]),
            ("2 extract_crops", extract_crops, []),
        ):
            started = time.perf_counter()
            step.main(common + extra)
            elapsed = time.perf_counter() - started
            print(
                f"step {name}: {elapsed:.1f}s, {len(videos) / elapsed * 60:.1f} videos/min, "
                f"{frames / elapsed:.1f} frames/s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
