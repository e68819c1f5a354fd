"""Score many videos: find them, reuse finished work, prepare the next videos in the background, write the CSV
and diagnostics atomically."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import re
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import TextIO

import torch
from tqdm import tqdm

from core.atomic import write_json_atomic, write_text_atomic
from core.checkpoints import file_identity
from core.shards import shard_output
from inference.inputs import diagnostics_path
from inference.predictor import NEUTRAL_SCORE, PreparedVideo, VideoPredictor, failed
from inference.report import trained_on
from inference.results import (
    SCHEMA_VERSION,
    DiagnosticsError,
    VideoResult,
    diagnostics_json,
    load_diagnostics,
)
from inference.strategy import STRATEGIES
from inference.tracks import kept_faces, score_video

log = logging.getLogger("dfdc.predict")


def progress_path(output: str | os.PathLike) -> Path:
    output = Path(output)
    return output.with_name(output.stem + ".progress.jsonl")


def video_key(video: Path) -> str:
    """Which file a finished result belongs to: its resolved path, size and modification time."""
    try:
        stat = video.stat()
    except OSError:
        return f"{video.resolve()}|missing"
    return f"{video.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def settings_key(weights: Sequence[Path], predictor: VideoPredictor) -> str:
    """Everything the per-face scores depend on; finished videos are reused only while it stays the same.

    The strategy is not part of it: video scores are recomputed from the stored per-face scores on every run.
    """
    parts = [f"{p.name}={file_identity(p)}" for p in weights]
    parts += [
        f"backends={sorted(type(model).__name__ for model in predictor.models.values())}",
        f"device={predictor.device.type}",
        f"dtype={predictor.dtype}",
        f"frames={predictor.settings.num_frames}",
        f"inputs={sorted(predictor.specs.items())}",
        f"jitter={predictor.settings.jitter}:{predictor.settings.seed}",
        f"max_faces={predictor.max_faces_per_frame}",
        f"detection={predictor.detector.settings()}",
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def has_heat_maps(record: VideoResult, explain_faces: str) -> bool:
    """Whether a result holds every heat map --explain asks for: of every face, or of each track's kept
    faces."""
    if not record.faces:
        return True
    wanted = range(len(record.faces)) if explain_faces == "every-face" else kept_faces(record.tracks)
    entries = record.heatmaps.values()
    return bool(entries) and all(entry["faces"][i] is not None for entry in entries for i in wanted)


def load_finished(output: Path, key: str, explain_faces: str | None = None) -> dict[str, VideoResult]:
    """Results of an earlier run with the same settings, by video key (see video_key): its diagnostics JSON,
    then its progress log. A file or line of another schema version is ignored (with a warning for the file):
    its videos are scored afresh. Results whose fallback was transient are left out, so that those videos are
    tried again, and so are results without the heat maps `explain_faces` asks for (see has_heat_maps)."""
    finished: dict[str, VideoResult] = {}
    diagnostics = diagnostics_path(output)
    if diagnostics.is_file():
        try:
            settings, records = load_diagnostics(diagnostics)
            if settings.get("settings_key") == key:
                finished.update({record.video_key: record for record in records.values()})
        except DiagnosticsError as error:
            log.warning("%s; its videos are scored afresh", error)
    progress = progress_path(output)
    if progress.is_file():
        for line in progress.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                if entry["schema"] == SCHEMA_VERSION and entry["settings_key"] == key:
                    record = VideoResult.from_json(entry["result"])
                    finished[record.video_key] = record
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
                # the last line of an interrupted run may be cut short; another version's line is scored
                # afresh
                continue
    return {
        video: record
        for video, record in finished.items()
        if not record.transient and (explain_faces is None or has_heat_maps(record, explain_faces))
    }


def default_workers(device: torch.device) -> int:
    """Videos to prepare ahead: one with a GPU, whose classification then overlaps decoding; none on a CPU,
    where classification already keeps every core busy (measured: benchmarks/README.md)."""
    return 1 if device.type == "cuda" else 0


def prepare_ahead(
    predictor: VideoPredictor, videos: list[Path], workers: int
) -> Iterator[tuple[Path, PreparedVideo]]:
    """Decode and detect up to `workers` videos ahead of the one being classified.

    The background threads run their torch ops on one core each, so they take at most a core from
    classification in the main thread. When the consumer stops (an interrupt), videos not yet started are
    dropped instead of waited for.
    """
    if workers <= 0:
        for video in videos:
            yield video, predictor.prepare(video)
        return
    pool = ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,))
    try:
        pending: deque[tuple[Path, Future]] = deque()
        for video in videos:
            pending.append((video, pool.submit(predictor.prepare, video)))
            if len(pending) > workers:
                done_video, future = pending.popleft()
                yield done_video, future.result()
        for done_video, future in pending:
            yield done_video, future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def predict_videos(
    predictor: VideoPredictor,
    videos: list[Path],
    output: str | os.PathLike,
    weights: Sequence[Path],
    workers: int = 0,
    strategy_name: str = "confident",
    report_dir: Path | None = None,
    names: dict[Path, str] | None = None,
) -> dict[str, VideoResult]:
    """Score every video, skipping those an earlier run with the same settings finished; write CSV + JSON.

    Each video is keyed by its resolved path, size and modification time, so another folder's file of the same
    name, or a re-encoded file, is scored afresh. Every video's result is appended to the progress log as it
    finishes, so an interrupted run (KeyboardInterrupt passes through at once) loses only the video in hand.
    With `report_dir`, each scored video's face thumbnails go there as it finishes, for the report
    (inference.report) made at the end. Results are keyed by `names` (inference.inputs.result_names; default:
    the file names).
    """
    output = Path(output)
    key = settings_key(weights, predictor)
    finished = load_finished(
        output, key, predictor.settings.explain_faces if predictor.explainer is not None else None
    )
    names = names or {video: video.name for video in videos}
    keys = {video: video_key(video) for video in videos}
    todo = [video for video in videos if keys[video] not in finished]
    results: dict[str, VideoResult] = {
        names[video]: finished[keys[video]] for video in videos if keys[video] in finished
    }
    if results:
        log.info("reusing %d finished videos from an earlier run", len(results))
    progress = progress_path(output)
    progress.parent.mkdir(parents=True, exist_ok=True)
    with (
        progress.open("a", encoding="utf-8") as progress_log,
        closing(score_each(predictor, todo, workers)) as scored,
    ):
        for video, prepared, result in scored:
            if result.fallback:
                tqdm.write(f"warning: {names[video]}: {result.fallback}; scored {NEUTRAL_SCORE}")
            elif report_dir is not None:
                save_report_thumbnails(report_dir, names[video], prepared, keys[video])
            result.video_key = keys[video]
            results[names[video]] = result
            append_progress(progress_log, key, result)
    rescore_with_strategy(results, strategy_name, predictor.settings.video_score)
    write_outputs(output, results, run_settings(predictor, key, weights, strategy_name))
    progress.unlink(missing_ok=True)
    return results


def append_progress(progress_log: TextIO, key: str, result: VideoResult) -> None:
    """One finished video's line of the progress log, flushed at once: an interrupted run loses only the
    video in hand."""
    progress_log.write(
        json.dumps({"schema": SCHEMA_VERSION, "settings_key": key, "result": result.to_json()}) + "\n"
    )
    progress_log.flush()


def score_each(
    predictor: VideoPredictor, videos: list[Path], workers: int
) -> Iterator[tuple[Path, PreparedVideo, VideoResult]]:
    """Each video, prepared `workers` videos ahead (see prepare_ahead), and its result; a video whose
    classification fails gets the neutral score, with the reason."""
    with closing(prepare_ahead(predictor, videos, workers)) as prepared_videos:
        for video, prepared in tqdm(prepared_videos, total=len(videos), desc="videos", unit="video"):
            try:
                result = predictor.score(prepared)
            except Exception as error:  # one bad video must not stop the run; the reason is recorded
                result = failed(prepared.result, "classification", error)
            yield video, prepared, result


def run_settings(predictor: VideoPredictor, key: str, weights: Sequence[Path], strategy_name: str) -> dict:
    """What the diagnostics record of the run's settings, beside its videos."""
    return {
        "settings_key": key,
        "models": [w.name for w in weights],
        "strategy": strategy_name,
        "video_score": predictor.settings.video_score,
        "frames": predictor.settings.num_frames,
        "inputs": {
            name: {"size": spec.size, "mean": spec.mean, "std": spec.std}
            for name, spec in predictor.specs.items()
        },
        "trained_on": trained_on(weights),
    }


