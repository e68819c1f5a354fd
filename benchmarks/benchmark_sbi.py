"""Self-blended pairs per second that one data-loading worker makes, the work a GPU waits for in the SBI mode.

    python -m benchmarks.benchmark_sbi --data-dir DATA_ROOT --folds-csv DATA_ROOT/folds.csv --size 380 \
        --pairs 200

Each pair is what a training worker does per real crop: read the PNG and its 68 landmarks, resize to --size,
blend, flip and augment both images, pad and normalise them into tensors. It runs in this one process on one
thread (torch and OpenCV), so the figure is per worker: a loader with W workers makes about W times as many on
W free cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core.cli import ArgumentParser, at_least


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data-dir",
        required=True,
        help="preprocessed DATA_ROOT with landmarks68/ (preprocessing.generate_landmarks68)",
    )
    parser.add_argument(
        "--folds-csv",
        required=True,
        help="its folds.csv; every REAL crop with landmarks is used, whatever its fold",
    )
    parser.add_argument(
        "--size", type=at_least(32), default=380, help="model input side the pairs are made at"
    )
    parser.add_argument("--pairs", type=at_least(1), default=200, help="pairs to time (after 5 untimed ones)")
    parser.add_argument(
        "--rounds", type=at_least(1), default=3, help="timed rounds; the best and the worst are printed"
    )
    args = parser.parse_args(argv)
    if not Path(args.folds_csv).is_file():
        parser.exit(2, f"error: folds file not found: {args.folds_csv}\n")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    import cv2
    import pandas as pd
    import torch

    from training.sbi_dataset import SelfBlendedPairs, sbi_rows

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    folds = pd.read_csv(args.folds_csv, dtype={"video": str, "original": str}, keep_default_na=False)
    rows = sbi_rows(args.data_dir, folds)
    if not len(rows):
        print(f"error: no REAL crop with 68 landmarks under {args.data_dir}", file=sys.stderr)
        return 2
    pairs = SelfBlendedPairs(
        args.data_dir, rows, args.size, {"mean": [0, 0, 0], "std": [1, 1, 1]}, train=True
    )
    for index in range(5):
        pairs[index % len(rows)]
    rates = []
    for round_number in range(args.rounds):
        pairs.set_epoch(round_number)
        started = time.perf_counter()
        for index in range(args.pairs):
            pairs[index % len(rows)]
        rates.append(args.pairs / (time.perf_counter() - started))
    print(
        f"{len(rows)} real crops at {args.size} px: {min(rates):.1f}-{max(rates):.1f} pairs/s per worker "
        f"({2 * min(rates):.0f}-{2 * max(rates):.0f} training images/s), {args.rounds} rounds of {args.pairs}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
