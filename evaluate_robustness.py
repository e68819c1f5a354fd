"""How detection holds up under the perturbations of DeeperForensics-1.0: every labelled video scored clean
and under each perturbation type at each level, with AUC, log loss and score changes per condition.

    python evaluate_robustness.py --models final_111_DeepFakeClassifier_tf_efficientnet_b7_ns_0_36 \\
        --test-dir VIDEOS --labels labels.csv --out robustness/ \\
        --perturbations video_compression gaussian_blur --levels 1 3 5

Perturbations (levels 1-5, mild to severe): color_saturation (0.4 .. 0.0), color_contrast (0.85 .. 0.35),
block_wise (16 .. 80 grey 8x8 blocks per 256 px), gaussian_noise (variance 0.001 .. 0.05), gaussian_blur
(kernel 7 .. 21), pixelation (factor 2 .. 6), video_compression (H.264 CRF 30 .. 40). Frame perturbations
apply to the sampled frames; compression re-encodes the whole video. Writes OUT/robustness.json,
robustness.csv, robustness_auc_table.png and robustness_auc_by_level.png; every video's result goes to
OUT/results.jsonl as it finishes, so a killed run continues where it stopped.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.allocator import keep_freed_memory
from core.cli import ArgumentParser, DefaultsHelpFormatter
from core.device import DeviceUnavailableError, resolve_device
from evaluation.labels import EvaluationError, Labels, read_labels
from inference.inputs import InputError, add_backend_options, add_scoring_options, find_videos
from inference.options import LIST_RELEASED, add_model_options, checked_weights
from robustness.perturbations import PERTURBATIONS

if TYPE_CHECKING:  # torch is imported only once the command line has been checked (see main)
    from robustness.evaluation import PerturbedPredictor


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(
        description=__doc__,
        formatter_class=DefaultsHelpFormatter,
        usage="%(prog)s --models NAME [NAME ...] --test-dir PATH [PATH ...] --labels LABELS --out OUT "
        "[options]",
    )
    inputs = parser.add_argument_group("inputs and outputs")
    inputs.add_argument(
        "--test-dir", nargs="+", required=True, metavar="PATH", help="a folder of videos, or video files"
    )
    add_model_options(inputs)
    inputs.add_argument(
        "--labels",
        required=True,
        help="what evaluate.py takes: a filename,label CSV (1 = fake), a DATA_ROOT with metadata.json files, "
        "a FaceForensics++ root or a Celeb-DF v2 root",
    )
    inputs.add_argument("--out", required=True, help="folder for the results (reused by a rerun to continue)")
    add_condition_options(parser.add_argument_group("perturbations"))
    scoring = parser.add_argument_group("scoring")
    runtime = parser.add_argument_group("runtime (where and how fast; the scores do not change)")
    add_scoring_options(scoring, runtime)
    add_backend_options(runtime)
    args = parser.parse_args(argv)
    if not args.models:
        parser.error(
            f"the following arguments are required: --models (the released model names: {LIST_RELEASED})"
        )
    return args


def add_condition_options(conditions: argparse._ArgumentGroup) -> None:
    conditions.add_argument(
        "--perturbations",
        nargs="+",
        choices=PERTURBATIONS,
        default=list(PERTURBATIONS),
        metavar="NAME",
        help=f"which perturbations, of {', '.join(PERTURBATIONS)} (default: all)",
    )
    conditions.add_argument(
        "--levels",
        nargs="+",
        type=int,
        choices=range(1, 6),
        default=[1, 2, 3, 4, 5],
        metavar="{1..5}",
        help="which levels (default: all); level 0, the clean videos, is always scored",
    )
    conditions.add_argument(
        "--seed", type=int, default=0, help="seed of the random perturbations (block positions, noise)"
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    keep_freed_memory()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        weights, videos = checked_weights(args), find_videos(args.test_dir)
        videos, labels = labelled(videos, read_labels(Path(args.labels)))
    except (InputError, EvaluationError, FileNotFoundError) as error:
        return fail(error)
    # Loaded only now (here and in perturbed_predictor), so that --help and bad input answer at once.
    from core.checkpoints import CheckpointError
    from inference.folder import settings_key
    from robustness.evaluation import conditions, run, summarise
    from robustness.outputs import write_outputs

    try:
        predictor = perturbed_predictor(args, weights)
    except (CheckpointError, DeviceUnavailableError, FileNotFoundError, ValueError) as error:
        return fail(error)
    key = f"{settings_key(weights, predictor)}|seed={args.seed}"
    settings = hashlib.sha256(key.encode()).hexdigest()[:16]
    chosen = conditions(args.perturbations, sorted(set(args.levels)))
    out = Path(args.out)
    results = run(predictor, videos, chosen, out, settings, args.seed)
    rows = summarise(results, videos, labels, chosen)
    paths = write_outputs(
        out,
        rows,
        {
            "models": [w.name for w in weights],
            "frames": args.frames,
            "seed": args.seed,
            "videos": len(videos),
            "settings_key": settings,
        },
    )
    print_table(rows)
    print(f"wrote {', '.join(str(path) for path in paths.values())}")
    return 0


def labelled(videos: list[Path], known: Labels) -> tuple[list[Path], dict[str, float]]:
    """The videos that have a label, and their labels by file name; the others are left out with a
    warning."""
    matched, ambiguous = known.match(video.name for video in videos)
    for name, reason in ambiguous.items():
        print(f"warning: {name} is left out: it {reason}", file=sys.stderr)
    labels = {name: known.labels[key] for name, key in matched.items()}
    unlabelled = [video.name for video in videos if video.name not in labels and video.name not in ambiguous]
    if unlabelled:
        print(
            f"warning: {len(unlabelled)} videos have no label and are left out: {', '.join(unlabelled[:5])}",
            file=sys.stderr,
        )
    videos = [video for video in videos if video.name in labels]
    if not videos:
        raise InputError("no video has a label")
    return videos, labels


def perturbed_predictor(args: argparse.Namespace, weights: list[Path]) -> PerturbedPredictor:
    """A predictor of the checkpoints whose frames can be perturbed, with the command line's settings."""
    from core.faces import FaceDetector
    from inference.loading import load_classifier
    from inference.predictor import PredictorSettings
    from robustness.evaluation import PerturbedPredictor

    device = resolve_device(args.device)
    models = {
        path.name: load_classifier(
            path,
            device,
            device.type == "cuda",
            args.input_size,
            args.network,
            args.encoder,
            args.backend,
            args.cache_dir,
        )
        for path in weights
    }
    return PerturbedPredictor(
        models,
        FaceDetector(device),
        device,
        PredictorSettings(
            num_frames=args.frames, batch_size=args.batch_size, parallel_batches=args.parallel_batches
        ),
    )


def print_table(rows: list[dict]) -> None:
    print(f"{'condition':24s} {'auc':>7s} {'logloss':>8s} {'balanced':>9s} {'|Δscore|':>9s} {'no face':>8s}")
    for row in rows:
        name = row["perturbation"] if row["level"] == 0 else f"{row['perturbation']} {row['level']}"
        values = [row["auc"], row["log_loss"], row["balanced_log_loss"], row["mean_abs_score_change"]]
        shown = ["-" if math.isnan(value) else f"{value:.4f}" for value in values]
        print(
            f"{name:24s} {shown[0]:>7s} {shown[1]:>8s} {shown[2]:>9s} {shown[3]:>9s} "
            f"{row['videos_without_face']:8d}"
        )


def fail(error: Exception) -> int:
    print(f"error: {error}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
