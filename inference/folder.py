"""Score many videos: find them, reuse finished work, prepare the next videos in the background, write the CSV and diagnostics atomically."""
from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import torch
from tqdm import tqdm

from core.atomic import write_json_atomic, write_text_atomic
from inference.inputs import diagnostics_path
from inference.predictor import NEUTRAL_LABEL, PreparedVideo, VideoPredictor, VideoResult
from inference.strategy import STRATEGIES, combine

log = logging.getLogger("dfdc.predict")

def progress_path(output: str | os.PathLike) -> Path:
    output = Path(output)
    return output.with_name(output.stem + ".progress.jsonl")


def settings_key(weights: Sequence[Path], predictor: VideoPredictor) -> str:
    """What the per-face scores depend on; finished videos are reused only while it stays the same."""
    parts = [f"{p.name}:{p.stat().st_size}:{int(p.stat().st_mtime)}" for p in weights]
    parts += [f"frames={predictor.num_frames}", f"size={predictor.input_size}", f"jitter={predictor.jitter}:{predictor.seed}",
              f"max_faces={predictor.max_faces_per_frame}"]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def load_finished(output: Path, key: str) -> dict[str, dict]:
    """Results of an earlier run with the same settings: its diagnostics JSON, then its progress log."""
    finished: dict[str, dict] = {}
    diagnostics = diagnostics_path(output)
    if diagnostics.is_file():
        try:
            data = json.loads(diagnostics.read_text())
            if data.get("settings_key") == key:
                finished.update(data.get("videos", {}))
        except (json.JSONDecodeError, AttributeError):
            log.warning("ignoring unreadable %s", diagnostics)
    progress = progress_path(output)
    if progress.is_file():
        for line in progress.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # the last line of an interrupted run may be cut short
            if record.get("settings_key") == key:
                finished[record["video"]] = record["result"]
    return finished


def default_workers(device: torch.device) -> int:
    """Videos to prepare ahead: one with a GPU, whose classification then overlaps decoding; none on a CPU,
    where classification already keeps every core busy (measured on 2 cores: 4-8% slower with one ahead)."""
    return 1 if device.type == "cuda" else 0


def prepare_ahead(predictor: VideoPredictor, videos: list[Path], workers: int) -> Iterator[tuple[Path, PreparedVideo]]:
    """Decode and detect up to `workers` videos ahead of the one being classified.

    The background threads run their torch ops on one core each, so they take
    at most a core from classification in the main thread.
    """
    if workers <= 0:
        for video in videos:
            yield video, predictor.prepare(video)
        return
    with ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        pending: deque[tuple[Path, Future]] = deque()
        for video in videos:
            pending.append((video, pool.submit(predictor.prepare, video)))
            if len(pending) > workers:
                done_video, future = pending.popleft()
                yield done_video, future.result()
        for done_video, future in pending:
            yield done_video, future.result()


def predict_videos(
    predictor: VideoPredictor,
    videos: list[Path],
    output: str | os.PathLike,
    weights: Sequence[Path],
    workers: int = 0,
    strategy_name: str = "confident",
) -> dict[str, dict]:
    """Score every video, skipping those an earlier run with the same settings finished; write CSV + JSON."""
    output = Path(output)
    key = settings_key(weights, predictor)
    finished = load_finished(output, key)
    todo = [video for video in videos if video.name not in finished]
    results: dict[str, dict] = {video.name: finished[video.name] for video in videos if video.name in finished}
    if results:
        log.info("reusing %d finished videos from an earlier run", len(results))
    progress = progress_path(output)
    progress.parent.mkdir(parents=True, exist_ok=True)
    with progress.open("a") as progress_log:
        for video, prepared in tqdm(prepare_ahead(predictor, todo, workers), total=len(todo), desc="videos", unit="video"):
            try:
                result = predictor.score(prepared)
            except Exception as error:  # one bad video must not stop the run; the reason is recorded
                result = VideoResult(NEUTRAL_LABEL, fallback=f"classification failed: {type(error).__name__}: {error}")
            if result.fallback:
                tqdm.write(f"warning: {video.name}: {result.fallback}; scored {NEUTRAL_LABEL}")
            record = result.to_json()
            results[video.name] = record
            progress_log.write(json.dumps({"settings_key": key, "video": video.name, "result": record}) + "\n")
            progress_log.flush()
    rescore_with_strategy(results, strategy_name)
    write_outputs(output, results, key, weights, predictor, strategy_name)
    progress.unlink(missing_ok=True)
    return results


def rescore_with_strategy(results: dict[str, dict], strategy_name: str) -> None:
    """Recompute labels from stored per-face scores, so reused videos follow this run's strategy."""
    strategy = STRATEGIES[strategy_name]
    for record in results.values():
        if record.get("scores"):
            record["model_labels"], record["label"] = combine(record["scores"], strategy)


def write_outputs(output: Path, results: dict[str, dict], key: str, weights: Sequence[Path], predictor: VideoPredictor, strategy_name: str) -> None:
    lines = ["filename,label"] + [f"{name},{results[name]['label']:.6f}" for name in sorted(results)]
    write_text_atomic(output, "\n".join(lines) + "\n")
    write_json_atomic(
        diagnostics_path(output),
        {
            "settings_key": key,
            "models": [w.name for w in weights],
            "strategy": strategy_name,
            "frames": predictor.num_frames,
            "input_size": predictor.input_size,
            "videos": {name: results[name] for name in sorted(results)},
        },
        indent=None,
    )
