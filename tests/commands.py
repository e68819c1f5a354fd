"""The command lines the tests run, written once: the options of train_classifier.py and predict_folder.py
that nearly every test gives, followed by the test's own."""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
import random
import subprocess
import sys
import traceback
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


def run_main(module: str, *args) -> subprocess.CompletedProcess:
    """`python -m module args` (`python module.py args`) answered by the module's main(argv) in this process,
    without the seconds a new interpreter spends importing torch, timm and the face detector.

    What it writes to sys.stdout and sys.stderr, and what it logs (the INFO lines its logging.basicConfig
    would print in a process of its own), come back as the CompletedProcess's stdout and stderr; its return
    value, or the code of a SystemExit, as the returncode; an exception it lets out, as a process would
    show it: the traceback on stderr and returncode 1. Run as from the repository's root, with sys.argv[0]
    its file, as the process would see them. What a script may change in the process is put back: the
    working directory, os.environ, sys.argv, the root logger, torch's thread count and the random number
    generators' states (a training run seeds them).

    Not for what needs a process of its own: a kill or a timeout, torchrun, what is read from the
    environment at import time, what C libraries write straight to file descriptor 2. The allocator
    settings of core.allocator.keep_freed_memory() stay: glibc cannot be asked for its previous ones."""
    import numpy as np
    import torch

    script = importlib.import_module(module)
    argv = [str(arg) for arg in args]
    stdout, stderr = io.StringIO(), io.StringIO()
    # what logging.basicConfig(level=INFO, format="%(message)s") gives a script's own process; its call here
    # then does nothing, since the root logger has a handler
    log = logging.StreamHandler(stderr)
    log.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    root_level, root_handlers = root.level, list(root.handlers)
    cwd, environment, sys_argv, threads = os.getcwd(), dict(os.environ), sys.argv, torch.get_num_threads()
    random_state, numpy_state, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    root.addHandler(log)
    root.setLevel(logging.INFO)
    sys.argv = [script.__file__, *argv]
    os.chdir(REPO)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                code = script.main(argv)
            except SystemExit as exit_:
                code = exit_.code
                if code is not None and not isinstance(code, int):  # as the interpreter: a message, 1
                    print(code, file=sys.stderr)
                    code = 1
            except Exception:
                traceback.print_exc()
                code = 1
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(environment)
        sys.argv = sys_argv
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        random.setstate(random_state)
        np.random.set_state(numpy_state)
        torch.set_rng_state(torch_state)
        root.setLevel(root_level)
        root.handlers[:] = root_handlers
    return subprocess.CompletedProcess(
        [sys.executable, "-m", module, *argv], code or 0, stdout.getvalue(), stderr.getvalue()
    )


def run_predict(*args) -> subprocess.CompletedProcess:
    """predict_folder.py, in this process (run_main)."""
    return run_main("predict_folder", *args)


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
