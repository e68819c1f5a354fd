"""What --report and --explain cost: whole predict_folder.py runs with and without --report, alternating; the
heat maps' time per face; the report's own steps per video.

Run from the repo root, e.g.
    python -m benchmarks.benchmark_report --videos ../shared/data/dfdc_real \\
        ../shared/data/dfdc/dfdc_train_part_10/widuwuoiur.mp4

Without --weights the classifier is a B7 with random weights, saved to a temporary checkpoint: the time is
that of trained weights, the scores are meaningless. Every run starts from an empty output folder, so nothing
is reused.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.cli import ArgumentParser, at_least
from core.device import DEVICE_CHOICES

REPO = Path(__file__).resolve().parent.parent


def random_checkpoint(folder: Path, encoder: str) -> Path:
    import numpy as np
    import torch

    from core.checkpoints import save_checkpoint
    from training.zoo.classifiers import DeepFakeClassifier

    torch.manual_seed(0)
    path = folder / f"bench_DeepFakeClassifier_{encoder}_0_1"
    save_checkpoint(path, DeepFakeClassifier(encoder), epoch=1, bce_best=np.float64(0.25))
    return path


def folder_run(
    weights: Path, videos: list[str], out: Path, extra: list[str], device: str
) -> tuple[float, float | None]:
    """Seconds of one whole run, and the seconds its final report step printed (None without --report)."""
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "predict_folder.py",
            "--weights-dir",
            str(weights.parent),
            "--models",
            weights.name,
            "--test-dir",
            *videos,
            "--output",
            str(out / "scores.csv"),
            "--device",
            device,
            *extra,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    report = re.search(r"wrote the report .* in ([0-9.]+) s", done.stdout)
    return seconds, float(report.group(1)) if report else None


def explain_seconds_per_face(weights: Path, video: Path, faces: int, size: int, device: str) -> float:
    """Heat maps of `faces` faces of the video, after one warm-up batch; seconds per face."""

    from core.device import resolve_device
    from core.faces import FaceDetector, crop_face
    from core.images import face_to_model_input
    from core.video import read_sampled_frames
    from inference.explain import FACES_PER_PASS, HeatMapExplainer
    from inference.loading import InputSpec

    torch_device = resolve_device(device)
    sampled = read_sampled_frames(video, faces)
    found = FaceDetector(torch_device).detect(sampled.frames)
    inputs = [
        face_to_model_input(crop_face(frame, boxes[0].box), size)
        for frame, boxes in zip(sampled.frames, found, strict=True)
        if boxes
    ]
    explainer = HeatMapExplainer({"model": weights}, {"model": InputSpec(size)}, torch_device)
    explainer.explain({size: inputs[:FACES_PER_PASS]})
    started = time.perf_counter()
    explainer.explain({size: inputs})
    return (time.perf_counter() - started) / len(inputs)


def report_steps_per_video(diagnostics: Path, rounds: int) -> dict[str, float]:
    """Seconds per video of saving 32 thumbnails of 380-px faces and of drawing a page from scratch
    (thumbnails there)."""
    import numpy as np

    from inference.report import save_thumbnails, write_report
    from inference.results import load_diagnostics

    settings, videos = load_diagnostics(diagnostics)
    faces = [np.random.default_rng(i).integers(0, 255, (380, 380, 3), dtype=np.uint8) for i in range(32)]
    thumbnails, pages = [], []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(rounds):
            started = time.perf_counter()
            save_thumbnails(Path(folder), "video.mp4", faces, "video.mp4|0|0")
            thumbnails.append(time.perf_counter() - started)
        write_report(settings, videos, Path(folder) / "warm")  # thumbnails cut from the videos, imports done
        for _ in range(rounds):
            for video in (Path(folder) / "warm" / "videos").iterdir():
                (video / "record.sha256").unlink()  # drawn again, the thumbnails kept
            started = time.perf_counter()
            write_report(settings, videos, Path(folder) / "warm")
            pages.append((time.perf_counter() - started) / len(videos))
    return {"thumbnails": min(thumbnails), "page": min(pages)}


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--videos",
        nargs="+",
        required=True,
        help="video files or folders of videos (1080p, as the target is stated for)",
    )
    parser.add_argument("--weights", default=None, help="a checkpoint to use instead of a random B7")
    parser.add_argument("--encoder", default="tf_efficientnet_b7_ns", help="encoder of the random checkpoint")
    parser.add_argument(
        "--rounds",
        type=at_least(1),
        default=2,
        help="alternating rounds of the runs without and with --report",
    )
    parser.add_argument("--frames", type=at_least(1), default=32, help="frames sampled per video in the runs")
    parser.add_argument("--input-size", type=at_least(32), default=380, help="the classifier's face size")
    parser.add_argument(
        "--explain-faces", type=at_least(1), default=8, help="faces whose heat maps are timed"
    )
    parser.add_argument(
        "--device",
        choices=DEVICE_CHOICES,
        default="cpu",
        help="where detection, the classifier and the heat maps run",
    )
    parser.add_argument(
        "--skip-runs", action="store_true", help="only the heat maps' and the report steps' times"
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dfdc-bench-report-") as scratch:
        scratch = Path(scratch)
        weights = Path(args.weights) if args.weights else random_checkpoint(scratch, args.encoder)
        from inference.inputs import find_videos

        videos = find_videos(args.videos)
        print(f"videos: {len(videos)}; model: {weights.name}", flush=True)
        per_face = explain_seconds_per_face(
            weights, videos[0], args.explain_faces, args.input_size, args.device
        )
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        print(
            f"--explain: {per_face:.2f} s per face and model "
            f"({args.explain_faces} faces of {videos[0].name}), peak memory {peak:.2f} GB",
            flush=True,
        )
        if args.skip_runs:
            return 0
        plain, reported = timed_runs(args, weights, [str(video) for video in videos], scratch)
        steps = report_steps_per_video(scratch / "--report0" / "scores.diagnostics.json", 3)
        print_comparison(plain, reported, steps, len(videos))
    return 0


def timed_runs(
    args: argparse.Namespace, weights: Path, names: list[str], scratch: Path
) -> tuple[list[float], list[float]]:
    """Seconds of each round's folder run without and with --report, the two alternating round by round."""
    common = ["--frames", str(args.frames), "--input-size", str(args.input_size)]
    # converts the checkpoint once
    folder_run(weights, names[:1], scratch / "warm", [*common, "--frames", "4"], args.device)
    plain, reported = [], []
    for round_index in range(args.rounds):
        for label, extra in (
            ("plain", common),
            ("--report", [*common, "--report", str(scratch / f"report{round_index}")]),
        ):
            seconds, report_seconds = folder_run(
                weights, names, scratch / f"{label}{round_index}", extra, args.device
            )
            (reported if report_seconds is not None else plain).append(seconds)
            print(
                f"round {round_index + 1}: {label:9s} {seconds:.1f} s"
                + (f" (final report step {report_seconds:.2f} s)" if report_seconds is not None else ""),
                flush=True,
            )
    return plain, reported


def print_comparison(plain: list[float], reported: list[float], steps: dict[str, float], videos: int) -> None:
    """The runs with --report against those without, and the report's own steps against a plain run."""
    print(
        f"whole runs: plain {statistics.mean(plain):.1f} s (range {min(plain):.1f}-{max(plain):.1f}), "
        "with --report "
        f"{statistics.mean(reported):.1f} s (range {min(reported):.1f}-{max(reported):.1f}): "
        f"{100 * (statistics.mean(reported) / statistics.mean(plain) - 1):+.1f}%"
    )
    run_per_video = statistics.mean(plain) / videos
    own = steps["thumbnails"] + steps["page"]
    print(
        f"report's own work per video: thumbnails {steps['thumbnails'] * 1000:.0f} ms + "
        f"page {steps['page'] * 1000:.0f} ms = "
        f"{100 * own / run_per_video:.2f}% of a plain run's {run_per_video:.1f} s per video"
    )


if __name__ == "__main__":
    sys.exit(main())
