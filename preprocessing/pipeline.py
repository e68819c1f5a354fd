"""All five preprocessing steps in order, in one process: what preprocess_data.sh runs.

    python -m preprocessing.pipeline DATA_ROOT --device cpu --workers 4

1. detect_original_faces  face boxes of every original video
2. extract_crops          face crops (a fake cropped with its original's boxes)
3. generate_landmarks     5 landmarks per REAL crop
4. generate_diffs         SSIM difference masks, fake crop against its original's
5. generate_folds         folds.csv

One process instead of one per step: each step's start-up (torch, the detector's imports) is paid once.
Every step skips the videos it already finished, so an interrupted run is resumed by running it again.
Each step is also a command of its own (python -m preprocessing.<step> --help) with a few more options.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from core.cli import ArgumentParser, DefaultsHelpFormatter, at_least, detection_scale_option
from core.device import DEVICE_CHOICES
from preprocessing.boxes import LEGACY_SCALES

# which option goes to which step; --workers and --shard go to the four steps before the folds
DETECTION = ("--device", "--detection-scale", "--contrast-retry")
CROPS = ("--every", "--legacy-boxes")
FOLDS = ("--n-splits", "--all-crops", "--include-test-split")
EVERY_VIDEO_STEP = ("--workers", "--shard")


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__, formatter_class=DefaultsHelpFormatter)
    parser.add_argument("root_dir", metavar="DATA_ROOT", help="holds <part>/{*.mp4, metadata.json}")
    # Every default is the step's own (argparse.SUPPRESS: an option not given is not passed on).
    parser.add_argument(
        "--device", choices=DEVICE_CHOICES, default=argparse.SUPPRESS, help="where face detection runs (auto)"
    )
    parser.add_argument(
        "--detection-scale",
        type=checked_detection_scale,
        default=argparse.SUPPRESS,
        metavar="auto|FACTOR",
        help="detect_original_faces: resize factor for detection (0.5 with PIL, as the original solution; "
        "auto: by resolution, which small videos need)",
    )
    parser.add_argument(
        "--contrast-retry",
        action="store_true",
        default=argparse.SUPPRESS,
        help="detect_original_faces: search faceless dark frames again with their contrast stretched",
    )
    parser.add_argument(
        "--every",
        type=at_least(1),
        default=argparse.SUPPRESS,
        help="extract_crops: crop every N-th frame (10)",
    )
    parser.add_argument(
        "--legacy-boxes",
        choices=sorted(LEGACY_SCALES),
        default=argparse.SUPPRESS,
        help="extract_crops: read box files that do not name their coordinates (half: the original "
        "solution's)",
    )
    parser.add_argument(
        "--n-splits",
        type=at_least(2),
        default=argparse.SUPPRESS,
        help="generate_folds: number of folds (16, as the original solution)",
    )
    parser.add_argument(
        "--all-crops",
        action="store_true",
        default=argparse.SUPPRESS,
        help="generate_folds: every crop in folds.csv, not only the original solution's rows",
    )
    parser.add_argument(
        "--include-test-split",
        action="store_true",
        default=argparse.SUPPRESS,
        help='generate_folds: rows for the videos whose metadata "split" is "test" too (left out otherwise)',
    )
    parser.add_argument(
        "--workers",
        type=at_least(0),
        default=argparse.SUPPRESS,
        help="worker processes of each step (the CPU count, at most 8; 0: in this process)",
    )
    parser.add_argument(
        "--shard",
        default=argparse.SUPPRESS,
        metavar="I/N",
        help="process only the I-th of N disjoint shares of the videos (0-based), so that N machines "
        "can share one DATA_ROOT",
    )
    return parser.parse_args(argv)


def checked_detection_scale(text: str) -> str:
    """--detection-scale as typed, once detect_original_faces' own check accepts it."""
    detection_scale_option(text)
    return text


def forwarded(args: argparse.Namespace, names: tuple[str, ...]) -> list[str]:
    """The options among `names` that were given, written back as command-line options for a step."""
    options = []
    for name in names:
        value = getattr(args, name[2:].replace("-", "_"), None)
        if value is True:
            options.append(name)
        elif value is not None:
            options += [name, str(value)]
    return options


def step_commands(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """Each step's module and the options it gets, in the order they run."""
    common = ["--root-dir", args.root_dir, *forwarded(args, EVERY_VIDEO_STEP)]
    return [
        ("detect_original_faces", common + forwarded(args, DETECTION)),
        ("extract_crops", common + forwarded(args, CROPS)),
        ("generate_landmarks", common + forwarded(args, ("--device",))),
        ("generate_diffs", common),
        ("generate_folds", ["--root-dir", args.root_dir, "--out", "folds.csv", *forwarded(args, FOLDS)]),
    ]


def main(argv=None) -> int:
    for step, options in step_commands(parse_args(argv)):
        code = importlib.import_module(f"preprocessing.{step}").main(options)
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
