"""Training and validation transforms of face crops (albumentations 2.x argument names).

albumentations 2.x only warns about arguments it does not know, so a renamed
argument silently leaves a transform at its default; tests/test_augmentations.py
checks that every transform here really changes the image.
"""
from __future__ import annotations

import random

import cv2
import numpy as np
from albumentations import (
    Affine,
    Compose,
    FancyPCA,
    GaussianBlur,
    GaussNoise,
    HorizontalFlip,
    HueSaturationValue,
    ImageCompression,
    ImageOnlyTransform,
    OneOf,
    PadIfNeeded,
    RandomBrightnessContrast,
    ToGray,
)

from core.images import isotropically_resize_image


class IsotropicResize(ImageOnlyTransform):
    """Resize so that the longer side is `max_side`, with separate interpolations for shrinking and enlarging."""

    def __init__(self, max_side: int, interpolation_down: int = cv2.INTER_AREA, interpolation_up: int = cv2.INTER_CUBIC, p: float = 1.0):
        super().__init__(p=p)
        self.max_side = max_side
        self.interpolation_down = interpolation_down
        self.interpolation_up = interpolation_up

    def apply(self, img: np.ndarray, **params) -> np.ndarray:
        return isotropically_resize_image(img, self.max_side, self.interpolation_down, self.interpolation_up)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("max_side", "interpolation_down", "interpolation_up")


def isotropic_resizes(size: int) -> OneOf:
    """One of three down/up interpolation pairs, so the model does not learn one resampler's fingerprint."""
    return OneOf([
        IsotropicResize(size, cv2.INTER_AREA, cv2.INTER_CUBIC),
        IsotropicResize(size, cv2.INTER_AREA, cv2.INTER_LINEAR),
        IsotropicResize(size, cv2.INTER_LINEAR, cv2.INTER_LINEAR),
    ], p=1.0)


def pad_to_square(size: int) -> PadIfNeeded:
    return PadIfNeeded(min_height=size, min_width=size, border_mode=cv2.BORDER_CONSTANT, fill=0)


# albumentations 2.x computes FancyPCA on [0, 1] floats, where the principal components' eigenvalues are
# ~1/65000 of the old uint8 ones: at the old default alpha 0.1 it changes a face by 0.05 grey levels on
# average, i.e. not at all. Measured on a real face crop, alpha 3 shifts it by ~4 levels (1-11 over
# seeds), between what the other two colour transforms in its group do.
FANCY_PCA_ALPHA = 3.0


def create_train_transforms(size: int = 380) -> Compose:
    return Compose([
        ImageCompression(quality_range=(60, 100), p=0.5),
        GaussNoise(p=0.1),
        GaussianBlur(blur_limit=(3, 3), p=0.05),
        HorizontalFlip(),
        isotropic_resizes(size),
        pad_to_square(size),
        OneOf([RandomBrightnessContrast(), FancyPCA(alpha=FANCY_PCA_ALPHA), HueSaturationValue()], p=0.7),
        ToGray(p=0.2),
        Affine(translate_percent=(-0.1, 0.1), scale=(0.8, 1.2), rotate=(-10, 10), border_mode=cv2.BORDER_CONSTANT, fill=0, p=0.5),
    ])


def seed_transforms(transforms: Compose, seed: int) -> None:
    """Make a pipeline's draws reproducible from one seed, with every transform drawing from one shared stream.

    albumentations' own `Compose.set_random_seed` (and `Compose(seed=...)`) gives every child transform
    a generator started from the same seed, so their first draws are equal and the "apply with
    probability p" decisions are nested: a sample that got the rarest transform got every other one
    too, and 30% of the samples got none (5% when the draws are independent).
    """
    transforms.set_random_state(np.random.default_rng(seed), random.Random(seed))


def create_val_transforms(size: int = 380) -> Compose:
    return Compose([IsotropicResize(size), pad_to_square(size)])
