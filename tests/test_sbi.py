"""The self-blended-images generator on a real face crop with dlib's 68 landmarks: each magnitude of the
paper's recipe, and that a fake differs from its real only inside the hull grown by what can move it."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
from albumentations import Compose, HueSaturationValue, RandomBrightnessContrast, Sharpen

from core.dlib_landmarks import face_landmarks_68, unavailable_reason
from core.faces import crop_face
from core.video import read_sampled_frames
from tests.conftest import shared_video
from training import sbi

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))


@pytest.fixture(scope="module")
def face(detector):
    """A 380-px crop of FF++ 634 as training cuts it, and its 68 landmarks."""
    sampled = read_sampled_frames(shared_video("ffpp/original_sequences/youtube/c23/videos/634.mp4"), 1)
    found = detector.detect(sampled.frames)[0][0]
    crop = crop_face(sampled.frames[0], found.box)
    scale = 380 / max(crop.shape[:2])
    crop = np.ascontiguousarray(cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    (landmarks,) = face_landmarks_68(crop)
    return crop, landmarks.astype(np.float32)


def forced(name: str, compose: Compose, seed: int = 0) -> Compose:
    (transform,) = [t for t in compose.transforms if type(t).__name__ == name]
    transform.p = 1.0
    return Compose([transform], seed=seed)


def test_transforms_build_without_unknown_argument_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sbi.source_transforms()
        sbi.pair_transforms()


def test_rgb_shift_moves_each_channel_by_at_most_20(face):
    crop, _ = face
    shifts = []
    for seed in range(20):
        out = forced("RGBShift", sbi.source_transforms(), seed)(image=crop)["image"].astype(float)
        inside = (crop > 30) & (
            crop < 225
        )  # away from clipping, the shift is the same in every pixel of a channel
        shifts.append([np.median((out - crop)[..., c][inside[..., c]]) for c in range(3)])
    shifts = np.abs(np.array(shifts))
    assert shifts.max() <= 20 and shifts.max() >= 10 and shifts.mean() > 4


def test_hue_saturation_value_moves_a_pixel_by_one_level_at_most(face):
    """The paper's code passes +-0.3 to albumentations on 8-bit images: kept as it is, a near no-op."""
    crop, _ = face
    transform = Compose(
        [
            HueSaturationValue(
                hue_shift_limit=(-0.3, 0.3), sat_shift_limit=(-0.3, 0.3), val_shift_limit=(-0.3, 0.3), p=1
            )
        ]
    )
    for seed in range(5):
        transform.set_random_seed(seed)
        change = np.abs(transform(image=crop)["image"].astype(int) - crop)
        assert change.mean() < 1  # one level in HSV: a level or two in RGB in the pixels it touches


@pytest.mark.parametrize(("compose", "limit"), [(sbi.source_transforms, 0.1), (sbi.pair_transforms, 0.3)])
def test_brightness_and_contrast_stay_within_their_limit(face, compose, limit):
    crop, _ = face
    (transform,) = [t for t in compose().transforms if isinstance(t, RandomBrightnessContrast)]
    assert transform.brightness_limit == (-limit, limit) and transform.contrast_limit == (-limit, limit)
    grey = np.full(
        (64, 64, 3), 100, np.uint8
    )  # a flat image of level 100 becomes 100 * (1 + alpha) + beta * 255
    changes = [
        abs(float(forced("RandomBrightnessContrast", compose(), seed)(image=grey)["image"].mean()) - 100)
        for seed in range(40)
    ]
    assert max(changes) <= limit * (100 + 255) + 1 and max(changes) >= 0.6 * limit * 255


