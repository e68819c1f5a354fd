"""train_classifier.py as a researcher meets it: a validation fold with no rows, training without validation,
runs shortened from the command line, and plot_loss.py on a log that was never validated."""

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

import plot_loss
import train_classifier
from tests.commands import crop_row, train_argv, train_options
from tests.conftest import REPO
from training.config import load_config
from training.trainer import Trainer, with_run_length


def make_dataset(root, folds=(3, 4, 5)):
    """Dark real crops and bright fake ones, 3 videos of each class per fold, in the given folds only (as
    generate_folds left the converted FF++ sample: folds 3, 4 and 5 of 16); the videos (empty files) listed in
    the metadata of two converted folders."""
    rng = np.random.default_rng(0)
    rows = []
    metadata = {"ffpp_original": {}, "ffpp_Deepfakes": {}}
    for fold in folds:
        for label in (0, 1):
            for v in range(3):
                video = f"{'fake' if label else 'real'}{fold}_{v}"
                part = "ffpp_Deepfakes" if label else "ffpp_original"
                metadata[part][f"{video}.mp4"] = {"label": "FAKE" if label else "REAL", "original": None}
                (root / part).mkdir(parents=True, exist_ok=True)
                (root / part / f"{video}.mp4").write_bytes(b"")
                (root / "crops" / video).mkdir(parents=True)
                for frame in (0, 10):
                    image = np.clip(rng.normal(170 if label else 60, 25, (40, 32, 3)), 0, 255).astype(
                        np.uint8
                    )
                    cv2.imwrite(str(root / "crops" / video / f"{frame}_0.png"), image)
                    rows.append(crop_row(video, frame, label, fold))
    pd.DataFrame(rows).to_csv(root / "folds.csv", index=False)
    for part, videos in metadata.items():
        (root / part / "metadata.json").write_text(json.dumps(videos))
    return root


def arguments(root, *extra):
    return train_argv(REPO / "configs" / "tiny.json", root, root / "weights", root / "logs", *extra)


def test_an_empty_validation_fold_stops_the_run_before_it_starts_naming_the_folds_with_rows(tmp_path, capsys):
    """The README's --fold 0 on data whose folds are 3, 4 and 5: one line naming them and their video counts,
    and nothing trained or written."""
    root = make_dataset(tmp_path)
    assert train_classifier.main(arguments(root, "--fold", "0")) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error
    assert error.startswith("error: validation fold 0 has no rows in ")
    assert (
        "the folds with rows: 3 (6 videos), 4 (6 videos), 5 (6 videos)" in error
        and "--no-validation" in error
    )
    assert not (root / "weights").exists() and not (root / "logs").exists()


def test_no_validation_trains_on_every_fold_and_plot_loss_then_names_the_cause(tmp_path, capsys):
    root = make_dataset(tmp_path)
    assert (
        train_classifier.main(
            arguments(root, "--no-validation", "--epochs", "2", "--batches-per-epoch", "2", "--prefix", "q_")
        )
        == 0
    )
    assert "done: trained without validation (no _best checkpoint)" in capsys.readouterr().out
    name = "q_DeepFakeClassifier_resnet18_0"
    weights = root / "weights"
    assert sorted(path.name for path in weights.glob(f"{name}_*") if "." not in path.name) == [
        f"{name}_0",
        f"{name}_1",
        f"{name}_last",
    ]
    saved = json.loads((weights / f"{name}.config.json").read_text())
    # tiny.json: 12 epochs of 32 batches over a horizon of 384; 2 epochs of 2 batches keep the same proportion
    assert (
        saved["optimizer"]["schedule"]["epochs"],
        saved["batches_per_epoch"],
        saved["optimizer"]["schedule"]["params"]["max_iter"],
    ) == (2, 2, 4)
    log = root / "logs" / f"{name}.log"
    assert [line.split()[:2] for line in log.read_text().splitlines()] == [["epoch", "0"], ["epoch", "1"]]
    assert plot_loss.main(["--log-file", str(log), "--output", str(tmp_path / "loss.png")]) == 2
    error = capsys.readouterr().err.strip()
    assert (
        "\n" not in error
        and "logs 2 trained epochs but no validation losses" in error
        and "--no-validation" in error
    )
    assert not (tmp_path / "loss.png").exists()


