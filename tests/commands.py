"""The command lines the tests run, written once: the options of train_classifier.py and predict_folder.py
that nearly every test gives, followed by the test's own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tests.conftest import REPO

if TYPE_CHECKING:  # training imports timm and albumentations: only the tests that train need them
    from training.trainer import TrainOptions


def train_argv(config, data_dir, output_dir, log_dir, *extra) -> list[str]:
    """train_classifier.py's arguments: `data_dir` and its folds.csv, on the CPU, without loader
    processes."""
    return [
        "--config",
        str(config),
        "--data-dir",
        str(data_dir),
        "--folds-csv",
        str(Path(data_dir) / "folds.csv"),
        "--output-dir",
        str(output_dir),
        "--logdir",
        str(log_dir),
        "--workers",
        "0",
        "--device",
        "cpu",
        *map(str, extra),
    ]


def crop_row(video: str, frame: int, label: int, fold: int) -> dict:
    """A folds.csv row of a synthetic dataset: the crop of face 0 at `frame`, with no original named."""
    return {
        "video": video,
        "file": f"crops/{video}/{frame}_0.png",
        "label": label,
        "original": "",
        "frame": frame,
        "fold": fold,
    }


def predict_argv(checkpoint: Path, test_dir, output, *extra) -> list[str]:
    """predict_folder.py's arguments: one checkpoint (its folder and name) scoring `test_dir` into `output` on
    the CPU."""
    return [
        "--weights-dir",
        str(checkpoint.parent),
        "--models",
        checkpoint.name,
        "--test-dir",
        str(test_dir),
        "--output",
        str(output),
        "--device",
        "cpu",
        *map(str, extra),
    ]


def run_predict(*args, timeout: float = 900) -> subprocess.CompletedProcess:
    """predict_folder.py in a process of its own."""
    return subprocess.run(
        [sys.executable, "predict_folder.py", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def train_options(config: dict, data_dir: Path, output_dir: Path, fold: int, **extra) -> TrainOptions:
    """What train_argv says, for a Trainer made in the test's process: `data_dir` and its folds.csv, logs in
    `data_dir`/logs."""
    from training.trainer import TrainOptions

    return TrainOptions(
        config=config,
        data_dir=data_dir,
        folds_csv=data_dir / "folds.csv",
        fold=fold,
        output_dir=output_dir,
        log_dir=data_dir / "logs",
        workers=0,
        device="cpu",
        **extra,
    )
