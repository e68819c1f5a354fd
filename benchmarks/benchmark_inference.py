"""Time the inference path per video, split into decode, detect and classify, and report peak memory.

Run from the repo root, e.g.
    python -m benchmarks.benchmark_inference --encoder tf_efficientnet_b7_ns --videos ../shared/data/dfdc_real ../shared/data/dfdc/dfdc_train_part_10/widuwuoiur.mp4

Without --weights the classifier has random weights: the time and memory are
the same as with trained ones, the scores are meaningless.

--setup original times the original solution's inference code path instead
(see benchmarks/original_setup.py): run both setups in alternation to compare
them on a machine whose speed drifts.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from benchmarks.original_setup import OriginalSetup
from core.allocator import keep_freed_memory, release_freed_memory
from core.checkpoints import parse_checkpoint_name
from core.cli import ArgumentParser, at_least
from core.device import resolve_device
from core.faces import FaceDetector
from inference.folder import default_workers, prepare_ahead
from inference.inputs import add_scoring_options, find_videos
from inference.predictor import DEFAULT_INPUT_SIZE, VideoPredictor, default_batch_size, prepare_for_inference, read_classifier
from training.zoo.classifiers import NETWORKS


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # ru_maxrss is in KiB on Linux


def build_network(args) -> tuple[str, torch.nn.Module]:
    """(name, classifier) from --weights, or a randomly initialised --network/--encoder; nothing folded or packed yet."""
    if args.weights:
        return Path(args.weights).name, read_classifier(args.weights)
    network, encoder = parse_checkpoint_name(f"x_{args.network}_{args.encoder}_0_0")
    return f"{network}_{encoder} (random weights)", NETWORKS[network](encoder=encoder)


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", nargs="+", required=True, help="video files or folders of videos")
    parser.add_argument("--weights", help="a checkpoint to time (default: a randomly initialised --encoder)")
    parser.add_argument("--encoder", default="tf_efficientnet_b7_ns", help="encoder when no --weights is given")
    parser.add_argument("--network", default="DeepFakeClassifier", choices=sorted(NETWORKS), help="network when no --weights is given")
    add_scoring_options(parser)
    parser.add_argument("--workers", type=at_least(0), default=None,
                        help="also time a folder run with this many videos prepared ahead (default: as predict_folder.py, "
                        "1 with CUDA, 0 on CPU; 0 skips it: it would repeat the one-at-a-time run)")
    parser.add_argument("--setup", choices=("this", "original"), default="this",
                        help="this project's inference path, or the original solution's (per-frame PIL resize and "
                        "facenet-pytorch detection, all faces in one batch through the unfolded model, default allocator)")
    parser.add_argument("--warmup", action=argparse.BooleanOptionalAction, default=True, help="score the first video once untimed")
    args = parser.parse_args(argv)
    args.input_size = args.input_size or DEFAULT_INPUT_SIZE
    if args.setup == "this":
        keep_freed_memory()
    device = resolve_device(args.device)
    name, model = build_network(args)
    if args.setup == "original":
        batch_size = None
        predictor = OriginalSetup(model, device, args.frames, args.input_size)
        workers = 0
    else:
        model = prepare_for_inference(model, device, device.type == "cuda", args.input_size)
        release_freed_memory()
        batch_size = args.batch_size or default_batch_size(device)
        workers = default_workers(device) if args.workers is None else args.workers
        predictor = VideoPredictor({name: model}, FaceDetector(device), device, args.frames, args.input_size, batch_size,
                                   parallel_batches=args.parallel_batches)
    videos = find_videos(args.videos)
    print(f"device: {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else f'{torch.get_num_threads()} threads'})")
    print(f"setup: {args.setup}, model: {name}, frames: {args.frames}, input: {args.input_size}, batch: {batch_size or 'all faces'}"
          + (f", {predictor.parallel_batches} side by side" if args.setup == "this" else ""))
    if args.warmup:
        predictor.predict(videos[0])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    rows = []
    for video in tqdm(videos, desc="videos", unit="video"):
        started = time.perf_counter()
        if args.setup == "original":
            seconds, frames_read, faces = predictor.predict(video)
            fallback = None
        else:
            result = predictor.predict(video)
            seconds, faces, frames_read, fallback = result.seconds, result.faces_found, result.frames_read, result.fallback
        total = time.perf_counter() - started
        rows.append(total)
        per_face = seconds.get("classify", 0) / max(faces, 1)
        tqdm.write(
            f"{video.name:24s} frames {frames_read:3d} faces {faces:3d}  decode {seconds.get('decode', 0):6.2f}s  "
            f"detect {seconds.get('detect', 0):6.2f}s  classify {seconds.get('classify', 0):6.2f}s "
            f"({per_face:.3f}s/face)  total {total:6.2f}s" + (f"  fallback: {fallback}" if fallback else "")
        )
    print(f"one video at a time: mean {statistics.mean(rows):.2f}s per video over {len(rows)} videos")
    if workers > 0:
        started = time.perf_counter()
        for _, prepared in tqdm(prepare_ahead(predictor, videos, workers), total=len(videos), desc="folder run", unit="video"):
            predictor.score(prepared)
        elapsed = time.perf_counter() - started
        print(f"folder run with {workers} video(s) prepared ahead: {elapsed / len(videos):.2f}s per video over {len(videos)} videos")
    print(f"peak RSS {peak_rss_gb():.2f} GB", end="")
    if device.type == "cuda":
        print(f"; peak CUDA memory {torch.cuda.max_memory_allocated(device) / 1024**3:.2f} GB", end="")
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