def test_frequency_change_is_a_downscale_by_2_or_4_or_a_sharpen(face):
    crop, _ = face
    downscale = sbi.RandomDownscale(p=1.0)
    height, width = crop.shape[:2]
    for factor in sbi.DOWNSCALE_FACTORS:
        expected = cv2.resize(
            cv2.resize(crop, (int(width / factor), int(height / factor)), interpolation=cv2.INTER_NEAREST),
            (width, height),
            interpolation=cv2.INTER_LINEAR,
        )
        assert np.array_equal(downscale.apply(crop, factor=factor), expected)
        assert np.abs(expected.astype(int) - crop).mean() > 1  # detail is lost
    seen = {
        Compose([sbi.RandomDownscale(p=1.0)], seed=seed).transforms[0].get_params()["factor"]
        for seed in range(20)
    }
    assert seen == {2, 4}
    (sharpen,) = [t for t in sbi.source_transforms().transforms[-1].transforms if isinstance(t, Sharpen)]
    assert sharpen.alpha == (0.2, 0.5)
    sharpened = Compose([Sharpen(alpha=(0.2, 0.5), lightness=(0.5, 1.0), p=1)], seed=0)(image=crop)["image"]
    edges = lambda image: np.abs(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.CV_32F)).mean()  # noqa: E731
    assert edges(sharpened) > 1.2 * edges(crop)


def test_source_or_target_is_altered_at_even_odds(face):
    crop, landmarks = face
    target_altered = [
        not np.array_equal(sbi.self_blend(crop, landmarks, np.random.default_rng(seed))[0], crop)
        for seed in range(40)
    ]
    assert 12 <= sum(target_altered) <= 28


def test_source_is_shifted_by_3_and_1_5_percent_and_scaled_by_5_percent(face):
    crop, landmarks = face
    height, width = crop.shape[:2]
    square = np.zeros((height, width), np.float32)
    square[100:200, 100:200] = 1
    boxes = []
    for seed in range(60):
        _, moved = sbi.shift_and_scale(crop, square, np.random.default_rng(seed))
        ys, xs = np.nonzero(moved > 0.5)
        boxes.append((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
    boxes = np.array(boxes, float)
    centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
    scales = (boxes[:, 2] - boxes[:, 0]) / 100, (boxes[:, 3] - boxes[:, 1]) / 100
    for scale in scales:
        assert 0.94 <= scale.min() and scale.max() <= 1 / 0.95 + 0.02 and scale.max() - scale.min() > 0.05
    shift_x = (boxes[:, 0] + boxes[:, 2]) / 2 - (centre_x + scales[0] * (150 - 0.5 - centre_x))
    shift_y = (boxes[:, 1] + boxes[:, 3]) / 2 - (centre_y + scales[1] * (150 - 0.5 - centre_y))
    assert np.abs(shift_x).max() <= 0.03 * width + 1 and np.abs(shift_x).max() >= 0.02 * width
    assert np.abs(shift_y).max() <= 0.015 * height + 1 and np.abs(shift_y).max() >= 0.01 * height


def test_elastic_deformation_bends_only_the_mask_outline_by_a_few_pixels(face):
    crop, landmarks = face
    hull = sbi.hull_mask(crop.shape[:2], landmarks)
    bent = sbi.elastic(hull, np.random.default_rng(0))
    changed = np.abs(bent - hull) > 0.01
    assert changed.any()
    edge_band = cv2.dilate(hull, np.ones((9, 9), np.uint8)) - cv2.erode(hull, np.ones((9, 9), np.uint8))
    assert edge_band[changed].min() == 1  # within 4 px of the outline


def test_blend_mask_is_soft_shrunk_then_grown_and_at_most_the_ratio(face):
    crop, landmarks = face
    hull = sbi.hull_mask(crop.shape[:2], landmarks)
    for seed in range(10):
        mask = sbi.blend_mask(hull, np.random.default_rng(seed))
        assert mask.shape == hull.shape and mask.max() == pytest.approx(1, abs=0.02) and mask.min() >= 0
        assert 0.2 < ((mask > 0.01) & (mask < 0.99)).sum() / max(
            1, (mask >= 0.99).sum()
        )  # a soft edge, not a cut-out
        assert (mask[hull == 0] > 0.01).mean() < 0.5  # the face stays where it was
    maxima = [sbi.self_blend(crop, landmarks, np.random.default_rng(seed))[2].max() for seed in range(60)]
    rounded = np.round(maxima, 2)
    assert set(rounded) <= {0.25, 0.5, 0.75, 1.0} and 0.3 <= (rounded == 1).mean() <= 0.7


def test_mask_kernels_are_odd_and_5_to_25_and_the_second_blur_wider():
    assert (
        sbi.KERNEL_SIDES == tuple(range(5, 26, 2))
        and sbi.SECOND_SIGMA == (5, 45)
        and sbi.MASK_SIDE == (192, 256)
    )


def test_fake_differs_from_its_real_only_inside_the_grown_hull(face):
    """Reach of a change beyond the hull: the source's shift (3%) and scale (5% of the crop from its centre),
    the elastic bend (a few px), and the two blurs (half a 25-px kernel each, at 192 px a side at the
    smallest)."""
    crop, landmarks = face
    height, width = crop.shape[:2]
    hull = sbi.hull_mask(crop.shape[:2], landmarks)
    reach = int(
        np.ceil(0.03 * width + 0.053 * max(width, height) / 2 + 4 + 2 * 12 * max(width, height) / 192)
    )
    grown = cv2.dilate(hull, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1)))
    for seed in range(10):
        real, fake, mask = sbi.self_blend(crop, landmarks, np.random.default_rng(seed))
        differs = np.abs(real.astype(int) - fake).max(axis=-1) > 0
        assert differs.sum() > 0.3 * hull.sum()  # the blend shows inside the face
        assert not differs[grown == 0].any()
        assert np.array_equal(differs, differs & (mask > 0))


