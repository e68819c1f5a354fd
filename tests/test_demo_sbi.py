"""`run_demo.sh --sbi` end to end on CPU: trained on the real clips alone, each paired with a self-blended
fake made on the fly, then scored on held-out clips whose fakes the demo made another way.

The run is cut to fit the suite (the plain demo test's validation and held-out clips, 16 frames, 6 of
configs/tiny_sbi.json's 48 epochs: about 70 s), and so is its bar. Measured on the development machine
(docs/sbi.md): these settings gave held-out AUCs from 0.625 to 0.906 over seeds 0-5 (0.875 on seed 0, the
test's), so the test holds the run to 0.6, which every seed met; the default settings, about 8 minutes a run,
met the demo's 0.9 on the three seeds tried. A run that long would take the whole suite's time, so the 0.9 of
the defaults is a measured figure in the docs, and this test checks the path: no fake clip trained on, fakes
blended from the reals, the epoch kept by validation AUC, every held-out clip scored by its most fake face.
"""

from __future__ import annotations

import csv
import json
import subprocess

import pandas as pd
import pytest

from core.checkpoints import load_checkpoint
from tests.conftest import REPO
from training.sbi_dataset import landmarks_file

MIN_AUC = 0.6
EPOCHS = 6
FRAMES = 16
REDUCED = [
    "--sbi",
    "--device",
    "cpu",
    "--validation-reals",
    "2",
    "--held-out-reals",
    "4",
    "--frames",
    str(FRAMES),
    "--epochs",
    str(EPOCHS),
    "--min-auc",
    str(MIN_AUC),
    # the pairs are drawn from (seed, epoch, crop), so loading them in this process gives the same run as
    # worker processes, 4 s sooner (0.875 on seed 0 either way)
    "--workers",
    "0",
]
RUN = "demo_DeepFakeClassifier_resnet18_1"
TRAINING_REALS = 24  # the demo's default with --sbi
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def sbi_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_sbi")
    done = subprocess.run(
        ["bash", "run_demo.sh", "--out", str(out), *REDUCED],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out, done


def test_no_fake_clip_is_made_or_trained_on(sbi_demo):
    out, done = sbi_demo
    training = json.loads((out / "data" / "dfdc_train_part_0" / "metadata.json").read_text())
    assert len(training) == TRAINING_REALS and {entry["label"] for entry in training.values()} == {"REAL"}
    # validation keeps the demo's own fakes: the honest number for picking an epoch
    validation = json.loads((out / "data" / "dfdc_train_part_1" / "metadata.json").read_text())
    assert sum(entry["label"] == "FAKE" for entry in validation.values()) == 2 * 4
    folds = pd.read_csv(out / "data" / "folds.csv")
    assert not folds[(folds["fold"] != 1) & (folds["label"] == 1)].size
    # every training crop has the 68 points its self-blended mask is drawn from
    training_crops = folds[folds["fold"] != 1]
    assert len(training_crops) == TRAINING_REALS * FRAMES
    assert all(
        landmarks_file(out / "data", row.video, row.file).is_file() for row in training_crops.itertuples()
    )
    assert "fakes self-blended from the real crops (SBI), best checkpoint by validation_auc" in done.stderr
    diagnostics = json.loads((out / "predictions.diagnostics.json").read_text())
    assert diagnostics["trained_on"][f"{RUN}_best"].startswith(f"{TRAINING_REALS} videos of ")


def test_the_kept_epoch_is_the_latest_of_the_highest_validation_auc(sbi_demo):
    out, _ = sbi_demo
    epochs = [json.loads(line) for line in (out / "logs" / f"{RUN}.jsonl").read_text().splitlines()]
    assert [epoch["epoch"] for epoch in epochs] == list(range(EPOCHS))
    # the self-blended pairs were learned from: the training loss fell from chance level (0.68-0.69 at the
    # first epoch, 0.55-0.58 at the sixth, over the six seeds measured)
    assert epochs[0]["train_loss"] > 0.65 and epochs[-1]["train_loss"] < epochs[0]["train_loss"] - 0.05
    best_auc = max(epoch["auc"] for epoch in epochs)
    kept = load_checkpoint(out / "weights" / f"{RUN}_best")
    assert kept["chosen_by"] == "validation_auc" and kept["auc_best"] == pytest.approx(best_auc)
    assert kept["epoch"] == max(epoch["epoch"] for epoch in epochs if epoch["auc"] == best_auc)


def test_held_out_clips_are_scored_by_their_most_fake_face_and_clear_the_bar(sbi_demo):
    out, done = sbi_demo
    metadata = json.loads((out / "heldout" / "dfdc_train_part_2" / "metadata.json").read_text())
    rows = list(csv.DictReader((out / "predictions.csv").open()))
    assert [row["filename"] for row in rows] == sorted(metadata)
    diagnostics = json.loads((out / "predictions.diagnostics.json").read_text())
    assert diagnostics["video_score"] == "frame-max"
    report = json.loads((out / "evaluation.json").read_text())
    assert (report["videos"], report["fakes"], report["reals"]) == (20, 16, 4)
    assert report["auc"] >= MIN_AUC
    assert f"AUC {report['auc']:.4f} (meets the {MIN_AUC} bar)" in done.stdout
