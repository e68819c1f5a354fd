"""Self-blended images (Shiohara and Yamasaki, CVPR 2022): a fake made from a real face crop and itself.

One copy of the face (the source or the target, at even odds) is altered in colour and in frequency, the
source is shifted and scaled a little, and pasted back onto the target through a soft mask made from the
convex hull of the face's 68 landmarks. The model then learns blending boundaries and colour or sharpness
mismatches, not one generator's fingerprints. The real face and its fake then get the same colour and JPEG
augmentation, so that the only difference left between the two is the blend.

Magnitudes are those of the paper's released code (tests/test_sbi.py measures each on a real crop). What
differs: 68 dlib points instead of 81 (no forehead), and the pair is generated on this project's crops (MTCNN
box grown by a third) instead of crops with a random margin. Like the paper, training/sbi_dataset.py blends
the crop at its own resolution and resizes the pair to the model's input size afterwards, so the blend's
boundary is not blurred away.
"""

from __future__ import annotations

import cv2
import numpy as np
from albumentations import (
    Compose,
    HueSaturationValue,
    ImageCompression,
    ImageOnlyTransform,
    OneOf,
    RandomBrightnessContrast,
    RGBShift,
    Sharpen,
)

from training.augmentations import seed_transforms

BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)  # a full paste half of the time
SHIFT_X, SHIFT_Y = 0.03, 0.015  # of the crop's width and height, at most
SCALE = (0.95, 1 / 0.95)  # each axis apart
ELASTIC_ALPHA, ELASTIC_SIGMA = 50.0, 7.0  # a smoothed uniform [-1, 1] field, times alpha, in pixels
MASK_SIDE = (192, 256)  # the mask is blurred at a random size in this range (each side), whatever the crop's
KERNEL_SIDES = tuple(range(5, 26, 2))  # odd Gaussian kernels, 5 to 25
SECOND_SIGMA = (5, 45)  # the second blur's sigma, an integer in this range
DOWNSCALE_FACTORS = (2, 4)

# iBUG 300-W point of each point once the face is mirrored: jaw, brows and the nose's base run the other way,
# eyes and mouth corners swap sides, the nose's bridge and the mouth's middle stay.
MIRRORED_68 = np.array(
    list(range(16, -1, -1))
    + list(range(26, 16, -1))
    + [27, 28, 29, 30]
    + list(range(35, 30, -1))
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + list(range(54, 47, -1))
    + list(range(59, 54, -1))
    + list(range(64, 59, -1))
    + [67, 66, 65]
)


class RandomDownscale(ImageOnlyTransform):
    """Shrink by 2 or 4 with nearest neighbours, enlarge back bilinearly: the blurred, blocky look of a
    low-resolution face pasted in."""

    def get_params(self) -> dict:
        return {"factor": self.py_random.choice(DOWNSCALE_FACTORS)}

    def apply(self, img: np.ndarray, factor: int = 2, **params) -> np.ndarray:
        height, width = img.shape[:2]
        small = cv2.resize(
            img, (max(1, int(width / factor)), max(1, int(height / factor))), interpolation=cv2.INTER_NEAREST
        )
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ()


def source_transforms() -> Compose:
    """What makes the pasted copy differ: colour (an RGB shift up to 20 levels, p 0.3; hue/saturation/value by
    the paper code's +-0.3, which on 8-bit images moves a pixel by one level at most; brightness and contrast
    +-10%), then frequency (a downscale by 2 or 4, or a sharpen of strength 0.2-0.5)."""
    return Compose(
        [
            RGBShift(r_shift_limit=(-20, 20), g_shift_limit=(-20, 20), b_shift_limit=(-20, 20), p=0.3),
            HueSaturationValue(
                hue_shift_limit=(-0.3, 0.3), sat_shift_limit=(-0.3, 0.3), val_shift_limit=(-0.3, 0.3), p=1.0
            ),
            RandomBrightnessContrast(brightness_limit=(-0.1, 0.1), contrast_limit=(-0.1, 0.1), p=1.0),
            OneOf([RandomDownscale(p=1.0), Sharpen(alpha=(0.2, 0.5), lightness=(0.5, 1.0), p=1.0)], p=1.0),
        ]
    )


def pair_transforms() -> Compose:
    """Applied alike to a real face and its fake (same draws): colour shifts (p 0.3 each: RGB up to 20 levels,
    hue/saturation/value by +-0.3, brightness and contrast +-30%) and JPEG at quality 40-100 (p 0.5)."""
    return Compose(
        [
            RGBShift(r_shift_limit=(-20, 20), g_shift_limit=(-20, 20), b_shift_limit=(-20, 20), p=0.3),
            HueSaturationValue(
                hue_shift_limit=(-0.3, 0.3), sat_shift_limit=(-0.3, 0.3), val_shift_limit=(-0.3, 0.3), p=0.3
            ),
            RandomBrightnessContrast(brightness_limit=(-0.3, 0.3), contrast_limit=(-0.3, 0.3), p=0.3),
            ImageCompression(quality_range=(40, 100), p=0.5),
        ],
        additional_targets={"fake": "image"},
    )


