"""Training on CPU: config checks, a 2-process gloo DDP run on real preprocessed crops, resume, a learnable
task, plots."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from core.checkpoints import load_checkpoint
from tests.commands import crop_row, predict_argv, run_main, run_predict, train_argv, train_options
from tests.conftest import REPO, shared_video
from training.config import ConfigError, load_config
from training.trainer import Trainer, TrainOptions, training_state_path

NAME = "t_DeepFakeClassifier_tf_efficientnet_b0_ns"


def write_config(path, **changes):
    config = json.loads((REPO / "configs" / "tiny.json").read_text())
    # the EfficientNet family, as the released models (tiny.json itself trains a ResNet-18: see the demo's
    # test)
    config.update({"encoder": "tf_efficientnet_b0_ns", "size": 64, "batches_per_epoch": 2})
    config["optimizer"].update({"batch_size": 4})
    config["optimizer"]["schedule"].update({"epochs": 2, "params": {"max_iter": 20}})
    for key, value in changes.items():
        if isinstance(value, dict):
            config[key].update(value)
        else:
            config[key] = value
    path.write_text(json.dumps(config))
    return path


def validation_fold(data_root) -> int:
    """The fold of video 519, which its Deepfakes fake shares: the fold these tests validate on."""
    folds = pd.read_csv(data_root / "folds.csv", dtype={"video": str})
    return int(folds.loc[folds.video == "519", "fold"].iloc[0])


@pytest.mark.parametrize("name", ["b7.json", "b5.json", "b7_gwap.json", "tiny.json"])
def test_shipped_configs_load(name):
    config = load_config(REPO / "configs" / name)
    assert config["optimizer"]["schedule"]["type"] == "poly" and config["losses"] == {"BinaryCrossentropy": 1}
    # the winning encoders start from ImageNet + Noisy Student weights (tests/test_training_parity.py checks
    # each value against the original's configs); the demo's ResNet says it starts from random ones
    assert config["pretrained"] is (name != "tiny.json")
    assert json.loads((REPO / "configs" / "tiny.json").read_text())["pretrained"] is False


@pytest.mark.slow
def test_missing_imagenet_weights_stop_training_before_it_starts_and_nothing_is_fetched(tmp_path):
    """An empty cache and no permission to download: one line that says what to do, and not one socket
    opened."""
    config = write_config(tmp_path / "pretrained.json", encoder="resnet18", pretrained=True)
    # folds with rows in the validation fold and outside it: the weights are what is missing
    folds = tmp_path / "folds.csv"
    folds.write_text(
        "video,file,label,original,frame,fold\na,crops/a/0_0.png,0,,0,0\nb,crops/b/0_0.png,0,,0,1\n"
    )
    probe = (
        "import socket, sys\n"
        "attempts = []\n"
        "socket.getaddrinfo = lambda *args, **kwargs: attempts.append(('lookup', args[0])) or []\n"
        "socket.socket.connect = lambda self, address: attempts.append(('connect', address))\n"
        "socket.create_connection = lambda address, *args, **kwargs: attempts.append(('connect', address))\n"
        "import train_classifier\n"
        f"code = train_classifier.main(['--config', {str(config)!r}, '--data-dir', '.', "
        f"'--folds-csv', {str(folds)!r},"
        " '--device', 'cpu'])\n"
        "print(code, attempts)\n"
    )
    environment = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "TORCH_HOME": str(tmp_path / "torch")}
    environment.pop("HF_HUB_OFFLINE", None)
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=environment, capture_output=True, text=True, timeout=300
    )
    assert done.stdout.strip() == "2 []", done.stdout + done.stderr[-2000:]
    error = done.stderr.strip().splitlines()
    assert len(error) == 1 and error[0].startswith(
        "error: ImageNet weights for resnet18 are not in the local cache"
    )
    assert "--pretrained PATH" in error[0] and "--download-pretrained" in error[0]


def test_a_local_imagenet_weights_file_is_what_training_starts_from(tmp_path):
    import timm

    make_bright_fakes_dataset(tmp_path)
    torch.manual_seed(5)
    weights = tmp_path / "resnet18_imagenet.pth"
    torch.save(timm.create_model("resnet18").state_dict(), weights)
    config = load_config(write_config(tmp_path / "c.json", encoder="resnet18", pretrained=True))
    config["pretrained"] = str(weights)  # what --pretrained PATH does
    trainer = Trainer(train_options(config, tmp_path, tmp_path / "w", 1))
    saved = torch.load(weights, weights_only=True)
    encoder = trainer.model.encoder.state_dict()
    assert all(
        torch.equal(encoder[key], saved[key]) for key in saved if key in encoder and not key.startswith("fc.")
    )
    assert sum(key in encoder for key in saved) > 100


def test_the_b7_encoder_has_the_originals_drop_path_rate():
    from training.zoo.classifiers import create_encoder

    encoder = create_encoder("tf_efficientnet_b7_ns")
    rates = [
        block.drop_path.drop_prob
        for stage in encoder.blocks
        for block in stage
        if hasattr(block.drop_path, "drop_prob")
    ]
    assert max(rates) == pytest.approx(0.2 * (len(rates)) / (len(rates) + 1), rel=0.05)


def test_unknown_config_keys_are_errors(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"optimizer": {"learning_rte": 0.1}}))
    with pytest.raises(ConfigError, match="unknown config key 'optimizer.learning_rte'"):
        load_config(path)


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory, data_root):
    """Two processes, gloo backend, on the crops preprocess_data.sh made from the shared videos."""
    out = tmp_path_factory.mktemp("ddp")
    fold = validation_fold(data_root)
    config = write_config(out / "tiny.json")
    with socket.socket() as probe:  # a free port for the rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # the README's several-machines form, with one machine
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes=1",
        "--node_rank=0",
        "--rdzv_backend=c10d",
        f"--rdzv_endpoint=127.0.0.1:{port}",
        "--nproc_per_node=2",
        "train_classifier.py",
        *train_argv(config, data_root, out / "weights", out / "logs", "--fold", fold, "--prefix", "t_"),
    ]
    done = subprocess.run([str(c) for c in command], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    return out, fold, done


def test_ddp_run_writes_released_format_checkpoints_and_logs(ddp_run):
    out, fold, done = ddp_run
    weights = out / "weights"
    for suffix in ("0", "1", "last", "best"):
        checkpoint = load_checkpoint(weights / f"{NAME}_{fold}_{suffix}")
        assert set(checkpoint) == {"epoch", "state_dict", "bce_best"}
        assert all(key.startswith("module.") for key in checkpoint["state_dict"])
    assert load_checkpoint(weights / f"{NAME}_{fold}_last")["epoch"] == 1
    assert json.loads((weights / f"{NAME}_{fold}.config.json").read_text())["size"] == 64
    lines = (out / "logs" / f"{NAME}_{fold}.log").read_text().splitlines()
    assert [line.split()[1] for line in lines] == ["0", "1"]
    assert all("fake_loss" in line and "real_loss" in line and "auc" in line for line in lines)
    records = [json.loads(line) for line in (out / "logs" / f"{NAME}_{fold}.jsonl").read_text().splitlines()]
    assert all(0 <= r["auc"] <= 1 and r["videos"] == 2 for r in records)


def test_checkpoint_scores_videos_through_predict_folder(ddp_run):
    out, fold, _ = ddp_run
    csv_path = out / "scores.csv"
    video = shared_video("ffpp/original_sequences/youtube/c23/videos/004.mp4")
    done = run_predict(
        *predict_argv(
            out / "weights" / f"{NAME}_{fold}_best", video, csv_path, "--frames", 4, "--input-size", 64
        )
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(csv_path.open()))
    assert (
        rows[0]["filename"] == "004.mp4"
        and 0 < float(rows[0]["label"]) < 1
        and float(rows[0]["label"]) != 0.5
    )


def test_resume_continues_at_the_next_epoch_with_the_saved_optimizer_state(ddp_run, data_root, tmp_path):
    out, fold, _ = ddp_run
    last = out / "weights" / f"{NAME}_{fold}_last"
    saved = torch.load(training_state_path(last), weights_only=True)
    options = TrainOptions(
        config=load_config(
            write_config(
                tmp_path / "three.json",
                optimizer={
                    "schedule": {"type": "poly", "mode": "step", "epochs": 3, "params": {"max_iter": 20}}
                },
            )
        ),
        data_dir=data_root,
        folds_csv=data_root / "folds.csv",
        fold=fold,
        prefix="t_",
        output_dir=out / "weights",
        log_dir=out / "logs",
        resume=last,
        workers=0,
        device="cpu",
    )
    trainer = Trainer(options)
    assert trainer.start_epoch == 2
    assert trainer.scheduler.last_epoch == saved["scheduler"]["last_epoch"] > 0
    restored = trainer.optimizer.state_dict()["state"]
    assert restored.keys() == saved["optimizer"]["state"].keys()
    for key, state in saved["optimizer"][
        "state"
    ].items():  # AdamW (tiny.json): step and both moment estimates
        assert state.keys() == restored[key].keys() and "exp_avg" in state
        for name, value in state.items():
            assert torch.equal(restored[key][name], value), name
    trainer.run()
    lines = (out / "logs" / f"{NAME}_{fold}.log").read_text().splitlines()
    assert [line.split()[1] for line in lines] == ["0", "1", "2"]
    assert load_checkpoint(last)["epoch"] == 2


def test_plot_loss_writes_a_png_from_a_training_log(ddp_run, tmp_path):
    out, fold, _ = ddp_run
    png = tmp_path / "loss.png"
    done = run_main("plot_loss", "--log-file", out / "logs" / f"{NAME}_{fold}.log", "--output", png)
    assert done.returncode == 0, done.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and cv2.imread(str(png)).shape[1] > 400
    assert "weighted loss" in done.stdout


def make_bright_fakes_dataset(root):
    """Dark crops are real, bright ones fake; videos 0-3 of each class in fold 0, 4-5 in fold 1."""
    rng = np.random.default_rng(0)
    rows = []
    for label in (0, 1):
        for v in range(6):
            video = f"{'fake' if label else 'real'}{v}"
            (root / "crops" / video).mkdir(parents=True)
            for frame in range(0, 40, 10):
                image = np.clip(rng.normal(170 if label else 60, 25, (72, 60, 3)), 0, 255).astype(np.uint8)
                cv2.imwrite(str(root / "crops" / video / f"{frame}_0.png"), image)
                rows.append(crop_row(video, frame, label, fold=0 if v < 4 else 1))
    pd.DataFrame(rows).to_csv(root / "folds.csv", index=False)


@pytest.mark.slow
def test_loss_falls_on_a_learnable_task(tmp_path):
    """A model that trains at all separates dark reals from bright fakes within a few epochs."""
    make_bright_fakes_dataset(tmp_path)
    config = write_config(
        tmp_path / "learn.json",
        batches_per_epoch=4,
        optimizer={
            "batch_size": 8,
            "type": "AdamW",
            "learning_rate": 1e-3,
            "schedule": {"type": "constant", "mode": "step", "epochs": 4, "params": {"max_iter": 16}},
        },
    )
    options = train_options(load_config(config), tmp_path, tmp_path / "weights", 1, hardcore=False)
    Trainer(options).run()
    records = [
        json.loads(line) for line in next((tmp_path / "logs").glob("*.jsonl")).read_text().splitlines()
    ]
    assert records[-1]["train_loss"] < 0.6 * records[0]["train_loss"]
    assert records[-1]["auc"] == 1.0  # the held-out videos are ranked perfectly


# train_classifier.py, killed as by `kill -9` when epoch 1 starts: at a known moment, where a kill from
# outside would depend on how fast this machine is.
KILLED_AT_EPOCH_1 = """
import os, signal, sys
import train_classifier
from training.trainer import Trainer

