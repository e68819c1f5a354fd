"""Bad numbers on the command line of every entry point: one line naming the option, exit code 2, nothing
done.

Each entry point's main(argv) runs in this process: the answer comes from its parser, before anything is
loaded, so a separate interpreter per case would only add its start-up time."""

import importlib

import pytest


@pytest.mark.parametrize(
    "module, arguments, option, value, expected",
    [
        (
            "predict_folder",
            ["--models", "m", "--test-dir", "."],
            "--workers",
            "-1",
            "must be 0 or more, got -1",
        ),
        ("preprocessing.extract_crops", ["--root-dir", "."], "--every", "0", "must be 1 or more, got 0"),
        (
            "preprocessing.detect_original_faces",
            ["--root-dir", "."],
            "--workers",
            "-1",
            "must be 0 or more, got -1",
        ),
        ("preprocessing.generate_folds", ["--root-dir", "."], "--n-splits", "1", "must be 2 or more, got 1"),
        (
            "train_classifier",
            ["--config", "configs/tiny.json", "--data-dir", ".", "--folds-csv", "f.csv"],
            "--test-every",
            "0",
            "must be 1 or more, got 0",
        ),
        ("plot_loss", ["--log-file", "x.log"], "--best", "1.5", "'1.5' is not a whole number"),
        (
            "benchmarks.benchmark_inference",
            ["--videos", "."],
            "--parallel-batches",
            "0",
            "must be 1 or more, got 0",
        ),
    ],
)
def test_bad_numbers_are_one_line_errors(module, arguments, option, value, expected, capsys):
    with pytest.raises(SystemExit) as exit_:
        importlib.import_module(module).main([*arguments, option, value])
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: argument {option}: {expected} (see --help)\n" and captured.out == ""
