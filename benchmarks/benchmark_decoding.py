"""Time reading the sampled frames of short and long videos of the same content: does a long video cost as a
short one?

    python -m benchmarks.benchmark_decoding --out /tmp/decoding --seconds 10 600
    python -m benchmarks.benchmark_decoding --out /tmp/decoding --size 1920x1080 --seconds 10 3600 \
        --baseline-up-to 10

A 10-second H.264 clip (a keyframe every 2 s, as web video) is encoded from --source's frames (or a moving
synthetic picture), and the longer videos are that clip repeated, remuxed without re-encoding, so every video
has the same content and bitrate. Each is read as scoring reads it (core.video.read_sampled_frames) and, up to
--baseline-up-to seconds, also in one OpenCV pass up to its last sampled frame, as the reader before seeking
did. Made videos are kept in --out and reused.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np

from core.cli import ArgumentParser, at_least
from core.video import read_frames_at, read_sampled_frames, sample_frame_indices

RATE = 25


def size_option(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT") from None
    if width < 64 or height < 64 or width % 2 or height % 2:
        raise argparse.ArgumentTypeError(f"{text}: both sides even and at least 64")
    return width, height


def clip_frames(source: Path | None, size: tuple[int, int], count: int) -> list[np.ndarray]:
    """`count` RGB frames: the source video's first ones, resized, or a textured picture panning slowly."""
    if source is not None:
        frames = read_frames_at(source, list(range(count)))
        return [cv2.resize(frames[i % len(frames)], size, interpolation=cv2.INTER_AREA) for i in range(count)]
    width, height = size
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0 : width * 2]
    picture = np.dstack([(x * 255 // (width * 2)), (y * 255 // height), ((x + y) % 256)]).astype(np.int16)
    picture += rng.integers(-12, 13, picture.shape, dtype=np.int16)
    picture = np.clip(picture, 0, 255).astype(np.uint8)
    return [
        np.ascontiguousarray(picture[:, i * width // count : i * width // count + width])
        for i in range(count)
    ]


def write_atomic(path: Path, write) -> Path:
    partial = path.with_name(f".{path.name}.partial{path.suffix}")
    write(partial)
    os.replace(partial, path)
    return path


def encode_clip(path: Path, frames: list[np.ndarray], keyframe_seconds: float) -> None:
    keyint = round(keyframe_seconds * RATE)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(
            "libx264",
            rate=RATE,
            options={
                "preset": "veryfast",
                "x264-params": f"keyint={keyint}:min-keyint={keyint}:scenecut=0:log-level=error",
            },
        )
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def repeat_clip(clip: Path, path: Path, times: int) -> None:
    """The clip `times` times over, its packets copied with their timestamps shifted (each copy starts on a
    keyframe)."""
    with av.open(str(clip)) as source, av.open(str(path), "w") as target:
        stream = source.streams.video[0]
        packets = [packet for packet in source.demux(stream) if packet.size]
        out = target.add_stream_from_template(stream)
        step = packets[1].duration or round(1 / (RATE * stream.time_base))
        span = step * len(packets)
        for copy in range(times):
            for packet in packets:
                moved = av.Packet(bytes(packet))
                moved.pts, moved.dts = packet.pts + copy * span, packet.dts + copy * span
                moved.time_base, moved.is_keyframe, moved.stream = packet.time_base, packet.is_keyframe, out
                target.mux(moved)


def make_videos(args: argparse.Namespace) -> dict[int, Path]:
    args.out.mkdir(parents=True, exist_ok=True)
    width, height = args.size
    tag = f"{width}x{height}_{(args.source.stem if args.source else 'synthetic')}_k{args.keyframe_seconds:g}"
    clip = args.out / f"{tag}_10s.mp4"
    if not clip.exists():
        print(f"encoding {clip.name}", flush=True)
        write_atomic(
            clip,
            lambda partial: encode_clip(
                partial, clip_frames(args.source, args.size, 10 * RATE), args.keyframe_seconds
            ),
        )
    videos = {10: clip}
    for seconds in args.seconds:
        if seconds == 10:
            continue
        path = args.out / f"{tag}_{seconds}s.mp4"
        if not path.exists():
            print(f"remuxing {path.name}", flush=True)
            write_atomic(path, lambda partial, seconds=seconds: repeat_clip(clip, partial, seconds // 10))
        videos[seconds] = path
    return videos


def one_pass(path: Path, frames: int) -> float:
    """The reader before seeking: OpenCV grabs every frame up to the last sampled one and converts the sampled
    ones."""
    started = time.perf_counter()
    capture = cv2.VideoCapture(str(path))
    wanted = set(sample_frame_indices(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), frames))
    for index in range(max(wanted) + 1):
        capture.grab()
        if index in wanted:
            capture.retrieve()
    capture.release()
    return time.perf_counter() - started


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--out", type=Path, required=True, help="folder for the made videos (kept and reused)"
    )
    parser.add_argument(
        "--seconds",
        type=at_least(10),
        nargs="+",
        default=[10, 600],
        help="video lengths to time, multiples of 10 (10 is always made: it is the clip the others repeat)",
    )
    parser.add_argument("--size", type=size_option, default=(1280, 720), help="WIDTHxHEIGHT of the videos")
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help="a video whose first 250 frames make the clip (default: synthetic)",
    )
    parser.add_argument("--keyframe-seconds", type=float, default=2.0, help="seconds between keyframes")
    parser.add_argument(
        "--frames",
        type=at_least(1),
        default=32,
        help="frames sampled per video, as --frames of predict_folder.py",
    )
    parser.add_argument("--rounds", type=at_least(1), default=2, help="rounds over all videos, alternating")
    parser.add_argument(
        "--baseline-up-to",
        type=int,
        default=600,
        metavar="SECONDS",
        help="also time the one-pass OpenCV read of videos up to this long (an hour's takes minutes)",
    )
    args = parser.parse_args(argv)
    if any(seconds % 10 for seconds in args.seconds):
        parser.error(f"--seconds: multiples of 10 only, got {args.seconds}")
    if args.source is not None and not args.source.is_file():
        parser.error(f"--source: no such file: {args.source}")
    return args


def time_videos(args, videos: dict[int, Path]) -> tuple[dict[tuple[int, str], list[float]], dict]:
    """Seconds per (video length, "sampled" or "one pass") over --rounds rounds, and each length's sampled
    frames."""
    times: dict[tuple[int, str], list[float]] = {}
    details = {}
    for _ in range(args.rounds):
        for seconds, path in sorted(videos.items()):
            started = time.perf_counter()
            sampled = read_sampled_frames(path, args.frames)
            times.setdefault((seconds, "sampled"), []).append(time.perf_counter() - started)
            details[seconds] = sampled
            if seconds <= args.baseline_up_to:
                times.setdefault((seconds, "one pass"), []).append(one_pass(path, args.frames))
    return times, details


def report(args, times: dict[tuple[int, str], list[float]], details: dict) -> None:
    width, height = args.size
    for seconds, sampled in sorted(details.items()):
        line = (
            f"{seconds:>5} s {width}x{height}, {sampled.frame_count} frames: {len(sampled.frames)} sampled "
            f"in {statistics.median(times[seconds, 'sampled']):.2f} s (min "
            f"{min(times[seconds, 'sampled']):.2f}; "
            f"{sampled.decoding.decoder}, {sampled.decoding.frames_decoded} frames decoded)"
        )
        if (seconds, "one pass") in times:
            line += f"; one OpenCV pass, as before: {statistics.median(times[seconds, 'one pass']):.2f} s"
        print(line)
    short = statistics.median(times[10, "sampled"])
    for seconds in sorted(details):
        if seconds != 10:
            baseline = ""
            if (seconds, "one pass") in times and (10, "one pass") in times:
                ratio = statistics.median(times[seconds, "one pass"]) / statistics.median(
                    times[10, "one pass"]
                )
                baseline = f" (one pass, as before: {ratio:.1f}x)"
            print(
                f"{seconds} s against 10 s: {statistics.median(times[seconds, 'sampled']) / short:.1f}x"
                + baseline
            )


def main(argv=None) -> int:
    args = parse_args(argv)
    videos = make_videos(args)
    times, details = time_videos(args, videos)
    report(args, times, details)
    return 0


if __name__ == "__main__":
    sys.exit(main())