train_epoch = Trainer.train_epoch

def train_unless_epoch_1(self, epoch):
    if epoch == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return train_epoch(self, epoch)

Trainer.train_epoch = train_unless_epoch_1
sys.exit(train_classifier.main(sys.argv[1:]))
"""


def test_a_killed_run_resumes_where_it_stopped(data_root, tmp_path):
    fold = validation_fold(data_root)
    config = write_config(
        tmp_path / "three.json",
        optimizer={"schedule": {"type": "poly", "mode": "step", "epochs": 3, "params": {"max_iter": 20}}},
    )
    options = train_argv(
        config, data_root, tmp_path / "w", tmp_path / "logs", "--fold", fold, "--prefix", "t_"
    )
    log_file = tmp_path / "logs" / f"{NAME}_{fold}.log"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_AT_EPOCH_1, *options],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    last = tmp_path / "w" / f"{NAME}_{fold}_last"
    assert load_checkpoint(last)["epoch"] == 0
    # the resumed run needs no process of its own
    done = run_main("train_classifier", *options, "--resume", last)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming" in done.stderr and "at epoch 1" in done.stderr
    assert [line.split()[1] for line in log_file.read_text().splitlines()] == ["0", "1", "2"]


def test_a_broken_crop_is_replaced_not_fatal(tmp_path, caplog):
    from training.augmentations import create_val_transforms
    from training.datasets import FaceCrops

    (tmp_path / "crops" / "v").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "crops" / "v" / "0_0.png"), np.full((40, 30, 3), 90, dtype=np.uint8))
    (tmp_path / "crops" / "v" / "10_0.png").write_bytes(b"not a png")
    rows = pd.DataFrame([crop_row("v", f, label=0, fold=0) for f in (0, 10)])
    dataset = FaceCrops(
        tmp_path,
        rows,
        create_val_transforms(32),
        load_config(REPO / "configs" / "tiny.json")["normalize"],
        train=True,
    )
    with caplog.at_level("WARNING", logger="dfdc.train"):
        image, label, index, readable = dataset[1]
    assert index == 0 and readable and image.shape == (3, 32, 32) and label.item() == pytest.approx(0.01)
    assert "cannot read crop" in caplog.text


@pytest.mark.slow
def test_validation_leaves_out_a_broken_crop_instead_of_scoring_another(tmp_path):
    from core.metrics import video_scores

    make_bright_fakes_dataset(tmp_path)
    options = train_options(load_config(write_config(tmp_path / "c.json")), tmp_path, tmp_path / "weights", 1)
    trainer = Trainer(options)
    intact = trainer.predict_crops()
    broken = int(np.flatnonzero(trainer.val_rows["video"] == "fake4")[1])
    (tmp_path / trainer.val_rows["file"][broken]).write_bytes(b"cut short")
    with_broken = trainer.predict_crops()
    assert np.isnan(with_broken[broken])
    np.testing.assert_allclose(np.delete(with_broken, broken), np.delete(intact, broken), atol=1e-6)
    scores = trainer.validate()
    keep = np.arange(len(intact)) != broken
    expected = video_scores(
        trainer.val_rows["video"].to_numpy()[keep], trainer.val_rows["label"].to_numpy()[keep], intact[keep]
    )
    assert scores["unreadable_crops"] == 1 and scores["videos"] == 4
    assert scores["fake_loss"] == pytest.approx(expected["fake_loss"], abs=1e-6)
    assert scores["real_loss"] == pytest.approx(expected["real_loss"], abs=1e-6)


@pytest.mark.slow
def test_a_truncated_training_state_is_a_one_line_error(tmp_path, capsys):
    import train_classifier

    make_bright_fakes_dataset(tmp_path)
    config = write_config(
        tmp_path / "c.json",
        optimizer={"schedule": {"type": "poly", "mode": "step", "epochs": 1, "params": {"max_iter": 20}}},
    )
    common = train_argv(config, tmp_path, tmp_path / "w", tmp_path / "logs", "--fold", 1)
    assert train_classifier.main(common) == 0
    last = next((tmp_path / "w").glob("*_last"))
    state = training_state_path(last)
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    capsys.readouterr()
    assert train_classifier.main([*common, "--resume", str(last)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and error.startswith(f"error: cannot read {state} ")
    assert f"--resume {last} --from-zero" in error


@pytest.mark.parametrize("script", ["train.sh", "preprocess_data.sh"])
def test_shell_entry_points_explain_their_usage(script):
    done = subprocess.run(["bash", script], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2 and "usage:" in done.stderr


def test_train_sh_runs_the_chosen_seeds_with_overriding_options(data_root, tmp_path):
    fold = validation_fold(data_root)
    config = write_config(
        tmp_path / "one.json",
        optimizer={"schedule": {"type": "poly", "mode": "step", "epochs": 1, "params": {"max_iter": 2}}},
    )
    done = subprocess.run(
        [
            "bash",
            "train.sh",
            str(data_root),
            "1",
            "--config",
            str(config),
            "--fold",
            str(fold),
            "--output-dir",
            str(tmp_path / "w"),
            "--workers",
            "0",
            "--device",
            "cpu",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "DFDC_SEEDS": "111", "DFDC_LOGDIR": str(tmp_path / "logs")},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (
        load_checkpoint(tmp_path / "w" / f"b7_111_DeepFakeClassifier_tf_efficientnet_b0_ns_{fold}_last")[
            "epoch"
        ]
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == [
        "b7_111.out",
        f"b7_111_DeepFakeClassifier_tf_efficientnet_b0_ns_{fold}.jsonl",
        f"b7_111_DeepFakeClassifier_tf_efficientnet_b0_ns_{fold}.log",
    ]
    assert "epoch 0: fake_loss" in (tmp_path / "logs" / "b7_111.out").read_text()


def test_freeze_epochs_train_only_the_head(tmp_path):
    make_bright_fakes_dataset(tmp_path)
    config = write_config(
        tmp_path / "one.json",
        optimizer={"schedule": {"type": "poly", "mode": "step", "epochs": 1, "params": {"max_iter": 4}}},
    )
    options = train_options(load_config(config), tmp_path, tmp_path / "weights", 1, freeze_epochs=1)
    trainer = Trainer(options)
    encoder_before = {k: v.clone() for k, v in trainer.model.encoder.named_parameters()}
    head_before = trainer.model.fc.weight.clone()
    trainer.run()
    assert all(torch.equal(encoder_before[k], v) for k, v in trainer.model.encoder.named_parameters())
    assert not torch.equal(head_before, trainer.model.fc.weight)