def flip(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mirrored crop and its landmarks, renumbered so that point 36 is still the outer corner of the eye
    on the image's left."""
    mirrored = landmarks[MIRRORED_68].copy()
    mirrored[:, 0] = image.shape[1] - 1 - mirrored[:, 0]
    return np.ascontiguousarray(image[:, ::-1]), mirrored


def hull_mask(shape: tuple[int, int], landmarks: np.ndarray) -> np.ndarray:
    """float32 mask, 1 inside the convex hull of the landmarks."""
    mask = np.zeros(shape, np.float32)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(landmarks).astype(np.int32)), 1.0)
    return mask


def shift_and_scale(
    source: np.ndarray, mask: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Move the source and its mask alike by up to 3% of the width and 1.5% of the height, scaled about the
    centre by 0.95-1.053 on each axis: the pasted face sits a little off its place."""
    height, width = mask.shape
    scale_x, scale_y = rng.uniform(*SCALE, size=2)
    shift_x, shift_y = rng.uniform(-SHIFT_X, SHIFT_X) * width, rng.uniform(-SHIFT_Y, SHIFT_Y) * height
    centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
    matrix = np.array(
        [
            [scale_x, 0, centre_x - scale_x * centre_x + shift_x],
            [0, scale_y, centre_y - scale_y * centre_y + shift_y],
        ],
        np.float32,
    )
    moved = cv2.warpAffine(
        source, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    moved_mask = cv2.warpAffine(
        mask, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    return moved, moved_mask


def elastic(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Bend the mask's outline: each pixel reads from a point displaced by a smooth random field."""
    height, width = mask.shape
    dx, dy = (
        cv2.GaussianBlur(rng.uniform(-1, 1, (height, width)).astype(np.float32), (0, 0), ELASTIC_SIGMA)
        * ELASTIC_ALPHA
        for _ in range(2)
    )
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(mask, grid_x + dx, grid_y + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def blend_mask(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The soft blending mask: at a random size of 192-256 px a side, blurred, cut back to where the blur left
    it whole (which shrinks it), blurred again more widely, each time scaled to a maximum of 1; back to the
    crop's size."""
    height, width = mask.shape
    if not mask.any():
        return mask
    side_h, side_w = (int(rng.integers(MASK_SIDE[0], MASK_SIDE[1] + 1)) for _ in range(2))
    first, second = (int(rng.choice(KERNEL_SIDES)) for _ in range(2))
    soft = cv2.GaussianBlur(cv2.resize(mask, (side_w, side_h)), (first, first), 0)
    # the core the first blur did not reach (within float32 rounding: a blurred constant is 1 +- 1e-7, not
    # exactly 1)
    soft = (soft >= soft.max() * (1 - 1e-4)).astype(np.float32)
    soft = cv2.GaussianBlur(soft, (second, second), float(rng.integers(SECOND_SIGMA[0], SECOND_SIGMA[1] + 1)))
    soft /= max(float(soft.max()), 1e-12)
    return cv2.resize(soft, (width, height))


def self_blend(
    image: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(real, fake, blend mask) from one RGB uint8 crop and its (68, 2) landmarks in crop pixels.

    The real is the crop itself, or its altered copy when the target was the one altered; the mask is the
    weight of the source in each pixel of the fake (0 outside, up to the blend ratio inside).
    """
    target = image.copy()
    source = image.copy()
    transforms = source_transforms()
    seed_transforms(transforms, int(rng.integers(2**31)))
    if rng.random() < 0.5:
        source = transforms(image=source)["image"]
    else:
        target = transforms(image=target)["image"]
    source, mask = shift_and_scale(source, hull_mask(image.shape[:2], landmarks), rng)
    mask = blend_mask(elastic(mask, rng), rng) * BLEND_RATIOS[int(rng.integers(len(BLEND_RATIOS)))]
    weight = mask[..., None]
    fake = np.clip(weight * source + (1 - weight) * target, 0, 255).round().astype(np.uint8)
    return target, fake, mask


def make_pair(
    image: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator, augment: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """A training pair (real, fake) of one crop: flipped at even odds (landmarks renumbered), self-blended,
    then with `augment` the same colour and JPEG augmentation for both."""
    if augment and rng.random() < 0.5:
        image, landmarks = flip(image, landmarks)
    real, fake, _ = self_blend(image, landmarks, rng)
    if augment:
        transforms = pair_transforms()
        seed_transforms(transforms, int(rng.integers(2**31)))
        done = transforms(image=real, fake=fake)
        real, fake = done["image"], done["fake"]
    return real, fake
