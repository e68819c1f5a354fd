"""The self-blended-images training mode on CPU: real FF++ crops with dlib landmarks, SAM around SGD, SBI's
schedule."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from core.checkpoints import load_checkpoint
from core.dlib_landmarks import unavailable_reason
from core.faces import crop_face
from core.video import read_sampled_frames
from preprocessing import generate_landmarks68
from tests.conftest import REPO, shared_video
from training.best_epoch import BestEpoch
from training.config import load_config
from training.sam import SharpnessAwareStep
from training.sbi_dataset import SelfBlendedValidation
from training.trainer import Trainer, TrainOptions, linear_decay_schedule

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))

FFPP = "ffpp/original_sequences/youtube/c23/videos"
REALS = {"004": 1, "634": 1, "519": 0}  # video: fold
FRAMES = 6


@pytest.fixture(scope="module")
def data_root(tmp_path_factory, detector):
    """Crops of 6 frames of three FF++ originals and of the Deepfakes fake of 519 (cut with 519's boxes),
    their 68 landmarks (the real preprocessing step), and a folds.csv: 004 and 634 train (fold 1), 519 and its
    fake validate (fold 0)."""
    root = tmp_path_factory.mktemp("sbi_root")
    part = root / "ffpp_original"
    part.mkdir()
    rows = []
    for video, fold in REALS.items():
        sampled = read_sampled_frames(shared_video(f"{FFPP}/{video}.mp4"), FRAMES)
        boxes = [faces[0].box for faces in detector.detect(sampled.frames)]
        sources = [(video, 0, None, sampled)]
        if video == "519":
            fake = read_sampled_frames(
                shared_video("ffpp/manipulated_sequences/Deepfakes/c23/videos/519_515.mp4"), FRAMES
            )
            sources.append(("519_515", 1, "519", fake))
        for name, label, original, frames in sources:
            (root / "crops" / name).mkdir(parents=True)
            for frame, image, box in zip(frames.indices, frames.frames, boxes, strict=True):
                file = f"crops/{name}/{frame}_0.png"
                cv2.imwrite(str(root / file), cv2.cvtColor(crop_face(image, box), cv2.COLOR_RGB2BGR))
                rows.append(
                    {
                        "video": name,
                        "file": file,
                        "label": label,
                        "original": original or "",
                        "frame": frame,
                        "fold": fold,
                    }
                )
    metadata = {f"{video}.mp4": {"label": "REAL"} for video in REALS}
    for video in REALS:
        (part / f"{video}.mp4").write_bytes(b"")
    (part / "metadata.json").write_text(json.dumps(metadata))
    assert generate_landmarks68.main(["--root-dir", str(root), "--workers", "0"]) == 0
    pd.DataFrame(rows).to_csv(root / "folds.csv", index=False)
    return root


def sbi_config(path, **changes):
    config = json.loads((REPO / "configs" / "tiny.json").read_text())
    config.update(
        {
            "fakes": "sbi",
            "frames_per_video": 4,
            "batches_per_epoch": 2,
            "normalize": {"mean": [0, 0, 0], "std": [1, 1, 1]},
        }
    )
    config["optimizer"].update(
        {
            "type": "SAM",
            "batch_size": 4,
            "learning_rate": 0.001,
            "weight_decay": 0,
            "nesterov": False,
            "schedule": {"type": "linear_decay", "mode": "step", "epochs": 2, "params": {"start_epoch": 1}},
        }
    )
    config.update(changes)
    path.write_text(json.dumps(config))
    return load_config(path)


def options(root, tmp_path, config, **changes):
    settings = {
        "folds_csv": root / "folds.csv",
        "fold": 0,
        "seed": 3,
        "prefix": "sbi_",
        "output_dir": tmp_path / "weights",
        "log_dir": tmp_path / "logs",
        "workers": 0,
        "device": "cpu",
        **changes,
    }
    return TrainOptions(config=config, data_dir=root, **settings)


def test_sbi_b4_config_is_the_papers_recipe():
    config = load_config(REPO / "configs" / "sbi_b4.json")
    optimizer = config["optimizer"]
    assert (config["encoder"], config["size"], config["fakes"], config["frames_per_video"]) == (
        "tf_efficientnet_b4.ap_in1k",
        380,
        "sbi",
        8,
    )
    assert config["normalize"] == {"mean": [0, 0, 0], "std": [1, 1, 1]}  # inputs in [0, 1]
    assert (
        optimizer["type"],
        optimizer["learning_rate"],
        optimizer["momentum"],
        optimizer["rho"],
        optimizer["batch_size"],
    ) == ("SAM", 0.001, 0.9, 0.05, 32)
    assert (
        optimizer["schedule"]["type"],
        optimizer["schedule"]["epochs"],
        optimizer["schedule"]["params"],
    ) == ("linear_decay", 100, {"start_epoch": 75})


def test_linear_decay_holds_the_rate_until_epoch_75_then_falls_to_zero_at_100():
    factor = linear_decay_schedule(360, 75, 100)
    assert [factor(epoch * 360) for epoch in (0, 50, 75, 80, 90, 100)] == pytest.approx(
        [1, 1, 1, 0.8, 0.4, 0]
    )


def test_sam_applies_the_gradient_taken_at_the_climbed_weights():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    loss_at = lambda: ((model(x) - y) ** 2).mean()  # noqa: E731
    start = [p.detach().clone() for p in model.parameters()]
    grads = torch.autograd.grad(loss_at(), list(model.parameters()))
    norm = torch.sqrt(sum((g**2).sum() for g in grads))
    with torch.no_grad():
        for p, g in zip(model.parameters(), grads, strict=True):
            p.add_(0.05 * g / norm)
    expected_grads = torch.autograd.grad(loss_at(), list(model.parameters()))
    with torch.no_grad():
        for p, w in zip(model.parameters(), start, strict=True):
            p.copy_(w)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    sam = SharpnessAwareStep(model.parameters(), rho=0.05)
    loss_at().backward()
    assert sam.climb()
    optimizer.zero_grad()
    loss_at().backward()
    sam.descend_back()
    optimizer.step()
    for p, w, g in zip(model.parameters(), start, expected_grads, strict=True):
        assert torch.allclose(p, w - 0.1 * g, atol=1e-6)


def test_sbi_training_uses_reals_and_their_own_fakes_only_and_validates_on_the_folds_fakes(
    data_root, tmp_path
):
    config = sbi_config(tmp_path / "sbi.json")
    trainer = Trainer(options(data_root, tmp_path, config))
    rows = trainer.train_set.rows
    assert (
        set(rows["video"]) == {"004", "634"} and (rows["label"] == 0).all()
    )  # no fake of folds.csv, no validation video
    assert rows.groupby("video").size().tolist() == [4, 4]  # frames_per_video, evenly spaced
    images, labels, indices, readable = next(iter(trainer.train_loader))
    assert images.shape == (4, 3, 64, 64) and 0 <= images.min() and images.max() <= 1  # [0, 1] inputs
    assert labels.tolist() == pytest.approx([0.01, 0.01, 0.99, 0.99])  # reals, then their own fakes
    assert torch.equal(indices[:2], indices[2:]) and readable.all()
    assert set(trainer.val_rows["video"]) == {"519", "519_515"}  # the fold's real and fake videos
    trainer.run()
    records = [
        json.loads(line)
        for line in (tmp_path / "logs" / "sbi_DeepFakeClassifier_resnet18_0.jsonl").read_text().splitlines()
    ]
    assert [r["epoch"] for r in records] == [0, 1] and all(np.isfinite(r["auc"]) for r in records)
    assert records[0]["images_per_second"] > 0
    assert load_checkpoint(tmp_path / "weights" / "sbi_DeepFakeClassifier_resnet18_0_last")["epoch"] == 1
    assert trainer.scheduler.get_last_lr()[0] == pytest.approx(0.0)  # decayed to 0 at the last epoch's end
    best = load_checkpoint(tmp_path / "weights" / "sbi_DeepFakeClassifier_resnet18_0_best")
    top = max(r["auc"] for r in records)
    assert best["chosen_by"] == "validation_auc" and best["auc_best"] == pytest.approx(top)
    # an equal AUC later wins, as in the paper's code
    assert best["epoch"] == max(r["epoch"] for r in records if r["auc"] == top)
    assert best["bce_best"] == pytest.approx(next(r["score"] for r in records if r["epoch"] == best["epoch"]))


def test_the_best_sbi_epoch_is_the_highest_validation_auc_a_later_tie_winning():
    best = BestEpoch.for_fakes("sbi")
    epochs = [(0.6, 0.5), (0.8, 0.9), (0.7, 0.3), (0.8, 1.2), (float("nan"), 0.1)]  # (AUC, log loss)
    assert [best.take({"auc": auc, "score": loss}) for auc, loss in epochs] == [
        True,
        True,
        False,
        True,
        False,
    ]
    fields = best.checkpoint_fields()
    assert fields == {"bce_best": 1.2, "chosen_by": "validation_auc", "auc_best": 0.8}
    resumed = BestEpoch.for_fakes("sbi")
    resumed.restore(fields)
    assert resumed == best and not resumed.take({"auc": 0.75, "score": 0.01})


def test_fakes_from_the_dataset_keep_the_lowest_log_loss_in_the_original_format():
    best = BestEpoch.for_fakes("dataset")
    epochs = [(0.6, 0.5), (0.8, 0.9), (0.7, 0.3), (0.8, 1.2), (float("nan"), 0.1)]
    assert [best.take({"auc": auc, "score": loss}) for auc, loss in epochs] == [
        True,
        False,
        True,
        False,
        True,
    ]
    assert best.checkpoint_fields() == {"bce_best": 0.1}


def test_a_fold_without_fakes_validates_on_held_out_self_blended_pairs(data_root, tmp_path):
    folds = pd.read_csv(data_root / "folds.csv", dtype={"video": str, "original": str}, keep_default_na=False)
    folds[folds["label"] == 0].to_csv(tmp_path / "reals.csv", index=False)
    config = sbi_config(tmp_path / "sbi.json")
    trainer = Trainer(options(data_root, tmp_path, config, folds_csv=tmp_path / "reals.csv"))
    assert isinstance(trainer.val_set, SelfBlendedValidation)
    assert (
        sorted(set(trainer.val_rows["video"])) == ["519", "519_sbi"]
        and trainer.val_rows["label"].tolist() == [0] * 4 + [1] * 4
    )
    first = [trainer.val_set[i] for i in range(4)]
    # the same pairs at every validation
    assert all(
        torch.equal(real, trainer.val_set[i][0]) and torch.equal(fake, trainer.val_set[i][1])
        for i, (real, fake, _) in enumerate(first)
    )
    assert not torch.equal(first[0][0], first[0][1])  # a fake differs from its real
    images, labels, rows, readable = next(iter(trainer._validation_loader()))
    assert labels.tolist() == [0, 0, 1, 1] and rows.tolist() == [0, 1, 4, 5] and readable.all()
    assert torch.equal(images[0], first[0][0]) and torch.equal(images[2], first[0][1])
    scores = trainer.validate()
    assert np.isfinite(scores["auc"]) and scores["unreadable_crops"] == 0


def test_sam_run_resumes_with_its_optimizer_state(data_root, tmp_path):
    config = sbi_config(tmp_path / "sbi.json")
    config["optimizer"]["schedule"]["epochs"] = 1
    Trainer(options(data_root, tmp_path, config)).run()
    config["optimizer"]["schedule"]["epochs"] = 2
    last = tmp_path / "weights" / "sbi_DeepFakeClassifier_resnet18_0_last"
    resumed = Trainer(options(data_root, tmp_path, config, resume=last))
    assert (
        resumed.start_epoch == 1 and resumed.optimizer.state_dict()["state"]
    )  # SGD's momentum buffers came back
    resumed.run()
    assert load_checkpoint(last)["epoch"] == 1


def test_benchmark_sbi_reports_pairs_per_second_per_worker(data_root, capsys):
    from benchmarks.benchmark_sbi import main

    assert (
        main(
            [
                "--data-dir",
                str(data_root),
                "--folds-csv",
                str(data_root / "folds.csv"),
                "--size",
                "128",
                "--pairs",
                "4",
                "--rounds",
                "1",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert re.match(
        r"\d+ real crops at 128 px: \d+\.\d-\d+\.\d pairs/s per worker \(\d+-\d+ training images/s\)", out
    ), out


@pytest.mark.slow
def test_sbi_trains_under_ddp_with_sam_and_its_log_plots(data_root, tmp_path):
    """Two gloo processes through torchrun and train_classifier.py, as the README's several-GPU command."""
    import socket
    import subprocess
    import sys

    sbi_config(tmp_path / "sbi.json")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes=1",
        "--rdzv_backend=c10d",
        f"--rdzv_endpoint=127.0.0.1:{port}",
        "--nproc_per_node=2",
        "train_classifier.py",
        "--config",
        tmp_path / "sbi.json",
        "--data-dir",
        data_root,
        "--folds-csv",
        data_root / "folds.csv",
        "--fold",
        "0",
        "--prefix",
        "sbi_",
        "--output-dir",
        tmp_path / "weights",
        "--logdir",
        tmp_path / "logs",
        "--workers",
        "0",
        "--device",
        "cpu",
    ]
    done = subprocess.run(
        [str(part) for part in command], cwd=REPO, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-4000:]
    checkpoint = load_checkpoint(tmp_path / "weights" / "sbi_DeepFakeClassifier_resnet18_0_best")
    assert all(key.startswith("module.") for key in checkpoint["state_dict"])
    log = tmp_path / "logs" / "sbi_DeepFakeClassifier_resnet18_0.log"
    assert [line.split()[1] for line in log.read_text().splitlines()] == ["0", "1"]
    plotted = subprocess.run(
        [sys.executable, "plot_loss.py", "--log-file", str(log), "--output", str(tmp_path / "loss.png")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert plotted.returncode == 0 and (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"
