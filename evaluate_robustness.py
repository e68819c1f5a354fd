"""How detection holds up under the perturbations of DeeperForensics-1.0: every labelled video scored clean and under
each perturbation type at each level, with AUC, log loss and score changes per condition.

    python evaluate_robustness.py --models final_111_DeepFakeClassifier_tf_efficientnet_b7_ns_0_36 \\
        --test-dir VIDEOS --labels labels.csv --out robustness/ --perturbations video_compression gaussian_blur --levels 1 3 5

Perturbations (levels 1-5, mild to severe): color_saturation (0.4 .. 0.0), color_contrast (0.85 .. 0.35), block_wise
(16 .. 80 grey 8x8 blocks per 256 px), gaussian_noise (variance 0.001 .. 0.05), gaussian_blur (kernel 7 .. 21),
pixelation (factor 2 .. 6), video_compression (H.264 CRF 30 .. 40). Frame perturbations apply to the sampled frames;
compression re-encodes the whole video. Writes OUT/robustness.json, robustness.csv, robustness_auc_table.png and
robustness_auc_by_level.png; every video's result goes to OUT/results.jsonl as it finishes, so a killed run continues
where it stopped.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import math
import sys
from pathlib import Path

from core.allocator import keep_freed_memory
from core.cli import ArgumentParser
from core.device import DeviceUnavailableError, resolve_device
from inference.inputs import InputError, add_backend_options, add_scoring_options, check_inputs
from inference.labels import EvaluationError, read_labels
from robustness.perturbations import PERTURBATIONS


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights-dir", default="weights", help="folder holding the checkpoint files named by --models")
    parser.add_argument("--models", nargs="+", required=True, help="checkpoint file names in --weights-dir (as predict_folder.py)")
    parser.add_argument("--test-dir", nargs="+", required=True, help="a folder of videos, or video files")
    parser.add_argument("--labels", required=True, help="what evaluate.py takes: a filename,label CSV (1 = fake) or a DATA_ROOT with metadata.json files")
    parser.add_argument("--out", required=True, help="folder for the results (reused by a rerun to continue)")
    parser.add_argument("--perturbations", nargs="+", choices=PERTURBATIONS, default=list(PERTURBATIONS), help="which perturbations (default: all)")
    parser.add_argument("--levels", nargs="+", type=int, choices=range(1, 6), default=[1, 2, 3, 4, 5], metavar="{1..5}",
                        help="which levels (default: all); level 0, the clean videos, is always scored")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random perturbations (block positions, noise)")
    add_scoring_options(parser)
    add_backend_options(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    keep_freed_memory()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        weights, videos = check_inputs(args)
        labels, _ = read_labels(Path(args.labels))
    except (InputError, EvaluationError, FileNotFoundError) as error:
        return fail(error)
    unlabelled = [video.name for video in videos if video.name not in labels]
    videos = [video for video in videos if video.name in labels]
    if unlabelled:
        print(f"warning: {len(unlabelled)} videos have no label and are left out: {', '.join(unlabelled[:5])}", file=sys.stderr)
    if not videos:
        return fail(InputError("no video has a label"))
    # Loaded only now, so that --help and bad input answer at once.
    from core.checkpoints import CheckpointError
    from core.faces import FaceDetector
    from inference.folder import settings_key
    from inference.loading import load_classifier
    from robustness.evaluation import PerturbedPredictor, conditions, run, summarise
    from robustness.outputs import write_outputs

    try:
        device = resolve_device(args.device)
        models = {path.name: load_classifier(path, device, device.type == "cuda", args.input_size, backend=args.backend,
                                             cache_dir=args.cache_dir) for path in weights}
    except (CheckpointError, DeviceUnavailableError, FileNotFoundError, ValueError) as error:
        return fail(error)
    predictor = PerturbedPredictor(models, FaceDetector(device), device, num_frames=args.frames, batch_size=args.batch_size,
                                   parallel_batches=args.parallel_batches)
    settings = hashlib.sha256(f"{settings_key(weights, predictor)}|seed={args.seed}".encode()).hexdigest()[:16]
    chosen = conditions(args.perturbations, sorted(set(args.levels)))
    out = Path(args.out)
    results = run(predictor, videos, chosen, out, settings, args.seed)
    rows = summarise(results, videos, labels, chosen)
    paths = write_outputs(out, rows, {"models": [w.name for w in weights], "frames": args.frames, "seed": args.seed,
                                      "videos": len(videos), "settings_key": settings})
    print(f"{'condition':24s} {'auc':>7s} {'logloss':>8s} {'balanced':>9s} {'|Δscore|':>9s} {'no face':>8s}")
    for row in rows:
        name = row["perturbation"] if row["level"] == 0 else f"{row['perturbation']} {row['level']}"
        values = [row["auc"], row["log_loss"], row["balanced_log_loss"], row["mean_abs_score_change"]]
        shown = ["-" if math.isnan(value) else f"{value:.4f}" for value in values]
        print(f"{name:24s} {shown[0]:>7s} {shown[1]:>8s} {shown[2]:>9s} {shown[3]:>9s} {row['videos_without_face']:8d}")
    print(f"wrote {', '.join(str(path) for path in paths.values())}")
    return 0


def fail(error: Exception) -> int:
    print(f"error: {error}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
