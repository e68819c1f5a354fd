"""run_demo.sh --sbi end to end on CPU: trained on real clips alone (self-blended images), scored on held-out
clips whose fakes are blended another way (fewer clips and frames than its default)."""

from __future__ import annotations

import json
import subprocess

import pytest

from core.checkpoints import load_checkpoint
from tests.conftest import REPO

REDUCED = ["--device", "cpu", "--validation-reals", "2", "--held-out-reals", "4", "--frames", "24"]
RUN = "demo_DeepFakeClassifier_resnet18_1"
# synthetic clips, preprocessing, 68-point landmarks, training, scoring
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    # not yet seen to pass: these settings were measured only up to epoch 14 (docs/sbi.md), and their 24
    # epochs at 96 px would take about 3 minutes, over the suite's budget; enable it once a run is measured
    pytest.mark.skip(reason="the SBI demo's reduced run is not yet measured to meet the bar (docs/sbi.md)"),
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_sbi")
    done = subprocess.run(
        ["bash", "run_demo.sh", "--sbi", "--out", str(out), *REDUCED],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out, done


def test_sbi_demo_trains_without_a_fake_clip_and_meets_the_bar_on_other_fakes(demo):
    out, done = demo
    report = json.loads((out / "evaluation.json").read_text())
    assert (report["videos"], report["fakes"], report["reals"]) == (20, 16, 4)
    assert report["auc"] >= 0.9
    assert f"AUC {report['auc']:.4f} (meets the 0.9 bar)" in done.stdout
    training = json.loads((out / "data" / "dfdc_train_part_0" / "metadata.json").read_text())
    assert training and all(clip["label"] == "REAL" for clip in training.values())
    assert "fakes self-blended from the real crops (SBI)" in done.stdout + done.stderr
    assert json.loads((out / "weights" / f"{RUN}.config.json").read_text())["fakes"] == "sbi"


def test_sbi_demo_keeps_the_epoch_of_the_highest_validation_auc(demo):
    out, _ = demo
    epochs = [json.loads(line) for line in (out / "logs" / f"{RUN}.jsonl").read_text().splitlines()]
    top = max(epoch["auc"] for epoch in epochs)
    best = load_checkpoint(out / "weights" / f"{RUN}_best")
    assert best["chosen_by"] == "validation_auc" and best["auc_best"] == pytest.approx(top)
    assert best["epoch"] == max(epoch["epoch"] for epoch in epochs if epoch["auc"] == top)
