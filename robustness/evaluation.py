"""Score a labelled set of videos clean and under each perturbation and level, keep every video's result as it
finishes, and summarise per condition: AUC, log loss, balanced log loss, how far video scores moved from the
clean ones, and the faces the perturbation cost."""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.metrics import fake_real_log_loss, log_loss, roc_auc
from core.video import SampledFrames
from inference.folder import video_key
from inference.predictor import NEUTRAL_SCORE, VideoPredictor
from inference.results import SCHEMA_VERSION, VideoResult
from robustness.perturbations import FRAME_PERTURBATIONS, LEVELS, PERTURBATIONS, compress_video

CLEAN = "clean"


@dataclass(frozen=True)
class Condition:
    perturbation: str  # one of PERTURBATIONS, or CLEAN (level 0)
    level: int

    @property
    def parameter(self) -> float | None:
        return None if self.perturbation == CLEAN else LEVELS[self.perturbation][self.level - 1]

    @property
    def key(self) -> str:
        return f"{self.perturbation}:{self.level}"


def conditions(
    perturbations: Sequence[str] = PERTURBATIONS, levels: Sequence[int] = (1, 2, 3, 4, 5)
) -> list[Condition]:
    """The clean row (level 0) first, then every perturbation at every level."""
    return [Condition(CLEAN, 0)] + [Condition(name, level) for name in perturbations for level in levels]


class PerturbedPredictor(VideoPredictor):
    """VideoPredictor whose sampled frames pass through `perturb` before detection and classification."""

    perturb: Callable[[np.ndarray], np.ndarray] | None = None

    def read(self, path: str | os.PathLike) -> SampledFrames:
        sampled = super().read(path)
        if self.perturb is not None:
            sampled.frames = [self.perturb(frame) for frame in sampled.frames]
        return sampled


def frame_perturbation(condition: Condition, video: Path, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """The condition's frame perturbation, with its random draws fixed by seed, condition and video name."""
    rng = np.random.default_rng(
        [seed, PERTURBATIONS.index(condition.perturbation), condition.level, zlib.crc32(video.name.encode())]
    )
    perturbation, parameter = FRAME_PERTURBATIONS[condition.perturbation], float(condition.parameter)
    return lambda frame: perturbation(frame, parameter, rng)


def score(
    predictor: PerturbedPredictor, condition: Condition, video: Path, work: Path, seed: int
) -> VideoResult:
    """One video under one condition: its record, with the path and key of the video (not of a scratch
    file)."""
    predictor.perturb = None
    target = video
    # a scratch file, written afresh by a rerun and removed after scoring
    if condition.perturbation == "video_compression":
        work.mkdir(parents=True, exist_ok=True)
        target = compress_video(
            video, work / f"crf{int(condition.parameter)}_{video.name}.mp4", condition.parameter
        )
    elif condition.perturbation != CLEAN:
        predictor.perturb = frame_perturbation(condition, video, seed)
    try:
        result = predictor.predict(target)
    finally:
        if target != video:
            target.unlink(missing_ok=True)
    result.path, result.video_key = str(video.resolve()), video_key(video)
    return result


def load_results(path: Path, settings: str) -> dict[tuple[str, str], VideoResult]:
    """Finished (condition, video key) -> result, from an earlier run with the same settings; transient
    failures, and lines of another schema version (inference.results), are redone."""
    results: dict[tuple[str, str], VideoResult] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                if entry["schema"] == SCHEMA_VERSION and entry["settings"] == settings:
                    record = VideoResult.from_json(entry["result"])
                    if not record.transient:
                        results[(entry["condition"], record.video_key)] = record
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
                continue  # the last line of a killed run, or a line of another version
    return results


def run(
    predictor: PerturbedPredictor,
    videos: Sequence[Path],
    chosen: Sequence[Condition],
    out: Path,
    settings: str,
    seed: int = 0,
) -> dict[tuple[str, str], VideoResult]:
    """Every video under every condition, skipping what an earlier run with the same settings finished."""
    out.mkdir(parents=True, exist_ok=True)
    results_file = out / "results.jsonl"
    results = load_results(results_file, settings)
    keys = {video: video_key(video) for video in videos}
    todo = [
        (condition, video)
        for condition in chosen
        for video in videos
        if (condition.key, keys[video]) not in results
    ]
    with results_file.open("a", encoding="utf-8") as log:
        for condition, video in tqdm(todo, desc="perturbed videos", unit="video"):
            result = score(predictor, condition, video, out / "work", seed)
            results[(condition.key, keys[video])] = result
            log.write(
                json.dumps(
                    {
                        "schema": SCHEMA_VERSION,
                        "settings": settings,
                        "condition": condition.key,
                        "result": result.to_json(),
                    }
                )
                + "\n"
            )
            log.flush()
    return results


def summarise(
    results: dict[tuple[str, str], VideoResult],
    videos: Sequence[Path],
    labels: dict[str, float],
    chosen: Sequence[Condition],
) -> list[dict]:
    """One row per condition. The AUC and losses are over the videos in which a face was found (a faceless
    video is counted, not scored 0.5 behind the reader's back); `auc_with_fallbacks` scores those 0.5, as a
    deployed run would."""
    keys = {video.name: video_key(video) for video in videos}
    clean = {name: results.get((Condition(CLEAN, 0).key, key)) for name, key in keys.items()}
    rows = []
    for condition in chosen:
        records = {
            name: results[(condition.key, key)]
            for name, key in keys.items()
            if (condition.key, key) in results
        }
        rows.append(condition_row(condition, records, labels, clean))
    return rows


def condition_row(
    condition: Condition,
    records: dict[str, VideoResult],
    labels: dict[str, float],
    clean: dict[str, VideoResult | None],
) -> dict:
    """The summary of one condition from its videos' records, by name; `clean` holds the same videos' clean
    records, which the score changes and lost faces are measured against."""
    scored = {name: record for name, record in records.items() if record.fallback is None}
    y = np.array([labels[name] for name in scored])
    p = np.array([record.score for record in scored.values()])
    fake_loss, real_loss, balanced = fake_real_log_loss(y, p)
    all_y = np.array([labels[name] for name in records])
    all_p = np.array(
        [record.score if record.fallback is None else NEUTRAL_SCORE for record in records.values()]
    )
    changes = [
        abs(record.score - clean[name].score)
        for name, record in scored.items()
        if clean.get(name) and clean[name].fallback is None
    ]
    return {
        "perturbation": condition.perturbation,
        "level": condition.level,
        "parameter": condition.parameter,
        "videos": len(records),
        "scored": len(scored),
        "auc": roc_auc(y, p),
        "log_loss": log_loss(y, p),
        "balanced_log_loss": balanced,
        "fake_log_loss": fake_loss,
        "real_log_loss": real_loss,
        "auc_with_fallbacks": roc_auc(all_y, all_p),
        "mean_abs_score_change": float(np.mean(changes)) if changes else float("nan"),
        "max_abs_score_change": float(np.max(changes)) if changes else float("nan"),
        "videos_without_face": sum(
            record.fallback is not None and record.frames_read > 0 for record in records.values()
        ),
        "videos_that_lost_their_face": sum(
            record.fallback is not None and clean.get(name) is not None and clean[name].fallback is None
            for name, record in records.items()
        ),
        "frames_without_face": sum(
            record.frames_read - record.frames_with_faces for record in records.values()
        ),
        "frames_read": sum(record.frames_read for record in records.values()),
    }
