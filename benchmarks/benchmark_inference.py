"""Time the inference path per video, split into decode, detect and classify, and report peak memory.

Run from the repo root, e.g.
    python -m benchmarks.benchmark_inference --encoder tf_efficientnet_b7_ns \
        --videos ../shared/data/dfdc_real ../shared/data/dfdc/dfdc_train_part_10/widuwuoiur.mp4

Without --weights the classifier has random weights: the time and memory are
the same as with trained ones, the scores are meaningless.

--backend torch openvino times both backends, alternating within each of --rounds rounds; --floor adds the
eager floor (32 faces one at a time through the plain model) that the speed targets are stated against.

--setup original times the original solution's inference code path instead
(see benchmarks/original_setup.py): run both setups in alternation to compare
them on a machine whose speed drifts.
"""

from __future__ import annotations

import argparse
import copy
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from benchmarks.original_setup import OriginalSetup
from core.allocator import keep_freed_memory, release_freed_memory
from core.checkpoints import file_identity, parse_checkpoint_name
from core.cli import ArgumentParser, at_least
from core.device import resolve_device
from core.faces import FaceDetector
from core.openvino_runtime import default_cache_dir, openvino_classifier, resolve_backend
from inference.folder import default_workers, prepare_ahead
from inference.inputs import add_backend_options, add_scoring_options, find_videos
from inference.loading import DEFAULT_INPUT_SIZE, InputSpec, prepare_for_inference, read_classifier
from inference.predictor import PredictorSettings, VideoPredictor
from training.zoo.classifiers import NETWORKS


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # ru_maxrss is in KiB on Linux


def build_network(args) -> tuple[str, torch.nn.Module]:
    """(name, classifier) from --weights, or a randomly initialised --network/--encoder (seed 0, so that its
    converted OpenVINO model is cached like a checkpoint's); nothing folded or packed yet."""
    if args.weights:
        return Path(args.weights).name, read_classifier(args.weights)
    network, encoder = parse_checkpoint_name(f"x_{args.network}_{args.encoder}_0_0")
    torch.manual_seed(0)
    return f"{network}_{encoder} (random weights)", NETWORKS[network](encoder=encoder)


def build_predictors(
    args, name: str, model: torch.nn.Module, device: torch.device
) -> dict[str, VideoPredictor]:
    """One predictor per backend asked for, each with its own copy of the model prepared as predict_folder.py
    prepares it."""
    predictors = {}
    for backend in dict.fromkeys(resolve_backend(choice, device) for choice in args.backend):
        copy_ = copy.deepcopy(model).eval()
        copy_.input_spec = InputSpec(args.input_size)
        if backend == "openvino":
            identity = file_identity(Path(args.weights)) if args.weights else "random weights, seed 0"
            cache = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
            classifier = openvino_classifier(
                lambda model=copy_: model, copy_.input_spec, identity, name, cache, name
            )
        else:
            classifier = prepare_for_inference(copy_, device, device.type == "cuda", args.input_size)
        predictors[backend] = VideoPredictor(
            {name: classifier},
            FaceDetector(device),
            device,
            PredictorSettings(
                num_frames=args.frames,
                input_size=args.input_size,
                batch_size=args.batch_size,
                parallel_batches=args.parallel_batches,
            ),
        )
    release_freed_memory()
    return predictors


@torch.inference_mode()
def eager_floor(model: torch.nn.Module, faces: int, size: int) -> float:
    """Seconds for `faces` faces one at a time through the plain eager model in channels-last memory: the
    floor the issue of the OpenVINO backend measures against."""
    plain = copy.deepcopy(model).eval().to(memory_format=torch.channels_last)
    face = torch.randn(1, 3, size, size).contiguous(memory_format=torch.channels_last)
    plain(face)
    started = time.perf_counter()
    for _ in range(faces):
        plain(face)
    return time.perf_counter() - started


