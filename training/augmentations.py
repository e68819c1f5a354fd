"""Training and validation transforms of face crops: the original recipe's list, at the strength its
albumentations 0.4 defaults gave, written with albumentations 2.x's arguments.

albumentations 2.x renamed many arguments (and only warns about unknown ones, leaving the transform at its
default) and changed what several defaults mean; tests/test_augmentations.py measures each transform's effect
on a real face crop against the 0.4 definition.
"""

from __future__ import annotations

import random

import cv2
import numpy as np
from albumentations import (
    Affine,
    Compose,
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
    """Resize so that the longer side is `max_side`, with separate interpolations for shrinking and
    enlarging."""

    def __init__(
        self,
        max_side: int,
        interpolation_down: int = cv2.INTER_AREA,
        interpolation_up: int = cv2.INTER_CUBIC,
        p: float = 1.0,
    ):
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
    return OneOf(
        [
            IsotropicResize(size, cv2.INTER_AREA, cv2.INTER_CUBIC),
            IsotropicResize(size, cv2.INTER_AREA, cv2.INTER_LINEAR),
            IsotropicResize(size, cv2.INTER_LINEAR, cv2.INTER_LINEAR),
        ],
        p=1.0,
    )


def pad_to_square(size: int) -> PadIfNeeded:
    return PadIfNeeded(min_height=size, min_width=size, border_mode=cv2.BORDER_CONSTANT, fill=0)


class PCAColourShift(ImageOnlyTransform):
    """AlexNet's "fancy PCA" as albumentations 0.4's FancyPCA applied it: every pixel moves by one colour,
    alpha * eigenvalue along each principal component of the crop's RGB values (on a 0-1 scale, times 255),
    with alpha ~ N(0, `alpha`) drawn once per image. albumentations 2.x's FancyPCA scales each pixel's
    deviation along the components instead, which at the same alpha moves a face by a hundredth of a grey
    level."""

    def __init__(self, alpha: float = 0.1, p: float = 0.5):
        super().__init__(p=p)
        self.alpha = alpha

    def get_params(self) -> dict:
        return {"alpha": self.py_random.gauss(0, self.alpha)}

    def apply(self, img: np.ndarray, alpha: float = 0.0, **params) -> np.ndarray:
        values, vectors = np.linalg.eigh(np.cov(img.reshape(-1, 3) / 255.0, rowvar=False))
        shift = vectors @ (alpha * values) * 255
        return np.clip(img + shift, 0, 255).astype(np.uint8)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("alpha",)


class GaussNoiseByVariance(ImageOnlyTransform):
    """albumentations 0.4's GaussNoise: a variance drawn from `var_limit` in squared grey levels (default
    10-50, sigma 3.2-7.1), Gaussian noise of that sigma added to every channel of every pixel in floating
    point, then clipped and truncated to uint8. 2.x's GaussNoise takes a sigma as a fraction of 255 (its
    default (0.2, 0.44) is sigma 51-112 grey levels) and truncates the noise itself toward zero, which weakens
    small noise by a tenth."""

    def __init__(self, var_limit: tuple[float, float] = (10.0, 50.0), p: float = 0.5):
        super().__init__(p=p)
        self.var_limit = var_limit

    def get_params(self) -> dict:
        return {"sigma": self.py_random.uniform(*self.var_limit) ** 0.5}

    def apply(self, img: np.ndarray, sigma: float = 0.0, **params) -> np.ndarray:
        noisy = img + self.random_generator.normal(0.0, sigma, img.shape)
        return np.clip(noisy, 0, 255).astype(np.uint8)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("var_limit",)


class ThreeByThreeBlur(ImageOnlyTransform):
    """albumentations 0.4's GaussianBlur(blur_limit=3): cv2.GaussianBlur with a 3x3 kernel and sigma 0, for
    which OpenCV uses its fixed kernel [0.25, 0.5, 0.25] (not the 0.8 its formula would give: [0.239, 0.522,
    0.239]). 2.x draws a sigma from (0.5, 3.0) by default and divides by zero at sigma 0."""

    def apply(self, img: np.ndarray, **params) -> np.ndarray:
        return cv2.GaussianBlur(img, (3, 3), 0)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ()


def create_train_transforms(size: int = 380) -> Compose:
    """The original recipe's augmentations, each at its albumentations 0.4 strength (see the constants above;
    the others kept their meaning: brightness and contrast +-20%, hue/saturation/value shifts up to 20/30/20,
    JPEG quality 60-100, a shift of up to 10% with scale 0.8-1.2 and rotation up to 10 degrees)."""
    return Compose(
        [
            ImageCompression(quality_range=(60, 100), p=0.5),
            GaussNoiseByVariance(p=0.1),
            ThreeByThreeBlur(p=0.05),
            HorizontalFlip(),
            isotropic_resizes(size),
            pad_to_square(size),
            OneOf(
                [
                    RandomBrightnessContrast(
                        brightness_limit=(-0.2, 0.2), contrast_limit=(-0.2, 0.2), brightness_by_max=True
                    ),
                    PCAColourShift(alpha=0.1),
                    HueSaturationValue(
                        hue_shift_limit=(-20, 20), sat_shift_limit=(-30, 30), val_shift_limit=(-20, 20)
                    ),
                ],
                p=0.7,
            ),
            ToGray(p=0.2),
            Affine(
                translate_percent=(-0.1, 0.1),
                scale=(0.8, 1.2),
                keep_ratio=True,
                rotate=(-10, 10),
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                p=0.5,
            ),
        ]
    )


def seed_transforms(transforms: Compose, seed: int) -> None:
    """Make a pipeline's draws reproducible from one seed, with every transform drawing from one shared
    stream.

    albumentations' own `Compose.set_random_seed` (and `Compose(seed=...)`) gives every child transform
    a generator started from the same seed, so their first draws are equal and the "apply with
    probability p" decisions are nested: a sample that got the rarest transform got every other one
    too, and 30% of the samples got none (5% when the draws are independent).
    """
    transforms.set_random_state(np.random.default_rng(seed), random.Random(seed))


def create_val_transforms(size: int = 380) -> Compose:
    return Compose([IsotropicResize(size), pad_to_square(size)])
