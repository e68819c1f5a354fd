"""Score videos as real (0) or fake (1) with an ensemble of DFDC classifiers; write `filename,label` CSV."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.allocator import keep_freed_memory, release_freed_memory
from core.cli import ArgumentParser, DefaultsHelpFormatter, at_least, detection_scale_option
from core.device import DeviceUnavailableError, resolve_device
from core.shards import parse_shard, select_shard, shard_output
from inference.inputs import (
    InputError,
    add_backend_options,
    add_scoring_options,
    diagnostics_path,
    find_videos,
    result_names,
)
from inference.options import LIST_RELEASED, add_model_options, checked_weights
from inference.report import DEFAULT_THRESHOLD, threshold_option
from inference.strategy import STRATEGIES
from inference.tracks import VIDEO_SCORES

if TYPE_CHECKING:  # torch is imported only once the command line has been checked (see main)
    import torch
    from torch import nn

    from inference.predictor import VideoPredictor

# Every person of an interview, a talk show or a family scene, while a crowd (dozens of faces in each frame,
# each a forward pass of every model) costs a few times a one-person video instead of dozens of times.
MAX_FACES_PER_FRAME = 8


USAGE = """%(prog)s --models NAME [NAME ...] --test-dir PATH [PATH ...] [options]
       %(prog)s --merge OUTPUT [--report DIR]"""

EXAMPLES = (
    f"""examples:
  # the seven released checkpoints (bash download_weights.sh fetches them) on a folder of videos
  python predict_folder.py --models $({LIST_RELEASED}) --test-dir VIDEOS --output submission.csv
  # your own checkpoint, with an HTML report and heat maps
  python predict_folder.py --models b7_111_DeepFakeClassifier_tf_efficientnet_b7_ns_0_best """
    """--test-dir VIDEOS --report report/ --explain

Per-video diagnostics (frames read, faces, per-face scores per model, fallback reasons) go to """
    """<output stem>.diagnostics.json
beside the CSV. A rerun with the same weights and settings reuses the videos already scored."""
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(
        description=__doc__, usage=USAGE, epilog=EXAMPLES, formatter_class=DefaultsHelpFormatter
    )
    add_input_options(parser.add_argument_group("inputs and outputs"))
    scoring = parser.add_argument_group("scoring")
    runtime = parser.add_argument_group("runtime (where and how fast; the scores do not change)")
    add_scoring_options(scoring, runtime)
    add_video_scoring_options(scoring)
    add_runtime_options(runtime)
    add_report_options(parser.add_argument_group("report"))
    add_shard_options(parser.add_argument_group("many machines"))
    args = parser.parse_args(argv)
    if args.merge is None and (not args.models or not args.test_dir):
        missing = [
            flag for flag, value in (("--models", args.models), ("--test-dir", args.test_dir)) if not value
        ]
        parser.error(
            f"the following arguments are required: {', '.join(missing)} "
            f"(the released model names: {LIST_RELEASED})"
        )
    return args


def add_input_options(inputs: argparse._ArgumentGroup) -> None:
    inputs.add_argument(
        "--test-dir",
        nargs="+",
        metavar="PATH",
        help="required: folders of videos and photos (subfolders searched too) and single files; each is "
        "named in the CSV by its file name, or where several share one, by the end of its path that tells "
        "them apart",
    )
    add_model_options(inputs)
    inputs.add_argument(
        "--output", default="submission.csv", help="CSV to write (filename,label), sorted by filename"
    )


def add_video_scoring_options(scoring: argparse._ArgumentGroup) -> None:
    """The options of predict_folder.py's own scoring, beside those it shares with evaluate_robustness.py."""
    scoring.add_argument(
        "--strategy",
        choices=sorted(STRATEGIES),
        default="confident",
        help="how one model's face scores become a video score",
    )
    scoring.add_argument(
        "--video-score",
        choices=VIDEO_SCORES,
        default="every-face",
        help="every-face: the strategy over every face of every frame (the original's); "
        "per-person: the highest score of one person's face track, for videos of several people; "
        "frame-max: each frame's most fake face, averaged over the frames (the self-blended-images paper's; "
        "docs/sbi.md)",
    )
    scoring.add_argument(
        "--jitter",
        type=at_least(0),
        default=0,
        help="shift each sampled frame by up to this many frames at random",
    )
    scoring.add_argument(
        "--seed", type=int, default=None, help="random seed for --jitter (default: a different draw each run)"
    )
    scoring.add_argument(
        "--max-faces-per-frame",
        type=at_least(0),
        default=MAX_FACES_PER_FRAME,
        help="classify at most this many faces of a frame, the largest (0: every face)",
    )
    scoring.add_argument(
        "--detection-scale",
        type=detection_scale_option,
        default="auto",
        metavar="auto|FACTOR",
        help="resize factor of the frames for face detection; auto: 2 under 300 px, 1 up to 1000, 0.5 up to "
        "1900, 0.33 above (the original: 0.5)",
    )
    scoring.add_argument(
        "--no-contrast-retry",
        action="store_true",
        help="do not search faceless dark frames again with their contrast stretched "
        "(the original's behaviour)",
    )


