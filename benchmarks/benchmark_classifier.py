"""Seconds per face of one classifier forward pass, in the original solution's setup and in this one's.

    python -m benchmarks.benchmark_classifier --encoder tf_efficientnet_b7_ns --rounds 3

Setups are timed in turns, round after round, and the minimum and median of
each are printed: on a shared machine the minimum is the most repeatable figure.
"original": batch norm as separate layers, all of a video's faces in one batch
(--original-batch), given as the original builds it: a permuted NHWC buffer
(so PyTorch runs it channels-last). "this setup": the model as
predict_folder.py runs it (batch norm folded into the convolutions, channels-last,
on the CPU each convolution and its SiLU packed into one oneDNN call), the given
batch sizes; with --backend openvino (or auto, where it is installed) also the
model compiled by OpenVINO, the same batch sizes.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch

from core.allocator import keep_freed_memory
from core.cli import ArgumentParser, at_least
from core.device import DEVICE_CHOICES, resolve_device
from core.openvino_runtime import default_cache_dir, openvino_classifier, resolve_backend
from inference.inputs import add_backend_options
from inference.loading import InputSpec, prepare_for_inference
from training.zoo.classifiers import DeepFakeClassifier


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--encoder", default="tf_efficientnet_b7_ns", help="encoder of the DeepFakeClassifier to time"
    )
    parser.add_argument("--input-size", type=at_least(32), default=380, help="side of the square input")
    parser.add_argument(
        "--batch-sizes",
        type=at_least(1),
        nargs="+",
        default=[1, 2, 4],
        help="batch sizes for the folded setup",
    )
    parser.add_argument(
        "--original-batch", type=at_least(0), default=32, help="batch size of the original setup (0: skip it)"
    )
    parser.add_argument("--rounds", type=at_least(1), default=3, help="timed rounds per setup")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="cpu", help="where to run")
    add_backend_options(parser, several=True)
    return parser.parse_args(argv)


def build_setups(args, original: torch.nn.Module, device: torch.device) -> dict[str, tuple]:
    """(model, input batch) per setup timed: the folded model per batch size and backend, and the
    original."""
    size = args.input_size
    prepared = prepare_for_inference(copy.deepcopy(original), device, input_size=size)
    backends = {resolve_backend(choice, device) for choice in args.backend}
    setups = {}
    if "torch" in backends:
        setups.update(
            {
                f"this setup, batch {b}": (
                    prepared,
                    torch.randn(b, 3, size, size, device=device).contiguous(
                        memory_format=torch.channels_last
                    ),
                )
                for b in args.batch_sizes
            }
        )
    if "openvino" in backends:
        cache = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
        compiled = openvino_classifier(
            lambda: copy.deepcopy(original),
            InputSpec(size),
            "random weights, seed 0",
            args.encoder,
            cache,
            args.encoder,
        )
        setups.update(
            {f"openvino, batch {b}": (compiled, torch.randn(b, 3, size, size)) for b in args.batch_sizes}
        )
    if args.original_batch:
        nhwc = torch.randn(args.original_batch, size, size, 3, device=device)
        setups[f"original, batch {args.original_batch}"] = (original, nhwc.permute(0, 3, 1, 2))
    return setups


def time_setups(args, setups: dict[str, tuple], device: torch.device) -> dict[str, list[float]]:
    """Seconds per face of every setup in each of --rounds rounds, after one untimed call each."""
    times: dict[str, list[float]] = {name: [] for name in setups}
    with torch.inference_mode():
        for model, batch in setups.values():
            model(batch[:1])
        for round_index in range(args.rounds):
            for name, (model, batch) in setups.items():
                started = time.perf_counter()
                model(batch)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                times[name].append((time.perf_counter() - started) / len(batch))
            print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)
    return times


def main(argv=None) -> int:
    args = parse_args(argv)
    keep_freed_memory()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    original = DeepFakeClassifier(args.encoder).eval().to(device)
    setups = build_setups(args, original, device)
    times = time_setups(args, setups, device)
    print(
        f"{args.encoder} at {args.input_size}px on {device} ({torch.get_num_threads()} threads): "
        "seconds per face"
    )
    for name, values in times.items():
        print(f"  {name:40s} min {min(values):.3f}  median {statistics.median(values):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