def time_video(predictor, video: Path, label: str, setup: str) -> float:
    started = time.perf_counter()
    if setup == "original":
        seconds, frames_read, faces = predictor.predict(video)
        fallback = None
    else:
        result = predictor.predict(video)
        seconds, faces, frames_read, fallback = (
            result.seconds,
            result.faces_found,
            result.frames_read,
            result.fallback,
        )
    total = time.perf_counter() - started
    per_face = seconds.get("classify", 0) / max(faces, 1)
    tqdm.write(
        f"{label:9s} {video.name:24s} frames {frames_read:3d} faces {faces:3d}  decode "
        f"{seconds.get('decode', 0):6.2f}s  "
        f"detect {seconds.get('detect', 0):6.2f}s  classify {seconds.get('classify', 0):6.2f}s "
        f"({per_face:.3f}s/face)  total {total:6.2f}s" + (f"  fallback: {fallback}" if fallback else "")
    )
    return total


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", nargs="+", required=True, help="video files or folders of videos")
    parser.add_argument("--weights", help="a checkpoint to time (default: a randomly initialised --encoder)")
    parser.add_argument(
        "--encoder", default="tf_efficientnet_b7_ns", help="encoder when no --weights is given"
    )
    parser.add_argument(
        "--network",
        default="DeepFakeClassifier",
        choices=sorted(NETWORKS),
        help="network when no --weights is given",
    )
    add_scoring_options(parser)
    add_backend_options(parser, several=True)
    parser.add_argument(
        "--rounds", type=at_least(1), default=1, help="rounds over the videos; backends alternate within each"
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also time 32 faces one at a time through the plain eager model (channels-last) each round, and "
        "give every backend's time per video as a multiple of it",
    )
    parser.add_argument(
        "--workers",
        type=at_least(0),
        default=None,
        help="also time a folder run with this many videos prepared ahead (default: as predict_folder.py, "
        "1 with CUDA, 0 on CPU; 0 skips it: it would repeat the one-at-a-time run)",
    )
    parser.add_argument(
        "--setup",
        choices=("this", "original"),
        default="this",
        help="this project's inference path, or the original solution's (per-frame PIL resize and "
        "facenet-pytorch detection, all faces in one batch through the unfolded model, default allocator)",
    )
    parser.add_argument(
        "--warmup",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="score the first video once untimed",
    )
    args = parser.parse_args(argv)
    args.input_size = args.input_size or DEFAULT_INPUT_SIZE
    return args


def time_rounds(
    args, predictors: dict, model: torch.nn.Module, videos: list[Path]
) -> tuple[dict[str, list[float]], list[float]]:
    """Seconds per video for every predictor over --rounds rounds, and the eager floor of each round (with
    --floor)."""
    totals: dict[str, list[float]] = {label: [] for label in predictors}
    floors: list[float] = []
    for round_index in range(args.rounds):
        if args.floor:
            floors.append(eager_floor(model, 32, args.input_size))
            tqdm.write(f"round {round_index + 1}: eager floor, 32 faces one at a time: {floors[-1]:.2f}s")
        for label, predictor in predictors.items():
            for video in videos:
                totals[label].append(time_video(predictor, video, label, args.setup))
    return totals, floors


def print_means(totals: dict[str, list[float]], floors: list[float]) -> None:
    for label, values in totals.items():
        ratio = (
            f" ({statistics.mean(values) / statistics.mean(floors):.2f}x the eager floor of "
            f"{statistics.mean(floors):.2f}s)"
            if floors
            else ""
        )
        print(f"{label}: mean {statistics.mean(values):.2f}s per video over {len(values)} runs{ratio}")


def time_folder_runs(predictors: dict, videos: list[Path], workers: int) -> None:
    for label, predictor in predictors.items():
        started = time.perf_counter()
        for _, prepared in tqdm(
            prepare_ahead(predictor, videos, workers), total=len(videos), desc="folder run", unit="video"
        ):
            predictor.score(prepared)
        elapsed = time.perf_counter() - started
        print(
            f"{label}: folder run with {workers} video(s) prepared ahead: {elapsed / len(videos):.2f}s "
            "per video"
        )


def print_peak_memory(device: torch.device) -> None:
    print(f"peak RSS {peak_rss_gb():.2f} GB", end="")
    if device.type == "cuda":
        print(f"; peak CUDA memory {torch.cuda.max_memory_allocated(device) / 1024**3:.2f} GB", end="")
    print()


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.setup == "this":
        keep_freed_memory()
    device = resolve_device(args.device)
    name, model = build_network(args)
    if args.setup == "original":
        predictors = {"original": OriginalSetup(model, device, args.frames, args.input_size)}
        workers = 0
    else:
        predictors = build_predictors(args, name, model, device)
        workers = default_workers(device) if args.workers is None else args.workers
    videos = find_videos(args.videos)
    where = (
        torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    )
    print(f"device: {device} ({where})")
    print(
        f"setup: {args.setup}, backends: {', '.join(predictors)}, model: {name}, frames: {args.frames}, "
        f"input: {args.input_size}"
    )
    if args.warmup:
        for predictor in predictors.values():
            predictor.predict(videos[0])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    totals, floors = time_rounds(args, predictors, model, videos)
    print_means(totals, floors)
    if workers > 0:
        time_folder_runs(predictors, videos, workers)
    print_peak_memory(device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
