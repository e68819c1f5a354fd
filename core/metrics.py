"""Video-level metrics shared by validation and evaluate.py: log loss (the DFDC metric), ROC AUC, average
precision."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

CLIP = 1e-15  # the DFDC metric's clipping of predictions


def log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    p = np.clip(np.asarray(probabilities, dtype=np.float64), CLIP, 1 - CLIP)
    y = np.asarray(labels, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))) if len(y) else float("nan")


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Probability that a random fake scores above a random real (ties count half)."""
    labels = np.asarray(labels)
    positives, negatives = (labels == 1).sum(), (labels == 0).sum()
    if not positives or not negatives:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def fake_real_log_loss(labels: np.ndarray, probabilities: np.ndarray) -> tuple[float, float, float]:
    """(log loss on fakes, on reals, their mean); a class that is absent gives nan and is left out of the
    mean."""
    labels, probabilities = np.asarray(labels), np.asarray(probabilities)
    fake = log_loss(labels[labels == 1], probabilities[labels == 1])
    real = log_loss(labels[labels == 0], probabilities[labels == 0])
    present = [loss for loss in (fake, real) if not np.isnan(loss)]
    return fake, real, float(np.mean(present)) if present else float("nan")


def video_scores(videos: np.ndarray, labels: np.ndarray, probabilities: np.ndarray) -> dict:
    """Mean prediction per video, then log loss on fake videos, on real videos, their mean ('score'), and
    AUC."""
    frame = (
        pd.DataFrame({"video": videos, "label": labels, "p": probabilities})
        .groupby("video")
        .agg(label=("label", "first"), p=("p", "mean"))
    )
    fake_loss, real_loss, score = fake_real_log_loss(frame.label.to_numpy(), frame.p.to_numpy())
    return {
        "fake_loss": fake_loss,
        "real_loss": real_loss,
        "score": score,
        "auc": roc_auc(frame.label.to_numpy(), frame.p.to_numpy()),
        "videos": int(len(frame)),
    }


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve as the mean precision at each fake, ranked by score (ties
    together)."""
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    positives = int((labels == 1).sum())
    if not positives:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    labels, scores = labels[order], scores[order]
    # precision and recall at each distinct threshold
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    true_positives = np.cumsum(labels == 1)[last_of_tie]
    precision = true_positives / (last_of_tie + 1)
    recall_gain = np.diff(np.r_[0, true_positives]) / positives
    return float(np.sum(precision * recall_gain))


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rates, true positive rates) over all thresholds, from (0, 0) to (1, 1)."""
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    labels, scores = labels[order], scores[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    tps = np.cumsum(labels == 1)[last_of_tie]
    fps = np.cumsum(labels == 0)[last_of_tie]
    return np.r_[0, fps] / max(fps[-1], 1), np.r_[0, tps] / max(tps[-1], 1)


def equal_error_rate(labels: np.ndarray, scores: np.ndarray) -> float:
    """The error rate at the threshold where reals called fake (FPR) and fakes missed (1 - TPR) are equal,
    interpolated linearly between the two thresholds that straddle it."""
    labels = np.asarray(labels)
    if not (labels == 1).any() or not (labels == 0).any():
        return float("nan")
    fpr, tpr = roc_curve(labels, scores)
    fnr = 1 - tpr
    crossing = int(np.flatnonzero(fpr >= fnr)[0])  # fpr rises from 0 and fnr falls to 0 along the curve
    if crossing == 0:
        return float(fpr[0])
    # on the segment from point crossing-1 to crossing, where does fpr - fnr change sign?
    before, after = fpr[crossing - 1] - fnr[crossing - 1], fpr[crossing] - fnr[crossing]
    t = before / (before - after) if before != after else 0.0
    return float(fpr[crossing - 1] + t * (fpr[crossing] - fpr[crossing - 1]))


def balanced_accuracy(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> float:
    """Mean of the share of fakes above `threshold` and the share of reals at or below it."""
    labels, called_fake = np.asarray(labels), np.asarray(scores) > threshold
    rates = [
        float(np.mean(called_fake[labels == 1])) if (labels == 1).any() else None,
        float(np.mean(~called_fake[labels == 0])) if (labels == 0).any() else None,
    ]
    present = [rate for rate in rates if rate is not None]
    return float(np.mean(present)) if present else float("nan")
