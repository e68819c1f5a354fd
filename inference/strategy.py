"""Combine one model's per-face fake probabilities into one score for the video."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def confident_strategy(pred: Sequence[float], t: float = 0.8) -> float:
    """Trust a confident majority, else the plain mean.

    Log loss punishes confident mistakes, so a video is pushed towards 1 only
    when many faces (more than n // 2.5 and more than 11) look fake beyond `t`,
    and towards 0 only when more than 90% of faces look clearly real (< 0.2).
    """
    pred = np.asarray(pred, dtype=np.float64)
    if pred.size == 0:
        raise ValueError("confident_strategy needs at least one prediction")
    n = pred.size
    confident_fakes = pred[pred > t]
    if confident_fakes.size > n // 2.5 and confident_fakes.size > 11:
        return float(np.mean(confident_fakes))
    confident_reals = pred[pred < 0.2]
    if confident_reals.size > 0.9 * n:
        return float(np.mean(confident_reals))
    return float(np.mean(pred))


def mean_strategy(pred: Sequence[float]) -> float:
    pred = np.asarray(pred, dtype=np.float64)
    if pred.size == 0:
        raise ValueError("mean_strategy needs at least one prediction")
    return float(np.mean(pred))


STRATEGIES: dict[str, Callable[[Sequence[float]], float]] = {
    "confident": confident_strategy,
    "mean": mean_strategy,
}


def face_means(scores: dict[str, Sequence[float]]) -> np.ndarray:
    """Each face's score: its mean over the models (`scores` holds each model's per-face scores, aligned)."""
    return np.mean([values for values in scores.values()], axis=0) if scores else np.zeros(0)


def combine(
    scores: dict[str, Sequence[float]], strategy: Callable[[Sequence[float]], float]
) -> tuple[dict[str, float], float]:
    """Each model's video score under `strategy`, and their plain mean: the video's score."""
    model_scores = {name: strategy(values) for name, values in scores.items()}
    return model_scores, float(np.mean(list(model_scores.values())))