def save_report_thumbnails(report_dir: Path, name: str, prepared: PreparedVideo, key: str) -> None:
    """The faces as the largest-input model saw them; a report without them is still a report, so a failure
    only warns (the report cuts them from the video again)."""
    from inference.report import save_thumbnails

    try:
        save_thumbnails(report_dir, name, prepared.inputs[max(prepared.inputs)], key)
    except OSError as error:
        tqdm.write(f"warning: {name}: face thumbnails for the report not saved: {error}")


def rescore_with_strategy(
    results: dict[str, VideoResult], strategy_name: str, video_score: str = "every-face"
) -> None:
    """Recompute video and track scores from stored per-face scores, so reused videos follow this run's
    strategy and video score."""
    strategy = STRATEGIES[strategy_name]
    for record in results.values():
        if record.scores:
            record.model_scores, record.score, record.tracks = score_video(
                record.faces, record.scores, strategy, video_score
            )


def write_outputs(output: Path, results: dict[str, VideoResult], settings: dict) -> None:
    """The CSV (sorted by name) and the diagnostics JSON: `settings` and every video's record
    (inference.results).

    The CSV's columns are `filename,label` although the second holds each video's score: that is the DFDC
    submission format, which users and the original solution's tools read."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")  # quotes a name holding a comma, a quote or a line break
    writer.writerow(["filename", "label"])
    writer.writerows([name, f"{results[name].score:.6f}"] for name in sorted(results))
    write_text_atomic(output, buffer.getvalue())
    write_json_atomic(diagnostics_path(output), diagnostics_json(settings, results), indent=None)


class ShardError(Exception):
    """Shards that cannot be merged: one is missing or was made with other settings."""


def shard_count(output: Path) -> int:
    """N of the shards of `output` found on disk."""
    pattern = re.compile(re.escape(output.stem) + r"\.shard-\d+-of-(\d+)" + re.escape(output.suffix) + "$")
    counts = {
        int(match.group(1))
        for path in output.parent.glob(f"{output.stem}.shard-*")
        if (match := pattern.match(path.name))
    }
    if not counts:
        raise ShardError(f"no shard of {output} found ({output.stem}.shard-I-of-N{output.suffix})")
    if len(counts) > 1:
        raise ShardError(
            f"shards of {output} from runs split {' and '.join(map(str, sorted(counts)))} ways: "
            "remove the stale ones"
        )
    return counts.pop()


def merge_shards(output: Path, count: int | None = None) -> dict[str, VideoResult]:
    """One CSV and diagnostics JSON at `output` from its N finished shards; every shard must be there, with
    the same settings (weights, device, inputs, detection, strategy) and no video scored twice."""
    count = count or shard_count(output)
    merged: dict[str, VideoResult] = {}
    settings = None
    for index in range(count):
        part = shard_output(output, (index, count))
        diagnostics = diagnostics_path(part)
        if not part.is_file() or not diagnostics.is_file():
            raise ShardError(
                f"shard {index} of {count} is missing: {part if not part.is_file() else diagnostics}"
            )
        data, videos = load_diagnostics(diagnostics)
        data.pop("shard", None)
        if settings is None:
            settings = data
        elif data != settings:
            raise ShardError(
                f"{diagnostics} was made with other settings than shard 0 "
                "(weights, device, inputs, detection or strategy)"
            )
        twice = sorted(set(videos) & set(merged))
        if twice:
            raise ShardError(f"{twice[0]!r} was scored by two shards (shard {index} and an earlier one)")
        merged.update(videos)
    write_outputs(output, merged, settings)
    return merged


def all_shards_done(output: Path, count: int) -> bool:
    return all(
        shard_output(output, (index, count)).is_file()
        and diagnostics_path(shard_output(output, (index, count))).is_file()
        for index in range(count)
    )
