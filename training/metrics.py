"""Video-level validation metrics: log loss on fakes and on reals (their mean is the score), and ROC AUC."""
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


def video_scores(videos: np.ndarray, labels: np.ndarray, probabilities: np.ndarray) -> dict:
    """Mean prediction per video, then log loss on fake videos, on real videos, their mean ('score'), and AUC."""
    frame = pd.DataFrame({"video": videos, "label": labels, "p": probabilities}).groupby("video").agg(label=("label", "first"), p=("p", "mean"))
    fakes, reals = frame[frame.label == 1], frame[frame.label == 0]
    fake_loss, real_loss = log_loss(fakes.label, fakes.p), log_loss(reals.label, reals.p)
    present = [loss for loss in (fake_loss, real_loss) if not np.isnan(loss)]
    return {"fake_loss": fake_loss, "real_loss": real_loss, "score": float(np.mean(present)) if present else float("nan"),
            "auc": roc_auc(frame.label.to_numpy(), frame.p.to_numpy()), "videos": int(len(frame))}