def test_run_length_overrides_scale_the_poly_horizon_with_the_runs_batches():
    b7 = load_config(REPO / "configs" / "b7.json")  # 40 epochs of 2500 batches, max_iter 100500
    short = with_run_length(b7, epochs=2, batches_per_epoch=10)
    assert (
        short["optimizer"]["schedule"]["epochs"],
        short["batches_per_epoch"],
        short["optimizer"]["schedule"]["params"]["max_iter"],
    ) == (2, 10, 20)
    assert b7["optimizer"]["schedule"]["params"]["max_iter"] == 100500  # the loaded config is left as it was
    assert with_run_length(b7, epochs=4)["optimizer"]["schedule"]["params"]["max_iter"] == 10050
    assert with_run_length(b7, batches_per_epoch=250)["optimizer"]["schedule"]["params"]["max_iter"] == 10050
    assert with_run_length(b7) is b7


def test_the_run_says_when_batches_per_epoch_is_a_cap_the_data_does_not_reach(tmp_path):
    """Trained on folds 3 and 4: 12 real crops and as many fakes, in batches of 16 (a last partial batch is
    dropped): an epoch is 1 batch, not tiny.json's 32."""
    root = make_dataset(tmp_path)
    options = train_options(
        with_run_length(load_config(REPO / "configs" / "tiny.json"), epochs=3), root, root / "weights", 5
    )
    assert Trainer(options).run_length() == (
        "training 3 epochs × 1 batches (batches_per_epoch, 32, is a cap: the training rows run out "
        "first); poly schedule over max_iter 96 (epochs × batches_per_epoch: 96); validating on fold 5"
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--epochs", "0"], "argument --epochs: must be 1 or more, got 0"),
        (["--batches-per-epoch", "x"], "argument --batches-per-epoch: 'x' is not a whole number"),
    ],
)
def test_bad_run_lengths_are_one_line_errors(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        train_classifier.main(arguments(tmp_path, *argv))
    assert exit_.value.code == 2 and capsys.readouterr().err.strip() == f"error: {message} (see --help)"


def test_the_report_says_what_a_users_checkpoint_was_trained_on_never_dfdc(tmp_path, capsys):
    """The report's "What the score means" says what the checkpoint's saved config says: here the converted
    FF++ folders it trained on, and nothing of the DFDC; a checkpoint without a saved config gets no claim at
    all."""
    import predict_folder
    from tests.conftest import REAL_VIDEOS, shared_video

    video = shared_video(REAL_VIDEOS["ffpp_original_004"])
    root = make_dataset(tmp_path / "data")
    assert (
        train_classifier.main(
            arguments(root, "--fold", "5", "--epochs", "1", "--batches-per-epoch", "1", "--prefix", "r_")
        )
        == 0
    )
    weights = root / "weights"
    saved = json.loads((weights / "r_DeepFakeClassifier_resnet18_5.config.json").read_text())["trained_on"]
    assert saved == {
        "data_dir": str(root.resolve()),
        "videos": 12,
        "folders": {"ffpp_Deepfakes": 6, "ffpp_original": 6},
        "validation_fold": 5,
    }
    # no config beside it
    (weights / "renamed.pth").write_bytes((weights / "r_DeepFakeClassifier_resnet18_5_0").read_bytes())
    output = tmp_path / "out" / "scores.csv"
    assert (
        predict_folder.main(
            [
                "--weights-dir",
                str(weights),
                "--models",
                "r_DeepFakeClassifier_resnet18_5_0",
                "renamed.pth",
                "--network",
                "DeepFakeClassifier",
                "--encoder",
                "resnet18",
                "--input-size",
                "64",
                "--test-dir",
                str(video),
                "--output",
                str(output),
                "--frames",
                "2",
                "--device",
                "cpu",
                "--backend",
                "torch",
                "--report",
                str(tmp_path / "report"),
            ]
        )
        == 0
    )
    page = (tmp_path / "report" / "index.html").read_text()
    meaning = page[page.index("What the score means") :]
    assert "DFDC)" not in meaning and "training data (DFDC" not in meaning
    assert (
        f"<code>r_DeepFakeClassifier_resnet18_5_0</code>: 12 videos of {root.resolve()} "
        "(ffpp_Deepfakes 6, ffpp_original 6), "
        "fold 5 held out for validation"
    ) in meaning
    assert "renamed.pth</code>:" not in meaning


def test_the_released_checkpoints_are_said_to_be_trained_on_the_dfdc_by_name_alone():
    from inference.released_weights import RELEASED_MODELS
    from inference.report import trained_on

    said = trained_on([Path("weights") / RELEASED_MODELS[0], Path("weights") / "b7_weights.pth"])
    assert said == {
        RELEASED_MODELS[0]: "the DFDC training set (the winning solution's released checkpoints)",
        "b7_weights.pth": None,
    }