def add_runtime_options(runtime: argparse._ArgumentGroup) -> None:
    add_backend_options(runtime)
    runtime.add_argument(
        "--workers",
        type=at_least(0),
        default=None,
        help="videos decoded ahead in background threads (default: 1 with CUDA, 0 on CPU)",
    )
    runtime.add_argument(
        "--fp16",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="half precision classifiers, CUDA only (default: on with CUDA)",
    )


def add_report_options(report: argparse._ArgumentGroup) -> None:
    report.add_argument(
        "--report",
        metavar="DIR",
        default=None,
        help="write a static HTML report into DIR (open DIR/index.html; works offline)",
    )
    report.add_argument(
        "--threshold",
        type=threshold_option,
        default=DEFAULT_THRESHOLD,
        help="score at or above which the report calls a video fake (readers can change it on the page)",
    )
    report.add_argument(
        "--explain",
        nargs="?",
        const="every-face",
        choices=("every-face", "kept"),
        default=None,
        help="heat maps towards 'fake' per model, of every face or ('kept') each person's most and least "
        "fake; a forward and a backward pass per face and model",
    )


def add_shard_options(machines: argparse._ArgumentGroup) -> None:
    machines.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="score every N-th video from the I-th (0-based) into <output stem>.shard-I-of-N.csv; the last "
        "to finish merges (default under torchrun: RANK/WORLD_SIZE)",
    )
    machines.add_argument(
        "--merge",
        metavar="OUTPUT",
        default=None,
        help="only merge the finished shards of OUTPUT into it (refused when one is missing or differs)",
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    keep_freed_memory()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.merge:
        return merge(Path(args.merge), report=args.report, threshold=args.threshold)
    try:
        shard = parse_shard(args.shard)
        weights, videos = checked_weights(args), find_videos(args.test_dir)
    except (InputError, argparse.ArgumentTypeError) as error:
        return input_error(error)
    output = Path(args.output)
    names = result_names(videos)  # of every video, so that each shard names a video alike
    if shard[1] > 1:
        videos, output = select_shard(videos, shard, key=names.__getitem__), shard_output(output, shard)
    # Loaded only now (here and in the functions below), so that --help and bad input answer at once instead
    # of after seconds of imports.
    from core.checkpoints import CheckpointError
    from inference.folder import default_workers, predict_videos
    from inference.released_weights import released_size_warnings

    for warning in released_size_warnings(weights):
        print(warning, file=sys.stderr)
    try:
        device, models = load_models(args, weights)
    except (InputError, CheckpointError, DeviceUnavailableError, FileNotFoundError, ValueError) as error:
        return input_error(error)
    results = predict_videos(
        scoring_predictor(args, weights, models, device),
        videos,
        output,
        weights,
        workers=default_workers(device) if args.workers is None else args.workers,
        strategy_name=args.strategy,
        report_dir=Path(args.report) if args.report else None,
        names=names,
    )
    failed = sum(1 for record in results.values() if record.fallback)
    print(
        f"wrote {output} ({len(results)} videos, {failed} scored 0.5 by fallback) "
        f"and {diagnostics_path(output)}"
    )
    return finish_run(args, output, shard)


def load_models(args: argparse.Namespace, weights: list[Path]) -> tuple[torch.device, dict[str, nn.Module]]:
    """The device to score on and each checkpoint's classifier, by file name, ready for inference there."""
    import torch

    from inference.loading import load_classifier

    device = resolve_device(args.device)
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:  # under torchrun: one GPU per process
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    fp16 = device.type == "cuda" if args.fp16 is None else args.fp16
    if fp16 and device.type != "cuda":
        raise InputError("--fp16 needs --device cuda")
    models = {
        path.name: load_classifier(
            path, device, fp16, args.input_size, args.network, args.encoder, args.backend, args.cache_dir
        )
        for path in weights
    }
    release_freed_memory()
    return device, models


def scoring_predictor(
    args: argparse.Namespace, weights: list[Path], models: dict[str, nn.Module], device: torch.device
) -> VideoPredictor:
    """The predictor the command line asks for, with a heat-map explainer under --explain."""
    from core.faces import FaceDetector
    from inference.predictor import PredictorSettings, VideoPredictor

    explainer = None
    if args.explain:
        from inference.explain import HeatMapExplainer
        from inference.loading import input_specs

        explainer = HeatMapExplainer(
            {path.name: path for path in weights}, input_specs(models), device, args.network, args.encoder
        )
    return VideoPredictor(
        models,
        FaceDetector(device, scale=args.detection_scale, contrast_retry=not args.no_contrast_retry),
        device,
        PredictorSettings(
            num_frames=args.frames,
            batch_size=args.batch_size,
            strategy=args.strategy,
            jitter=args.jitter,
            seed=args.seed,
            max_faces_per_frame=args.max_faces_per_frame,
            parallel_batches=args.parallel_batches,
            video_score=args.video_score,
            explain_faces=args.explain or "every-face",
        ),
        explainer,
    )


def finish_run(args: argparse.Namespace, output: Path, shard: tuple[int, int]) -> int:
    """The report of a whole run; of a shard, only when it completes the set: it merges the shards and
    reports, while the others leave their thumbnails for it."""
    if shard[1] > 1:
        from inference.folder import all_shards_done

        return (
            merge(Path(args.output), shard[1], args.report, args.threshold)
            if all_shards_done(Path(args.output), shard[1])
            else 0
        )
    return write_report_of(output, args.report, args.threshold)


def merge(
    output: Path, count: int | None = None, report: str | None = None, threshold: float = DEFAULT_THRESHOLD
) -> int:
    from inference.folder import ShardError, merge_shards
    from inference.results import DiagnosticsError

    try:
        merged = merge_shards(output, count)
    except (ShardError, DiagnosticsError, OSError, ValueError) as error:
        return input_error(error)
    print(f"merged the shards into {output} ({len(merged)} videos) and {diagnostics_path(output)}")
    return write_report_of(output, report, threshold)


def write_report_of(output: Path, report: str | None, threshold: float) -> int:
    """The HTML report of the diagnostics just written beside `output`, when --report asked for one."""
    if report is None:
        return 0
    import time

    from inference.report import write_report
    from inference.results import DiagnosticsError, load_diagnostics

    started = time.perf_counter()
    diagnostics = diagnostics_path(output)
    try:
        index = write_report(*load_diagnostics(diagnostics), Path(report), threshold, diagnostics.name)
    except (OSError, DiagnosticsError) as error:  # the scores are written; only the pages are missing
        print(
            f"error: the report was not written ({error}); the scores are in {output}: "
            "python -m inference.report "
            f"{diagnostics} --out {report} makes it later",
            file=sys.stderr,
        )
        return 1
    print(f"wrote the report {index} in {time.perf_counter() - started:.1f} s")
    return 0


def input_error(error: Exception) -> int:
    print(f"error: {error}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
