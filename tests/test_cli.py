"""Bad numbers on the command line of every entry point: one line naming the option, exit code 2, nothing done."""
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.parametrize("command, option, value, expected", [
    (["predict_folder.py", "--models", "m", "--test-dir", "."], "--workers", "-1", "must be 0 or more, got -1"),
    (["-m", "preprocessing.extract_crops", "--root-dir", "."], "--every", "0", "must be 1 or more, got 0"),
    (["-m", "preprocessing.detect_original_faces", "--root-dir", "."], "--workers", "-1", "must be 0 or more, got -1"),
    (["-m", "preprocessing.generate_folds", "--root-dir", "."], "--n-splits", "1", "must be 2 or more, got 1"),
    (["train_classifier.py", "--config", "configs/tiny.json", "--data-dir", ".", "--folds-csv", "f.csv"], "--test-every", "0",
     "must be 1 or more, got 0"),
    (["plot_loss.py", "--log-file", "x.log"], "--best", "1.5", "'1.5' is not a whole number"),
    (["-m", "benchmarks.benchmark_inference", "--videos", "."], "--parallel-batches", "0", "must be 1 or more, got 0"),
])
def test_bad_numbers_are_one_line_errors(command, option, value, expected):
    done = subprocess.run([sys.executable, *command, option, value], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == f"error: argument {option}: {expected} (see --help)\n"
