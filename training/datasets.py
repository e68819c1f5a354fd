"""Face crops from folds.csv as training and validation samples, and the per-epoch real/fake balancing."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset, Sampler

from core.dlib_landmarks import unavailable_reason
from training.augmentations import seed_transforms
from training.face_dropout import (
    blackout_convex_hull,
    blackout_half_face,
    blackout_region,
    remove_landmark_part,
)

log = logging.getLogger("dfdc.train")

MAX_REPLACEMENTS = 20  # broken crops skipped in a row before giving up on the dataset


def read_folds(path: str | Path, fold: int, train: bool) -> pd.DataFrame:
    """Rows of folds.csv outside `fold` (train) or in it (validation)."""
    folds = pd.read_csv(path, dtype={"video": str, "original": str}, keep_default_na=False)
    rows = folds[folds["fold"] != fold] if train else folds[folds["fold"] == fold]
    return rows.reset_index(drop=True)


class FaceCrops(Dataset):
    """(normalised CHW image, label, index) for each folds.csv row.

    In training, labels are clipped to [s, 1 - s] (label smoothing) and, with
    `hardcore`, parts of the face are blacked out before the augmentations:
    eyes, mouth or nose along the landmarks (p 0.7 where landmarks exist), else
    half of the face outline (p 0.2: dlib's 68-point outline as the original, or an ellipse
    around the landmarks where dlib's model is not installed), else one of six half/quarter
    regions (p 0.1, for a fake only one that keeps manipulated pixels of its diff mask visible).
    """

    def __init__(
        self,
        data_root,
        rows: pd.DataFrame,
        transforms,
        normalize: dict,
        train: bool,
        hardcore: bool = True,
        label_smoothing: float = 0.01,
        seed: int = 0,
    ):
        self.root = Path(data_root)
        self.rows = rows
        self.transforms = transforms
        self.mean = np.array(normalize["mean"], dtype=np.float32) * 255
        self.std = np.array(normalize["std"], dtype=np.float32) * 255
        self.train = train
        self.hardcore = hardcore
        self.label_smoothing = label_smoothing
        self.seed = seed
        self.epoch = 0
        self.dlib_outline = train and hardcore and unavailable_reason() is None
        if train and hardcore and not self.dlib_outline:
            log.warning(
                "half-face blackout along an ellipse instead of dlib's 68-point outline: %s",
                unavailable_reason(),
            )

    def __len__(self) -> int:
        return len(self.rows)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _side_file(self, folder: str, row, suffix: str) -> Path:
        stem = Path(row.file).stem
        return self.root / folder / row.video / f"{stem}{suffix}"

    def _dropout(self, image: np.ndarray, row, rng: np.random.Generator) -> np.ndarray:
        # a fake shares its original's landmarks: same frames, same crop boxes
        landmark_video = row.original if row.label == 1 and row.original else row.video
        landmarks_file = self.root / "landmarks" / landmark_video / f"{Path(row.file).stem}.npy"
        landmarks = np.load(landmarks_file) if landmarks_file.is_file() else None
        if landmarks is not None and rng.random() < 0.7:
            return remove_landmark_part(image, landmarks, rng)
        if rng.random() < 0.2:
            return (
                blackout_convex_hull(image, rng)
                if self.dlib_outline
                else blackout_half_face(image, landmarks, rng)
            )
        if rng.random() < 0.1:
            diff = None
            if row.label == 1:
                diff_file = self._side_file("diffs", row, "_diff.png")
                diff = cv2.imread(str(diff_file), cv2.IMREAD_GRAYSCALE) if diff_file.is_file() else None
            return blackout_region(image, diff, row.label == 1, rng)
        return image

    def load(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        row = self.rows.iloc[index]
        image = cv2.imread(str(self.root / row.file), cv2.IMREAD_COLOR)
        if image is None:
            raise OSError(f"cannot read crop {self.root / row.file}")
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        if self.train and self.hardcore:
            image = self._dropout(image, row, rng)
        label = float(row.label)
        if self.train:
            label = float(np.clip(label, self.label_smoothing, 1 - self.label_smoothing))
        return image, label

    def __getitem__(self, index: int):
        """(image tensor, label, row index, readable). In training a broken crop is replaced by another row's
        (which then gives its own index); in validation it is never replaced: it comes back unreadable, to be
        left out."""
        rng = np.random.default_rng([self.seed, self.epoch, index])
        for _ in range(MAX_REPLACEMENTS):
            try:
                image, label = self.load(index, rng)
                break
            except (OSError, cv2.error, ValueError) as error:
                if not self.train:
                    log.warning("validation leaves out a broken crop (%s)", error)
                    size = self.transforms(image=np.zeros((8, 8, 3), np.uint8))["image"].shape
                    return (
                        torch.zeros((3, *size[:2])),
                        torch.tensor(float(self.rows.iloc[index].label)),
                        index,
                        False,
                    )
                log.warning("skipping a broken sample (%s); using another", error)
                index = int(rng.integers(len(self.rows)))
        else:
            raise RuntimeError(
                f"{MAX_REPLACEMENTS} broken crops in a row under {self.root}; is the dataset preprocessed?"
            )
        seed_transforms(self.transforms, int(rng.integers(2**31)))
        image = self.transforms(image=image)["image"]
        tensor = torch.from_numpy(
            ((image.astype(np.float32) - self.mean) / self.std).transpose(2, 0, 1).copy()
        )
        return tensor, torch.tensor(label, dtype=torch.float32), index, True


class BalancedEpochSampler(Sampler[int]):
    """Each epoch: every real crop and as many fake crops drawn at random, shuffled, split across ranks.

    Seeded by (seed, epoch), so every rank draws the same epoch and takes its
    own disjoint share. With `oversample=False` all rows are used.
    """

    def __init__(
        self,
        labels: np.ndarray,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        oversample: bool = True,
        max_samples: int | None = None,
    ):
        self.labels = np.asarray(labels)
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.oversample = oversample
        self.max_samples = max_samples
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def epoch_indices(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.epoch])
        reals = np.flatnonzero(self.labels == 0)
        fakes = np.flatnonzero(self.labels == 1)
        if self.oversample and len(reals) and len(fakes):
            fakes = rng.choice(fakes, size=len(reals), replace=len(fakes) < len(reals))
        indices = rng.permutation(np.concatenate([reals, fakes]))
        if self.max_samples:
            indices = indices[: self.max_samples * self.world_size]
        usable = len(indices) // self.world_size * self.world_size  # every rank gets the same count
        return indices[:usable][self.rank :: self.world_size]

    def __iter__(self):
        return iter(self.epoch_indices().tolist())

    def __len__(self) -> int:
        return len(self.epoch_indices())
