"""The README's benchmark commands run and report what they promise (small settings: these check the scripts,
not speed)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from demo.synthetic_dataset import DatasetOptions, make_dataset
from tests.commands import run_main
from tests.conftest import REAL_VIDEOS, REPO, shared_video

# each runs a benchmark script: the classifier's and training's in this process (run_in_process), the others
# in a process of their own (benchmark_inference and benchmark_report report the process's peak memory,
# benchmark_preprocessing starts worker processes)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


# a random B0 on 4 frames, faces of 128 px: the scripts run every step, in seconds on a CPU
SMALL_RUN = ("--encoder", "tf_efficientnet_b0_ns", "--frames", 4, "--input-size", 128)


def run_module(*args) -> str:
    done = subprocess.run(
        [sys.executable, "-m", *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def run_in_process(module, *args) -> str:
    """What `python -m module args` prints, from the module's main(argv) in this process (run_main)."""
    done = run_main(module, *args)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def inference_command(*extra) -> list:
    """benchmark_inference on the FF++ original 004 with SMALL_RUN, one video at a time (--workers 0)."""
    video = shared_video(REAL_VIDEOS["ffpp_original_004"])
    return [
        "benchmarks.benchmark_inference",
        "--videos",
        video,
        *SMALL_RUN,
        "--no-warmup",
        "--workers",
        0,
        *extra,
    ]


@pytest.fixture(scope="module")
def inference_benchmark(tmp_path_factory) -> str:
    """What benchmark_inference prints for this project's setup under both backends with the eager floor: run
    once for the two tests that read it (its openvino row is what `--setup this` alone prints on a CPU with
    OpenVINO installed)."""
    cache = tmp_path_factory.mktemp("openvino_cache")
    return run_module(
        *inference_command(
            "--device", "cpu", "--backend", "torch", "openvino", "--floor", "--cache-dir", cache
        )
    )


def test_benchmark_inference_splits_time_and_reports_memory_for_both_backends(inference_benchmark):
    out = inference_benchmark
    for word in ("decode", "detect", "classify", "peak", "eager floor"):
        assert word in out, out
    for backend in ("torch", "openvino"):
        assert re.search(
            rf"^{backend}: mean \d+\.\d+s per video over 1 runs \(\d+\.\d+x the eager floor",
            out,
            re.MULTILINE,
        ), out


def test_benchmark_classifier_compares_the_setups_and_backends(tmp_path):
    out = run_in_process(
        "benchmarks.benchmark_classifier",
        "--encoder",
        "tf_efficientnet_b0_ns",
        "--input-size",
        64,
        "--batch-sizes",
        1,
        "--original-batch",
        2,
        "--rounds",
        1,
        "--device",
        "cpu",
        "--backend",
        "torch",
        "openvino",
        "--cache-dir",
        tmp_path,
    )
    for setup in ("this setup, batch 1", "openvino, batch 1", "original, batch 2"):
        assert re.search(rf"{setup} +min \d+\.\d+", out), out


def test_benchmark_preprocessing_reports_videos_per_minute(tmp_path, detector):
    make_dataset(tmp_path, DatasetOptions(parts=1, reals_per_part=1, fakes_per_real=0, frames=6), detector)
    video = next((tmp_path / "dfdc_train_part_0").glob("*.mp4"))
    out = run_module(
        "benchmarks.benchmark_preprocessing", "--videos", video, "--workers", 1, "--device", "cpu"
    )
    assert "videos/min" in out or "videos per minute" in out, out


def test_benchmark_training_reports_images_per_second(data_root, tmp_path):
    config = json.loads((REPO / "configs" / "tiny.json").read_text())
    config["optimizer"]["batch_size"] = 4
    (tmp_path / "tiny.json").write_text(json.dumps(config))
    out = run_in_process(
        "benchmarks.benchmark_training",
        "--config",
        tmp_path / "tiny.json",
        "--data-dir",
        data_root,
        "--folds-csv",
        data_root / "folds.csv",
        "--batches",
        3,
        "--workers",
        0,
        "--device",
        "cpu",
    )
    assert "images" in out and "wait" in out, out


def test_benchmark_report_times_the_runs_the_report_and_the_heat_maps():
    video = shared_video(REAL_VIDEOS["ffpp_original_004"])
    out = run_module(
        "benchmarks.benchmark_report",
        "--videos",
        video,
        *SMALL_RUN,
        "--rounds",
        1,
        "--explain-faces",
        2,
        "--device",
        "cpu",
    )
    assert re.search(
        r"--explain: \d+\.\d+ s per face and model \(2 faces of 004\.mp4\), peak memory \d+\.\d+ GB", out
    ), out
    assert re.search(r"round 1: --report +\d+\.\d+ s \(final report step \d+\.\d+ s\)", out), out
    assert re.search(r"whole runs: plain .* with --report .*: [+-]\d+\.\d+%", out), out
    assert re.search(
        r"report's own work per video: thumbnails \d+ ms \+ page \d+ ms = \d+\.\d+% of a plain run", out
    ), out


def test_benchmark_inference_times_the_original_setup_on_the_same_video(inference_benchmark):
    # (setup, the label of its row, what the benchmark printed)
    runs = [
        ("this", "openvino", inference_benchmark),
        ("original", "original", run_module(*inference_command("--device", "cpu", "--setup", "original"))),
    ]
    faces = {}
    for setup, label, out in runs:
        assert f"setup: {setup}" in out, out
        row = re.search(
            rf"^{label} +004\.mp4 +frames +(\d+) faces +(\d+) .*classify +\d+\.\d+s \((\d+\.\d+)s/face\)",
            out,
            re.MULTILINE,
        )
        assert row and int(row.group(1)) == 4 and float(row.group(3)) > 0, out
        faces[setup] = int(row.group(2))
    # a face in each of the 4 frames; the last one holds up to two more near the thresholds, which either
    # detector may miss
    assert all(4 <= count <= 6 for count in faces.values()), faces
