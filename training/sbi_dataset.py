"""Training and validation samples of the self-blended-images mode (config "fakes": "sbi"): REAL crops of
folds.csv that have 68 landmarks (preprocessing/generate_landmarks68.py), each paired with a fake blended from
itself.

A training batch of B images holds B / 2 reals and their own B / 2 fakes. The fakes of folds.csv are never
trained on.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from core.images import isotropically_resize_image, put_to_center
from preprocessing.generate_landmarks68 import FOLDER
from training.sbi import make_pair

log = logging.getLogger("dfdc.train")

MAX_REPLACEMENTS = 20  # broken crops skipped in a row before giving up on the dataset


def landmarks_file(root: Path, video: str, file: str) -> Path:
    return root / FOLDER / video / f"{Path(file).stem}.npy"


def sbi_rows(root: str | Path, rows: pd.DataFrame, frames_per_video: int = 0) -> pd.DataFrame:
    """The REAL rows that have 68 landmarks; with `frames_per_video`, at most that many per video, evenly
    spaced over its frames (the paper trains on 8 frames of each video)."""
    root = Path(root)
    reals = rows[rows["label"] == 0]
    reals = reals[[landmarks_file(root, row.video, row.file).is_file() for row in reals.itertuples()]]
    if frames_per_video:
        picked = []
        for _, video_rows in reals.sort_values(["video", "frame", "file"]).groupby("video", sort=True):
            positions = np.unique(
                np.linspace(0, len(video_rows) - 1, min(frames_per_video, len(video_rows)))
                .round()
                .astype(int)
            )
            picked.append(video_rows.iloc[positions])
        reals = pd.concat(picked) if picked else reals
    return reals.reset_index(drop=True)


class SelfBlendedPairs(Dataset):
    """(real tensor, fake tensor, row index) for each REAL row: the crop self-blended at its own resolution (a
    crop smaller than `size` first enlarged to it), then resized so that its longer side is `size`,
    zero-padded to a square and normalised, as the paper blends the crop and then resizes it. In training the
    pair is flipped and augmented (training/sbi.py) with draws from (seed, epoch, index); outside training
    every epoch gets the same pair."""

    def __init__(self, data_root, rows: pd.DataFrame, size: int, normalize: dict, train: bool, seed: int = 0):
        self.root = Path(data_root)
        self.rows = rows
        self.size = size
        self.mean = np.array(normalize["mean"], dtype=np.float32) * 255
        self.std = np.array(normalize["std"], dtype=np.float32) * 255
        self.train = train
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.rows)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _tensor(self, image: np.ndarray) -> torch.Tensor:
        square = put_to_center(image, self.size)
        return torch.from_numpy(
            ((square.astype(np.float32) - self.mean) / self.std).transpose(2, 0, 1).copy()
        )

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        row = self.rows.iloc[index]
        image = cv2.imread(str(self.root / row.file), cv2.IMREAD_COLOR)
        if image is None:
            raise OSError(f"cannot read crop {self.root / row.file}")
        landmarks = np.load(landmarks_file(self.root, row.video, row.file)).astype(np.float32)
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        if max(image.shape[:2]) >= self.size:
            return image, landmarks  # blended at the crop's own resolution, resized afterwards
        resized = isotropically_resize_image(image, self.size)
        return resized, landmarks * (resized.shape[1] / image.shape[1])

    def __getitem__(self, index: int):
        rng = np.random.default_rng([self.seed, self.epoch if self.train else 0, index])
        for _ in range(MAX_REPLACEMENTS):
            try:
                image, landmarks = self.load(index)
                break
            except (OSError, ValueError, cv2.error) as error:
                log.warning("skipping a broken sample (%s); using another", error)
                index = int(rng.integers(len(self.rows)))
        else:
            raise RuntimeError(
                f"{MAX_REPLACEMENTS} broken crops in a row under {self.root}; is the dataset preprocessed?"
            )
        real, fake = make_pair(image, landmarks, rng, augment=self.train)
        return (
            self._tensor(isotropically_resize_image(real, self.size)),
            self._tensor(isotropically_resize_image(fake, self.size)),
            index,
        )


def collate_pairs(label_smoothing: float):
    """A batch of pairs as the trainer's batches: (images: the reals then their fakes, labels, row indices,
    readable)."""

    def collate(batch):
        reals, fakes, indices = zip(*batch, strict=True)
        count = len(reals)
        labels = torch.tensor([label_smoothing] * count + [1 - label_smoothing] * count, dtype=torch.float32)
        index = torch.tensor(indices * 2)
        return torch.stack(reals + fakes), labels, index, torch.ones(2 * count, dtype=torch.bool)

    return collate


class SelfBlendedValidation(Dataset):
    """Held-out pairs for a validation fold without fakes: item i is the i-th real and its fake, (real tensor,
    fake tensor, i), each pair made once. `rows` (the reals, then the fakes as videos "<video>_sbi") is what
    the trainer's video-level scores read: row i is the real of item i, row n + i its fake
    (collate_validation_pairs puts them in this order)."""

    def __init__(self, pairs: SelfBlendedPairs):
        self.pairs = pairs
        reals = pairs.rows.assign(label=0)
        fakes = pairs.rows.assign(label=1, video=pairs.rows["video"] + "_sbi")
        self.rows = pd.concat([reals, fakes], ignore_index=True)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int):
        # the item keeps its own row when a broken crop was replaced by another one
        real, fake, _ = self.pairs[index]
        return real, fake, index


def collate_validation_pairs(pair_count: int):
    """A batch of SelfBlendedValidation's pairs as FaceCrops' validation batches: (images: the reals then
    their fakes, labels 0 and 1, their rows in SelfBlendedValidation.rows, readable)."""

    def collate(batch):
        reals, fakes, indices = zip(*batch, strict=True)
        count = len(reals)
        labels = torch.tensor([0.0] * count + [1.0] * count)
        rows = torch.tensor(indices + tuple(index + pair_count for index in indices))
        return torch.stack(reals + fakes), labels, rows, torch.ones(2 * count, dtype=torch.bool)

    return collate
