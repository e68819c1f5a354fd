"""Run the whole system end to end on synthetic clips: make a dataset, preprocess, train, score held-out
clips, evaluate.

    bash run_demo.sh                          # everything goes to demo_output/
    bash run_demo.sh --out /tmp/demo --device cpu
    bash run_demo.sh --sbi                    # trained on real clips alone (self-blended images),
                                              # to demo_output_sbi/

Every stage runs one of the project's own entry points with the options a user would give it, through its
main(argv) in this process (torch and the model zoo are imported once); each stage's command is printed:
  1. demo/synthetic_dataset.py  REAL and self-blended FAKE clips of the photos that ship with
                                scikit-image and matplotlib: dfdc_train_part_0 (training) and
                                dfdc_train_part_1 (validation) in OUT/data, dfdc_train_part_2 in
                                OUT/heldout (never seen in training or checkpoint selection)
  2. preprocess_data.sh         boxes, crops, landmarks, diffs and folds.csv under OUT/data
                                (preprocessing/pipeline.py)
  3. train_classifier.py        the --config (configs/tiny.json) on fold 0, validated on fold 1
  4. plot_loss.py               OUT/loss.png
  5. predict_folder.py          the best checkpoint on the held-out clips -> OUT/predictions.csv, with
                                heat maps (--explain) and the HTML report OUT/report/index.html
  6. evaluate.py                OUT/evaluation.json and the ROC curve

A rerun continues where a killed one stopped: every stage skips finished work and training
resumes from its last checkpoint. The held-out AUC must reach --min-auc, else the exit code is 1.
This bar shows that the training path learns on a synthetic task; it is not a measure of
how well a model detects real deepfakes.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from core.cli import ArgumentParser, at_least
from core.device import DEVICE_CHOICES, DeviceUnavailableError, resolve_device
from core.offline import stay_offline

REPO = Path(__file__).resolve().parent.parent
TRAIN_PART, VALIDATION_PART, HELD_OUT_PART = 0, 1, 2
# the original's fold rule with 50 splits gives each DFDC part a fold of its own: validation is fold 1
FOLDS = 50
PREFIX = "demo_"
TRAIN_REALS = 8
# Trained on reals alone, a model sees no fake clip's camera path: with 8 real clips it learned their crops by
# heart and scored unseen real clips as more fake (docs/sbi.md), so SBI gets more real clips, each one
# different pan, zoom and lighting.
SBI_TRAIN_REALS = 24


class StageError(RuntimeError):
    pass


@dataclass(frozen=True)
class DemoPaths:
    out: Path
    data: Path
    held_out: Path
    held_out_videos: Path
    weights: Path
    logs: Path
    loss_plot: Path
    predictions: Path
    diagnostics: Path
    evaluation: Path
    roc_curve: Path
    report: Path

    @classmethod
    def under(cls, out: Path) -> DemoPaths:
        return cls(
            out,
            out / "data",
            out / "heldout",
            out / "heldout" / f"dfdc_train_part_{HELD_OUT_PART}",
            out / "weights",
            out / "logs",
            out / "loss.png",
            out / "predictions.csv",
            out / "predictions.diagnostics.json",
            out / "evaluation.json",
            out / "predictions.roc.png",
            out / "report",
        )


def run_stage(title: str, module: str, argv: list) -> None:
    """One stage: the entry point's main(argv) in this process, so torch and the model zoo are imported once
    for the whole demo; the command printed runs the same stage on its own."""
    argv = [str(part) for part in argv]
    print(f"\n== {title}: python -m {module} {' '.join(argv)}", flush=True)
    started = time.time()
    try:
        code = importlib.import_module(module).main(argv)
    except SystemExit as exit_:  # argparse and parser.exit end a stage this way
        code = exit_.code
    sys.stdout.flush()
    if code:
        raise StageError(f"{title} failed (exit code {code}); its messages are above")
    print(f"== {title}: done in {time.time() - started:.0f} s", flush=True)


def generate(paths: DemoPaths, args: argparse.Namespace) -> None:
    """The three parts, in this process: one detector load instead of three script start-ups, and none when
    every part is already made."""
    from demo.synthetic_dataset import DatasetOptions, is_made, make_dataset

    print("\n== synthetic clips (demo/synthetic_dataset.py)", flush=True)
    parts = (
        (paths.data, TRAIN_PART, args.train_reals),
        (paths.data, VALIDATION_PART, args.validation_reals),
        (paths.held_out, HELD_OUT_PART, args.held_out_reals),
    )
    missing = [(root, part, reals) for root, part, reals in parts if not is_made(root, part)]
    if not missing:
        print("== synthetic clips: already made", flush=True)
        return
    from core.faces import FaceDetector

    detector = FaceDetector("cpu")
    for root, part, reals in missing:
        # SBI trains on real clips alone
        fakes_per_real = 0 if args.sbi and part == TRAIN_PART else args.fakes_per_real
        options = DatasetOptions(
            parts=1,
            first_part=part,
            reals_per_part=reals,
            fakes_per_real=fakes_per_real,
            frames=args.frames,
            seed=args.seed,
        )
        make_dataset(root, options, detector)


def train(paths: DemoPaths, args: argparse.Namespace, run: str) -> None:
    command = [
        "--config",
        args.config,
        "--data-dir",
        paths.data,
        "--folds-csv",
        paths.data / "folds.csv",
        "--fold",
        VALIDATION_PART,
        "--seed",
        args.seed,
        "--prefix",
        PREFIX,
        "--output-dir",
        paths.weights,
        "--logdir",
        paths.logs,
        "--workers",
        args.workers,
        "--device",
        args.device,
    ]
    if not args.hardcore:
        command.append("--no-hardcore")
    if args.epochs:
        command += ["--epochs", args.epochs]
    last = paths.weights / f"{run}_last"
    if last.is_file():
        command += ["--resume", last]
    run_stage("training", "train_classifier", command)


def preprocess(paths: DemoPaths, args: argparse.Namespace) -> None:
    # Not the original solution's defaults: halving the 320x240 clips would bring their faces near MTCNN's
    # 20 px minimum (auto doubles them instead), and its rows (every 10th frame) would keep 4 crops of a
    # 32-frame clip.
    run_stage(
        "preprocessing",
        "preprocessing.pipeline",
        [
            paths.data,
            "--device",
            args.device,
            "--workers",
            args.workers,
            "--every",
            args.every,
            "--n-splits",
            FOLDS,
            "--detection-scale",
            "auto",
            "--all-crops",
        ],
    )
    if args.sbi:
        run_stage(
            "68-point landmarks",
            "preprocessing.generate_landmarks68",
            [
                "--root-dir",
                paths.data,
                "--workers",
                args.workers,
            ],
        )


def plot_loss(paths: DemoPaths, run: str) -> None:
    run_stage(
        "loss plot",
        "plot_loss",
        [
            "--log-file",
            paths.logs / f"{run}.log",
            "--output",
            paths.loss_plot,
        ],
    )


def score_held_out(paths: DemoPaths, args: argparse.Namespace, best: str, input_size: int) -> None:
    run_stage(
        "scoring held-out clips",
        "predict_folder",
        [
            "--weights-dir",
            paths.weights,
            "--models",
            best,
            "--test-dir",
            paths.held_out_videos,
            "--output",
            paths.predictions,
            "--input-size",
            input_size,
            "--device",
            args.device,
            "--explain",
            "--report",
            paths.report,
            *(["--video-score", "frame-max"] if args.sbi else []),
        ],
    )


def evaluate(paths: DemoPaths) -> None:
    run_stage(
        "evaluation",
        "evaluate",
        [
            "--predictions",
            paths.predictions,
            "--labels",
            paths.held_out,
            "--roc",
            paths.roc_curve,
            "--output",
            paths.evaluation,
        ],
    )


def run_demo(args: argparse.Namespace) -> dict:
    from training.config import load_config
    from training.trainer import run_name

    paths = DemoPaths.under(Path(args.out).resolve())
    config = load_config(args.config)
    run = run_name(config, PREFIX, VALIDATION_PART)
    generate(paths, args)
    preprocess(paths, args)
    train(paths, args, run)
    plot_loss(paths, run)
    best = f"{run}_best"
    if not (paths.weights / best).is_file():
        raise StageError(f"training wrote no {best} checkpoint (was validation skipped?)")
    score_held_out(paths, args, best, config["size"])
    evaluate(paths)
    return {
        "paths": paths,
        "checkpoint": paths.weights / best,
        "report": json.loads(paths.evaluation.read_text()),
    }


def add_clip_options(parser: argparse.ArgumentParser) -> None:
    """How many synthetic clips each part gets, and which of their frames are cropped."""
    parser.add_argument("--seed", type=int, default=0, help="seed of the clips and of training")
    parser.add_argument(
        "--train-reals",
        type=at_least(1),
        default=None,
        help=f"REAL clips to train on ({TRAIN_REALS}, or {SBI_TRAIN_REALS} with --sbi)",
    )
    parser.add_argument(
        "--validation-reals", type=at_least(1), default=3, help="REAL clips that pick the best epoch"
    )
    parser.add_argument("--held-out-reals", type=at_least(1), default=6, help="REAL clips scored at the end")
    parser.add_argument(
        "--fakes-per-real", type=at_least(1), default=4, help="FAKE clips self-blended from each REAL clip"
    )
    parser.add_argument("--frames", type=at_least(1), default=32, help="frames per clip")
    parser.add_argument("--every", type=at_least(1), default=1, help="crop every N-th frame for training")


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--out",
        default=None,
        help="folder for the dataset, checkpoints, logs and results (demo_output, or "
        "demo_output_sbi with --sbi)",
    )
    parser.add_argument(
        "--device", choices=DEVICE_CHOICES, default="auto", help="where detection, training and scoring run"
    )
    parser.add_argument(
        "--config",
        default=None,
        help="training config (configs/tiny.json, or configs/tiny_sbi.json with --sbi)",
    )
    parser.add_argument(
        "--sbi",
        action="store_true",
        help="train from the real clips alone, each paired with a self-blended fake made on the fly "
        "(docs/sbi.md): the training part gets no fake clip; validation and the held-out clips keep theirs, "
        "made another way",
    )
    add_clip_options(parser)
    parser.add_argument(
        "--epochs",
        type=at_least(1),
        default=None,
        help="epochs instead of the config's (train_classifier.py --epochs: the schedule is scaled to them)",
    )
    parser.add_argument(
        "--hardcore",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="black out face parts in training (train_classifier.py's default); off here because in a run of "
        "a few hundred steps it mostly hides the blended region the model must learn from (the README's demo "
        "section gives the measured AUCs)",
    )
    parser.add_argument(
        "--workers",
        type=at_least(0),
        default=2,
        help="worker processes of preprocessing and data loading (0: in the main process)",
    )
    parser.add_argument(
        "--min-auc", type=float, default=0.9, help="held-out AUC below this makes the exit code 1"
    )
    args = parser.parse_args(argv)
    args.out = args.out or ("demo_output_sbi" if args.sbi else "demo_output")
    args.config = args.config or str(REPO / "configs" / ("tiny_sbi.json" if args.sbi else "tiny.json"))
    args.train_reals = args.train_reals or (SBI_TRAIN_REALS if args.sbi else TRAIN_REALS)
    return args


def main(argv=None) -> int:
    # before the heavy imports (in the stages), so that bad options are answered at once
    args = parse_args(argv)
    stay_offline()
    started = time.time()
    try:
        # checked here too, before seconds of imports: load_config needs the model zoo
        if not Path(args.config).is_file():
            raise FileNotFoundError(f"config not found: {args.config}")
        # before minutes of work: --device cuda without a GPU is a one-line error now
        resolve_device(args.device)
        result = run_demo(args)
    except (StageError, DeviceUnavailableError, FileNotFoundError, ValueError) as error:
        print(f"demo: error: {error}", file=sys.stderr)
        return 1
    paths, report = result["paths"], result["report"]
    minutes, seconds = divmod(int(time.time() - started), 60)
    passed = report["auc"] >= args.min_auc
    print(f"\n== demo finished in {minutes} min {seconds} s; outputs:")
    for label, path in (
        ("training data", paths.data),
        ("held-out clips", paths.held_out_videos),
        ("best checkpoint", result["checkpoint"]),
        ("loss plot", paths.loss_plot),
        ("predictions", paths.predictions),
        ("diagnostics", paths.diagnostics),
        ("evaluation report", paths.evaluation),
        ("ROC curve", paths.roc_curve),
        ("HTML report", paths.report / "index.html"),
    ):
        print(f"  {label:18s} {path}")
    print(
        f"held-out: {report['videos']} videos ({report['fakes']} fake, {report['reals']} real), "
        f"log loss {report['log_loss']:.4f}, "
        f"AUC {report['auc']:.4f} ({'meets' if passed else 'BELOW'} the {args.min_auc} bar)"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
