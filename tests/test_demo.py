"""The README's main command, run_demo.sh, end to end on CPU (fewer held-out clips, frames and epochs than its
default)."""

from __future__ import annotations

import csv
import json
import subprocess

import cv2
import numpy as np
import pytest

from core.checkpoints import load_checkpoint
from core.faces import crop_face
from core.images import face_to_model_input
from core.video import read_frames_at
from inference.explain import decode_map
from tests.conftest import REPO

# 8 of configs/tiny.json's 12 epochs (the schedule scaled to them): a third less training for the suite's
# budget, with every bar below still met (benchmarks/README.md, Test suite)
REDUCED = [
    "--device",
    "cpu",
    "--validation-reals",
    "2",
    "--held-out-reals",
    "4",
    "--frames",
    "24",
    "--epochs",
    "8",
]
RUN = "demo_DeepFakeClassifier_resnet18_1"
# the whole demo: synthetic clips, preprocessing, training, scoring
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def run_demo(out) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "run_demo.sh", "--out", str(out), *REDUCED],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1500,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    done = run_demo(out)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out, done


def test_demo_learns_and_says_where_everything_went(demo):
    out, done = demo
    report = json.loads((out / "evaluation.json").read_text())
    assert (report["videos"], report["fakes"], report["reals"]) == (20, 16, 4)
    assert report["auc"] >= 0.9 and report["log_loss"] < 0.5
    assert f"AUC {report['auc']:.4f} (meets the 0.9 bar)" in done.stdout
    for name in (
        "predictions.csv",
        "predictions.diagnostics.json",
        "loss.png",
        "evaluation.json",
        "predictions.roc.png",
        f"weights/{RUN}_best",
        "report/index.html",
    ):
        assert str(out / name) in done.stdout
    for png in ("loss.png", "predictions.roc.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"


def test_demo_scores_every_held_out_clip_with_the_best_checkpoint(demo):
    out, _ = demo
    held_out = out / "heldout" / "dfdc_train_part_2"
    metadata = json.loads((held_out / "metadata.json").read_text())
    rows = list(csv.DictReader((out / "predictions.csv").open()))
    assert [row["filename"] for row in rows] == sorted(metadata)
    assert all(0 <= float(row["label"]) <= 1 for row in rows)
    diagnostics = json.loads((out / "predictions.diagnostics.json").read_text())
    videos = diagnostics["videos"]
    assert sorted(videos) == sorted(metadata) and all(len(video["faces"]) >= 20 for video in videos.values())
    best = load_checkpoint(out / "weights" / f"{RUN}_best")
    epochs = [json.loads(line) for line in (out / "logs" / f"{RUN}.jsonl").read_text().splitlines()]
    assert best["bce_best"] == pytest.approx(min(epoch["score"] for epoch in epochs))
    training = set(json.loads((out / "data" / "dfdc_train_part_0" / "metadata.json").read_text()))
    assert not training & set(metadata)


def test_heat_maps_fall_on_the_blended_region_of_the_fakes(demo):
    """The demo's fakes are frame-aligned with their originals, so the blended region of each face is where
    the two differ: |fake - original| on the model's 64-px input of the same box, smoothed (sigma 1 px), over
    8 grey levels. The heat maps (layer2 of the ResNet-18, 8x8) must put their mass there well above the
    region's share of the input (measured: 59% of the mass on 21% of the area, 2.8x; 96% of the faces above
    their share)."""
    out, _ = demo
    held_out = out / "heldout" / "dfdc_train_part_2"
    metadata = json.loads((held_out / "metadata.json").read_text())
    videos = json.loads((out / "predictions.diagnostics.json").read_text())["videos"]
    masses, shares = [], []
    for name, record in videos.items():
        if metadata[name]["label"] != "FAKE":
            continue
        entry = record["heatmaps"][f"{RUN}_best"]
        assert (entry["layer"], entry["shape"]) == ("encoder.layer2", [8, 8])
        frames = sorted({face["frame"] for face in record["faces"]})
        fake, original = (
            read_frames_at(held_out / name, frames),
            read_frames_at(held_out / metadata[name]["original"], frames),
        )
        for face, text in zip(record["faces"], entry["faces"], strict=True):
            inputs = [
                face_to_model_input(crop_face(frame[face["frame"]], face["box"]), 64).astype(np.float32)
                for frame in (fake, original)
            ]
            region = cv2.GaussianBlur(np.abs(inputs[0] - inputs[1]).mean(axis=-1), (0, 0), 1.0) > 8
            heat = cv2.resize(decode_map(text, entry["shape"]), (64, 64), interpolation=cv2.INTER_LINEAR)
            assert heat.sum() > 0
            masses.append(heat[region].sum() / heat.sum())
            shares.append(region.mean())
    masses, shares = np.array(masses), np.array(shares)
    assert len(masses) == 16 * 24 and 0.1 < shares.mean() < 0.4
    assert masses.mean() >= 2 * shares.mean() and (masses > shares).mean() >= 0.85


def test_demo_report_lists_every_held_out_clip(demo):
    out, _ = demo
    index = (out / "report" / "index.html").read_text()
    videos = json.loads((out / "predictions.diagnostics.json").read_text())["videos"]
    assert index.count('class="video-link"') == len(videos) == 20
    assert all(f">{name}</a>" in index for name in videos)


def test_demo_rerun_reuses_every_finished_stage(demo):
    out, _ = demo
    log_before = (out / "logs" / f"{RUN}.log").read_text()
    predictions_before = (out / "predictions.csv").read_text()
    done = run_demo(out)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "detect_original_faces: 0 processed" in done.stdout and "already done" in done.stdout
    assert (out / "logs" / f"{RUN}.log").read_text() == log_before  # no epoch trained again
    assert (out / "predictions.csv").read_text() == predictions_before


def test_demo_refuses_bad_options_before_any_work(tmp_path):
    done = subprocess.run(
        ["bash", "run_demo.sh", "--out", str(tmp_path / "d"), "--frames", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "error: argument --frames: must be 1 or more, got 0" in done.stderr
    # relative paths are the caller's, not the repository's
    done = subprocess.run(
        ["bash", str(REPO / "run_demo.sh"), "--out", "d", "--config", "missing.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert (
        done.returncode == 1 and f"demo: error: config not found: {tmp_path / 'missing.json'}" in done.stderr
    )
    assert not (tmp_path / "d").exists()
