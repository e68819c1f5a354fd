"""run_demo.sh --sbi: the demo trained on real clips alone (self-blended fakes), scoring held-out clips whose fakes are
made another way (the demo's own ellipse blends), against the plain demo's AUC bar."""
from __future__ import annotations

import json
import subprocess

import pandas as pd
import pytest

from core.dlib_landmarks import unavailable_reason
from tests.conftest import REPO

RUN = "demo_DeepFakeClassifier_resnet18_1"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))]


def test_sbi_demo_learns_from_real_clips_alone(tmp_path):
    out = tmp_path / "sbi"
    done = subprocess.run(["bash", "run_demo.sh", "--sbi", "--out", str(out), "--device", "cpu", "--validation-reals", "2",
                           "--held-out-reals", "4", "--frames", "24"], cwd=REPO, capture_output=True, text=True, timeout=2400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    training = json.loads((out / "data" / "dfdc_train_part_0" / "metadata.json").read_text())
    assert training and {entry["label"] for entry in training.values()} == {"REAL"}  # not one fake clip to train on
    folds = pd.read_csv(out / "data" / "folds.csv")
    assert (folds[folds["fold"] != 1]["label"] == 0).all() and (folds[folds["fold"] == 1]["label"] == 1).any()
    assert len(list((out / "data" / "landmarks68").rglob("*.npy"))) >= 0.9 * (folds["label"] == 0).sum()  # dlib finds most faces
    config = json.loads((out / "weights" / f"{RUN}.config.json").read_text())
    assert config["fakes"] == "sbi"
    report = json.loads((out / "evaluation.json").read_text())
    assert (report["videos"], report["fakes"], report["reals"]) == (20, 16, 4)
    assert report["auc"] >= 0.9
    assert f"AUC {report['auc']:.4f} (meets the 0.9 bar)" in done.stdout
    assert json.loads((out / "predictions.diagnostics.json").read_text())["video_score"] == "frame-max"