def test_pair_gets_the_same_augmentation_so_they_differ_only_around_the_face(face):
    crop, landmarks = face
    hull = sbi.hull_mask(crop.shape[:2], landmarks)
    far = (
        cv2.dilate(hull, np.ones((161, 161), np.uint8)) == 0
    )  # JPEG's 8x8 blocks and the blur reach stay nearer
    assert far.mean() > 0.05
    for seed in range(20):
        real, fake = sbi.make_pair(crop, landmarks, np.random.default_rng(seed))
        outside = np.abs(real.astype(int) - fake)[far]
        assert outside.max() <= 2  # equal draws; JPEG of two different images may round a level apart


def test_jpeg_quality_of_the_pair_is_40_to_100(face):
    (compression,) = [t for t in sbi.pair_transforms().transforms if type(t).__name__ == "ImageCompression"]
    assert compression.quality_range == (40, 100) and compression.p == 0.5


def test_flip_renumbers_landmarks_as_dlib_finds_them_on_the_mirrored_crop(face):
    crop, landmarks = face
    mirrored, flipped = sbi.flip(crop, landmarks)
    (found,) = face_landmarks_68(mirrored)
    assert np.median(np.linalg.norm(found - flipped, axis=1)) < 4
    assert np.array_equal(sbi.MIRRORED_68[sbi.MIRRORED_68], np.arange(68))
    again, back = sbi.flip(mirrored, flipped)
    assert np.array_equal(again, crop) and np.allclose(back, landmarks)


@pytest.mark.parametrize("side", [64, 600])
def test_pairs_are_blended_at_the_crops_resolution_then_resized(face, tmp_path, monkeypatch, side):
    """As the paper (it blends the crop, then resizes it): a crop larger than the input size is blended as it
    is, so the blend's boundary is not blurred away first; a smaller one is enlarged to the input size before
    blending."""
    import pandas as pd

    from core.images import isotropically_resize_image
    from training import sbi_dataset

    crop, landmarks = face
    (tmp_path / "crops" / "v").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "crops" / "v" / "0_0.png"), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
    points = sbi_dataset.landmarks_file(tmp_path, "v", "crops/v/0_0.png")
    points.parent.mkdir(parents=True)
    np.save(points, landmarks)
    blended = []
    monkeypatch.setattr(
        sbi_dataset,
        "make_pair",
        lambda image, marks, rng, augment: blended.append(image.shape) or (image, image),
    )
    rows = pd.DataFrame([{"video": "v", "file": "crops/v/0_0.png", "label": 0}])
    pairs = sbi_dataset.SelfBlendedPairs(
        tmp_path, rows, side, {"mean": [0, 0, 0], "std": [1, 1, 1]}, train=True
    )
    real, fake, _ = pairs[0]
    assert blended == [
        crop.shape if side <= max(crop.shape[:2]) else isotropically_resize_image(crop, side).shape
    ]
    assert real.shape == fake.shape == (3, side, side)
