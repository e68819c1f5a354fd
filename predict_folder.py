"""Score videos as real (0) or fake (1) with an ensemble of DFDC classifiers; write `filename,label` CSV."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from core.allocator import keep_freed_memory, release_freed_memory
from core.cli import ArgumentParser, at_least
from core.device import DeviceUnavailableError, resolve_device
from core.shards import parse_shard, select_shard, shard_output
from inference.inputs import InputError, add_backend_options, add_scoring_options, check_inputs, diagnostics_path
from inference.report import DEFAULT_THRESHOLD, threshold_option
from inference.strategy import STRATEGIES
from inference.tracks import VIDEO_SCORES

# Every person of an interview, a talk show or a family scene, while a crowd (dozens of faces in each frame,
# each a forward pass of every model) costs a few times a one-person video instead of dozens of times.
MAX_FACES_PER_FRAME = 8


def detection_scale_option(text: str) -> float | None:
    """--detection-scale: 'auto' (None: the rule by resolution) or a positive factor."""
    if text == "auto":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither 'auto' nor a number") from None
    if not 0 < value <= 4:
        raise argparse.ArgumentTypeError(f"must be in (0, 4], got {value}")
    return value


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Per-video diagnostics (frames read, faces, per-face scores per model, fallback reasons) "
        "go to <output stem>.diagnostics.json beside the CSV. A rerun with the same weights and "
        "settings reuses the videos already scored.",
    )
    parser.add_argument("--weights-dir", default="weights", help="folder holding the checkpoint files named by --models")
    parser.add_argument(
        "--models", nargs="+",
        help="checkpoint file names in --weights-dir; the architecture is read from the name "
        "(<prefix><Network>_<encoder>_<fold>_<epoch>, as the released files and train_classifier.py write them); "
        "a name that does not spell it out is a DeepFakeClassifier on tf_efficientnet_b7_ns, as the original assumed",
    )
    parser.add_argument("--network", default=None, help="network class of every checkpoint, instead of what the names say")
    parser.add_argument("--encoder", default=None, help="encoder of every checkpoint (e.g. tf_efficientnet_b5_ns), instead of what the names say")
    parser.add_argument("--test-dir", nargs="+", help="a folder of videos, or one or more video files")
    parser.add_argument("--output", default="submission.csv", help="CSV to write (filename,label), sorted by filename")
    add_scoring_options(parser)
    add_backend_options(parser)
    parser.add_argument("--workers", type=at_least(0), default=None,
                        help="videos decoded ahead in background threads (default: 1 with CUDA, 0 on CPU, where they would compete with the classifier)")
    parser.add_argument("--strategy", choices=sorted(STRATEGIES), default="confident", help="how one model's face scores become a video score")
    parser.add_argument("--video-score", choices=VIDEO_SCORES, default="every-face",
                        help="every-face: the strategy over every face of every frame (the original's); per-person: the highest "
                        "score of a person's face track, so that one fake person among real ones is not averaged away")
    parser.add_argument("--jitter", type=at_least(0), default=0, help="shift each sampled frame by up to this many frames at random")
    parser.add_argument("--seed", type=int, default=None, help="random seed for --jitter")
    parser.add_argument("--max-faces-per-frame", type=at_least(0), default=MAX_FACES_PER_FRAME,
                        help="classify at most this many faces of a frame, the largest ones (0: every face); the number skipped is in the diagnostics")
    parser.add_argument("--detection-scale", type=detection_scale_option, default="auto", metavar="auto|FACTOR",
                        help="resize factor of the frames for face detection; auto: 2 for a wider side under 300 px, 1 up to 1000, "
                        "0.5 up to 1900, 0.33 above (0.5 is what the original solution's code used for every video)")
    parser.add_argument("--no-contrast-retry", action="store_true",
                        help="do not search faceless dark frames again with their contrast stretched (the original's behaviour)")
    parser.add_argument("--explain", nargs="?", const="every-face", choices=("every-face", "kept"), default=None,
                        help="class-activation heat maps towards 'fake' (HiResCAM: Grad-CAM on the last feature map), per model, of every "
                        "face, or ('kept') only of each person's most and least fake face, the ones the report shows; kept in the diagnostics. "
                        "Costs a forward and a backward pass per face and model (see the README's Speed section)")
    parser.add_argument("--report", metavar="DIR", default=None,
                        help="write a static HTML report of the run into DIR: an index of every video and a page per video "
                        "(open DIR/index.html; works offline). python -m inference.report makes one later from the diagnostics JSON")
    parser.add_argument("--threshold", type=threshold_option, default=DEFAULT_THRESHOLD,
                        help="score at or above which the report calls a video fake (its index page lets the reader change it)")
    parser.add_argument("--fp16", action=argparse.BooleanOptionalAction, default=None, help="half precision classifiers (CUDA only; default: on for CUDA)")
    parser.add_argument(
        "--shard", default=None,
        help="I/N: score only every N-th video of the sorted list, from the I-th (0-based), into <output stem>.shard-I-of-N.csv "
        "and its diagnostics; the shard that finds all N done merges them into --output. Default under torchrun: its RANK/WORLD_SIZE "
        "(each rank then drives GPU LOCAL_RANK)")
    parser.add_argument("--merge", metavar="OUTPUT", default=None,
                        help="only merge the finished shards of OUTPUT into OUTPUT and its diagnostics JSON (refused when one is missing "
                        "or was made with other settings)")
    args = parser.parse_args(argv)
    if args.merge is None and (not args.models or not args.test_dir):
        parser.error("the following arguments are required: --models, --test-dir")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    keep_freed_memory()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.merge:
        return merge(Path(args.merge), report=args.report, threshold=args.threshold)
    try:
        shard = parse_shard(args.shard)
        weights, videos = check_inputs(args)
    except (InputError, argparse.ArgumentTypeError) as error:
        return input_error(error)
    output = Path(args.output)
    if shard[1] > 1:
        videos, output = select_shard(videos, shard, key=lambda video: video.name), shard_output(output, shard)
    # Loaded only now, so that --help and bad input answer at once instead of after seconds of imports.
    import torch

    from core.checkpoints import CheckpointError
    from core.faces import FaceDetector
    from inference.folder import all_shards_done, default_workers, predict_videos
    from inference.loading import load_classifier
    from inference.predictor import VideoPredictor
    from inference.released_weights import released_size_warnings
    from training.zoo.classifiers import NETWORKS

    for warning in released_size_warnings(weights):
        print(warning, file=sys.stderr)
    try:
        if args.network and args.network not in NETWORKS:
            raise InputError(f"--network {args.network}: use one of {', '.join(NETWORKS)}")
        device = resolve_device(args.device)
        if device.type == "cuda" and "LOCAL_RANK" in os.environ:  # under torchrun: one GPU per process
            device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
            torch.cuda.set_device(device)
        fp16 = device.type == "cuda" if args.fp16 is None else args.fp16
        if fp16 and device.type != "cuda":
            raise InputError("--fp16 needs --device cuda")
        models = {path.name: load_classifier(path, device, fp16, args.input_size, args.network, args.encoder, args.backend, args.cache_dir)
                  for path in weights}
        release_freed_memory()
    except (InputError, CheckpointError, DeviceUnavailableError, FileNotFoundError, ValueError) as error:
        return input_error(error)
    explainer = None
    if args.explain:
        from inference.explain import HeatMapExplainer
        from inference.loading import input_specs

        explainer = HeatMapExplainer({path.name: path for path in weights}, input_specs(models), device, args.network, args.encoder)
    predictor = VideoPredictor(
        models, FaceDetector(device, scale=args.detection_scale, contrast_retry=not args.no_contrast_retry), device, num_frames=args.frames,
        batch_size=args.batch_size, strategy=args.strategy, jitter=args.jitter, seed=args.seed,
        max_faces_per_frame=args.max_faces_per_frame, parallel_batches=args.parallel_batches, video_score=args.video_score,
        explainer=explainer, explain_faces=args.explain or "every-face",
    )
    workers = default_workers(device) if args.workers is None else args.workers
    report = Path(args.report) if args.report else None
    results = predict_videos(predictor, videos, output, weights, workers=workers, strategy_name=args.strategy, report_dir=report)
    failed = sum(1 for record in results.values() if record["fallback"])
    print(f"wrote {output} ({len(results)} videos, {failed} scored 0.5 by fallback) and {diagnostics_path(output)}")
    if shard[1] > 1:  # the shard that completes the set merges and reports; the others leave their thumbnails
        return merge(Path(args.output), shard[1], args.report, args.threshold) if all_shards_done(Path(args.output), shard[1]) else 0
    return write_report_of(output, args.report, args.threshold)


def merge(output: Path, count: int | None = None, report: str | None = None, threshold: float = DEFAULT_THRESHOLD) -> int:
    from inference.folder import ShardError, merge_shards

    try:
        merged = merge_shards(output, count)
    except (ShardError, OSError, ValueError) as error:
        return input_error(error)
    print(f"merged the shards into {output} ({len(merged)} videos) and {diagnostics_path(output)}")
    return write_report_of(output, report, threshold)


def write_report_of(output: Path, report: str | None, threshold: float) -> int:
    """The HTML report of the diagnostics just written beside `output`, when --report asked for one."""
    if report is None:
        return 0
    import json
    import time

    from inference.report import ReportError, write_report

    started = time.perf_counter()
    diagnostics = diagnostics_path(output)
    try:
        index = write_report(json.loads(diagnostics.read_text(encoding="utf-8")), Path(report), threshold, diagnostics.name)
    except (OSError, ReportError) as error:  # the scores are written; only the pages are missing
        print(f"error: the report was not written ({error}); the scores are in {output}: python -m inference.report "
              f"{diagnostics} --out {report} makes it later", file=sys.stderr)
        return 1
    print(f"wrote the report {index} in {time.perf_counter() - started:.1f} s")
    return 0


def input_error(error: Exception) -> int:
    print(f"error: {error}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
