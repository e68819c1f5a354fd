"""What every preprocessing step shares: command-line options, sharding, finishing outputs atomically, the
report."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from collections.abc import Callable, Iterable
from multiprocessing import Pool
from pathlib import Path

import cv2
from tqdm import tqdm

from core.allocator import keep_freed_memory
from core.atomic import write_json_atomic
from core.cli import at_least
from core.device import DEVICE_CHOICES, DeviceUnavailableError, resolve_device
from core.shards import parse_shard
from preprocessing.dataset import load_dataset


def add_common_arguments(parser: argparse.ArgumentParser, device: bool = False) -> None:
    parser.add_argument(
        "--root-dir",
        required=True,
        help="DATA_ROOT: holds <part>/{*.mp4, metadata.json}; outputs go beside them",
    )
    parser.add_argument(
        "--workers",
        type=at_least(0),
        default=min(os.cpu_count() or 1, 8),
        help="worker processes for decoding and image work (0: decode in the main process)",
    )
    parser.add_argument(
        "--shard",
        default=None,
        help="I/N: process only the I-th of N disjoint shares of the videos (0-based), so N machines can "
        "share one DATA_ROOT; defaults to torchrun's RANK/WORLD_SIZE when set, else 0/1",
    )
    if device:
        parser.add_argument(
            "--device", choices=DEVICE_CHOICES, default="auto", help="where face detection runs"
        )


def write_image(path: Path, image) -> None:
    """cv2.imwrite that fails loudly: OpenCV only returns False for a full disk or a bad path."""
    try:
        written = cv2.imwrite(str(path), image)
    except cv2.error as error:
        raise OSError(f"cannot write {path}: {str(error).strip().splitlines()[-1]}") from error
    if not written:
        raise OSError(f"cannot write {path} (disk full or folder not writable?)")


class StepReport:
    """Counts of one step's run and the videos it could not use, kept across runs in DATA_ROOT/reports/.

    A video stays in the report until a later run processes it successfully.
    """

    def __init__(self, root: Path, step: str, shard: tuple[int, int]):
        suffix = "" if shard == (0, 1) else f".shard-{shard[0]}-of-{shard[1]}"
        self.step = step
        self.path = root / "reports" / f"{step}{suffix}.json"
        self.problems: dict[str, str] = {}
        if self.path.is_file():
            try:
                self.problems = json.loads(self.path.read_text()).get("problems", {})
            except ValueError:
                self.problems = {}
        self.done = self.skipped = self.failed = 0
        self.extra: dict = {}  # step-specific findings, written beside the counts

    def success(self, video: str) -> None:
        self.done += 1
        self.problems.pop(video, None)

    def already_done(self, video: str) -> None:
        self.skipped += 1

    def problem(self, video: str, reason: str, counts_as_failure: bool = True) -> None:
        self.problems[video] = reason
        self.failed += counts_as_failure

    def write(self) -> str:
        write_json_atomic(
            self.path,
            {
                "step": self.step,
                "processed": self.done,
                "already_done": self.skipped,
                "failed": self.failed,
                **self.extra,
                "problems": dict(sorted(self.problems.items())),
            },
        )
        return (
            f"{self.step}: {self.done} processed, {self.skipped} already done, {self.failed} failed; "
            f"{len(self.problems)} videos with problems listed in {self.path}"
        )


def start_step(parser: argparse.ArgumentParser, step: str, argv=None):
    """Parse the options, load the dataset and the step's report; bad input ends the program with a one-line
    error.

    Returns (args, dataset, shard, report), plus the torch device when the parser has --device.
    """
    args = parser.parse_args(argv)
    keep_freed_memory()
    try:
        shard = parse_shard(args.shard)
        dataset = load_dataset(args.root_dir)
        device = resolve_device(args.device) if hasattr(args, "device") else None
    except (argparse.ArgumentTypeError, FileNotFoundError, DeviceUnavailableError) as error:
        parser.exit(2, f"error: {error}\n")
    return args, dataset, shard, StepReport(dataset.root, step, shard), device


def run_in_pool(
    job: Callable[[tuple], tuple[str, str | None]],
    jobs: Iterable[tuple],
    count: int,
    workers: int,
    report: StepReport,
) -> None:
    """Run `job` over the jobs in worker processes (none: here, for --workers 0); each returns (video id,
    problem or None) for the report."""
    with contextlib.ExitStack() as stack:
        if workers > 0:
            results = stack.enter_context(Pool(workers)).imap_unordered(job, jobs)
        else:
            results = map(job, jobs)
        for video_id, problem in tqdm(results, total=count, desc=report.step, unit="video"):
            if problem:
                report.problem(video_id, problem)
            else:
                report.success(video_id)
