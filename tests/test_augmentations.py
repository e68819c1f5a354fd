"""Every training transform really changes a real face crop (albumentations 2.x ignores unknown arguments with
only a warning)."""

import os
import subprocess
import sys
import warnings

import cv2
import numpy as np
import pytest
from albumentations import Compose, KeypointParams

from core.faces import crop_face
from core.images import isotropically_resize_image, put_to_center
from tests.conftest import REPO
from training.augmentations import (
    IsotropicResize,
    create_train_transforms,
    create_val_transforms,
    isotropic_resizes,
    seed_transforms,
)

SIZE = 128


@pytest.fixture(scope="module")
def face(faces_634):
    found = faces_634.faces[0][0]
    return np.ascontiguousarray(
        isotropically_resize_image(crop_face(faces_634.sampled.frames[0], found.box), SIZE)
    )


def always(transform, seed=0):
    transform.p = 1.0
    return Compose([transform], seed=seed)


def mean_change(transform, image, seeds=range(5)):
    """Mean absolute change in grey levels, averaged over a few random draws of the transform's parameters."""
    return np.mean(
        [
            np.abs(always(transform, s)(image=image)["image"].astype(int) - image.astype(int)).mean()
            for s in seeds
        ]
    )


def named(compose, name):
    return [t for t in compose.transforms if type(t).__name__ == name][0]


def test_train_transforms_build_without_unknown_argument_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        create_train_transforms(SIZE)
        create_val_transforms(SIZE)


@pytest.mark.parametrize(
    "name",
    ["ImageCompression", "GaussNoiseByVariance", "ThreeByThreeBlur", "HorizontalFlip", "ToGray", "Affine"],
)
def test_each_transform_changes_the_image(face, name):
    transform = named(create_train_transforms(SIZE), name)
    out = always(transform)(image=face)["image"]
    assert out.shape == face.shape and out.dtype == np.uint8
    assert mean_change(transform, face) > 0.5, f"{name} left the image (nearly) unchanged"


def test_compression_quality_range_is_applied(face):
    transform = named(create_train_transforms(SIZE), "ImageCompression")
    assert tuple(transform.quality_range) == (60, 100)
    strongest = always(transform)
    transform.quality_range = (60, 60)
    ok, encoded = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, 60])
    assert np.array_equal(strongest(image=face)["image"], cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED))


def colour_group(compose):
    return [
        t
        for t in compose.transforms
        if type(t).__name__ == "OneOf"
        and len(t.transforms) == 3
        and type(t.transforms[0]).__name__ == "RandomBrightnessContrast"
    ][0]


def test_colour_transforms_each_change_the_image(face):
    colour = colour_group(create_train_transforms(SIZE))
    assert colour.p == 0.7
    for transform in colour.transforms:
        assert mean_change(transform, face, seeds=range(20)) > 0.3, type(transform).__name__


def draws(transform, image, count=40):
    return [always(transform, seed)(image=image)["image"] for seed in range(count)]


def test_noise_has_the_04_sigma(face):
    """albumentations 0.4's GaussNoise default: variance 10-50 squared grey levels, i.e. sigma 3.2-7.1."""
    noise = named(create_train_transforms(SIZE), "GaussNoiseByVariance")
    assert noise.p == 0.1
    inside = ((face > 25) & (face < 230)).all(axis=2)  # no clipping there
    sigmas = [(out.astype(float) - face)[inside].std() for out in draws(noise, face)]
    assert 3.0 < min(sigmas) < 4.0 and 6.2 < max(sigmas) < 7.3, (min(sigmas), max(sigmas))


def test_blur_flip_grey_and_compression_are_the_04_ones(face):
    transforms = create_train_transforms(SIZE)
    assert named(transforms, "ThreeByThreeBlur").p == 0.05
    blurred = always(named(transforms, "ThreeByThreeBlur"))(image=face)["image"]
    # 0.4 called cv2.GaussianBlur(img, (3, 3), sigmaX=0): OpenCV's fixed 3-tap kernel [1/4, 1/2, 1/4], written
    # out here
    # OpenCV's BORDER_REFLECT_101
    padded = np.pad(face.astype(np.float64), ((1, 1), (1, 1), (0, 0)), mode="reflect")
    rows = 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]
    expected = 0.25 * rows[:, :-2] + 0.5 * rows[:, 1:-1] + 0.25 * rows[:, 2:]
    assert np.abs(blurred - expected).max() <= 0.5 + 1e-9  # OpenCV rounds its fixed-point result
    assert np.array_equal(always(named(transforms, "HorizontalFlip"))(image=face)["image"], face[:, ::-1])
    grey = cv2.cvtColor(cv2.cvtColor(face, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    assert np.abs(always(named(transforms, "ToGray"))(image=face)["image"].astype(int) - grey).max() <= 1
    qualities = []
    for out in draws(named(transforms, "ImageCompression"), face, 12):
        matches = [
            q
            for q in range(50, 101)
            if np.array_equal(
                out,
                cv2.imdecode(
                    cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, q])[1], cv2.IMREAD_UNCHANGED
                ),
            )
        ]
        assert matches, "not a JPEG round trip"
        qualities.append(matches[0])
    assert 60 <= min(qualities) and max(qualities) <= 100 and max(qualities) - min(qualities) > 15


def test_brightness_and_contrast_stay_within_20_percent(face):
    """0.4: out = alpha * in + beta * 255 with alpha in 0.8-1.2 and beta in -0.2..0.2."""
    transform = colour_group(create_train_transforms(SIZE)).transforms[0]
    alphas, betas = [], []
    for out in draws(transform, face):
        keep = (out > 2) & (out < 253)
        alpha, beta = np.polyfit(face[keep].astype(float), out[keep].astype(float), 1)
        alphas.append(alpha)
        betas.append(beta / 255)
    assert 0.79 < min(alphas) < 0.86 and 1.14 < max(alphas) < 1.21
    assert -0.21 < min(betas) < -0.12 and 0.12 < max(betas) < 0.21


def test_hue_saturation_value_shifts_stay_within_20_30_20(face):
    transform = colour_group(create_train_transforms(SIZE)).transforms[2]
    hsv_in = cv2.cvtColor(face, cv2.COLOR_RGB2HSV).astype(int)
    steady = (hsv_in[..., 1] > 40) & (hsv_in[..., 1] < 215) & (hsv_in[..., 2] > 30) & (hsv_in[..., 2] < 225)
    shifts = []
    for out in draws(transform, face):
        hsv_out = cv2.cvtColor(out, cv2.COLOR_RGB2HSV).astype(int)
        hue = (hsv_out[..., 0] - hsv_in[..., 0] + 90) % 180 - 90
        change = hsv_out - hsv_in
        shifts.append(
            [np.median(hue[steady]), np.median(change[..., 1][steady]), np.median(change[..., 2][steady])]
        )
    shifts = np.array(shifts)
    for channel, limit in enumerate((20, 30, 20)):
        assert np.abs(shifts[:, channel]).max() <= limit + 1.5, (channel, shifts[:, channel])
        assert np.abs(shifts[:, channel]).max() > 0.6 * limit, (channel, shifts[:, channel])


def test_pca_colour_shift_is_the_04_one(face):
    """0.4: one colour added to every pixel, alpha * eigenvalues along the RGB principal components (0-1
    scale, x255), alpha ~ N(0, 0.1); 2.x's FancyPCA of the same alpha barely moves a face."""
    transform = colour_group(create_train_transforms(SIZE)).transforms[1]
    values = np.linalg.eigvalsh(np.cov(face.reshape(-1, 3) / 255.0, rowvar=False))
    inside = ((face > 20) & (face < 235)).all(axis=2)
    alphas = []
    for out in draws(transform, face, 200):
        shift = (out.astype(float) - face)[inside]
        assert shift.std(axis=0).max() < 0.6  # the same colour everywhere (up to truncation to whole levels)
        alphas.append(np.linalg.norm(shift.mean(axis=0) + 0.5) / (np.linalg.norm(values) * 255))
    assert 0.08 < np.sqrt(np.mean(np.square(alphas))) < 0.12


def test_affine_is_the_04_shift_scale_rotate(face):
    """0.4 ShiftScaleRotate(0.1, 0.2, 10): one scale in 0.8-1.2, rotation within 10 degrees, shift within
    10%."""
    affine = named(create_train_transforms(SIZE), "Affine")
    assert affine.p == 0.5 and affine.border_mode == cv2.BORDER_CONSTANT
    points = [(32.0, 32.0), (96.0, 32.0), (32.0, 96.0)]
    angles, scales = [], []
    for seed in range(60):
        moved = Compose(
            [affine], keypoint_params=KeypointParams(format="xy", remove_invisible=False), seed=seed
        )
        moved.transforms[0].p = 1.0
        (x0, y0), (x1, y1), (x2, y2) = np.asarray(moved(image=face, keypoints=points)["keypoints"])[:, :2]
        across, down = np.hypot(x1 - x0, y1 - y0) / 64, np.hypot(x2 - x0, y2 - y0) / 64
        assert across == pytest.approx(down, rel=1e-3)  # one scale for both axes
        scales.append(across)
        angles.append(np.degrees(np.arctan2(y1 - y0, x1 - x0)))
    assert 0.79 < min(scales) < 0.85 and 1.15 < max(scales) < 1.21
    assert 7 < max(np.abs(angles)) <= 10.01
    shift_x, shift_y = affine.translate_percent["x"], affine.translate_percent["y"]
    assert tuple(shift_x) == tuple(shift_y) == (-0.1, 0.1)


def test_isotropic_resizes_and_padding_make_a_square(face):
    tall = np.ascontiguousarray(face[:, : SIZE // 2])
    resizes = isotropic_resizes(256)
    outputs = []
    for transform in resizes.transforms:
        out = always(transform)(image=tall)["image"]
        assert out.shape == (256, 128, 3)
        outputs.append(out)
    assert not np.array_equal(outputs[0], outputs[2])  # the interpolations differ
    square = create_val_transforms(256)(image=tall)["image"]
    assert np.array_equal(square, put_to_center(isotropically_resize_image(tall, 256), 256))
    small = IsotropicResize(64)(image=face)["image"]
    assert max(small.shape[:2]) == 64 and small.shape[2] == 3


def test_full_train_pipeline_gives_model_sized_varied_outputs(face):
    transforms = create_train_transforms(SIZE)
    outs = []
    for seed in range(8):
        seed_transforms(transforms, seed)
        outs.append(transforms(image=face)["image"])
    assert all(o.shape == (SIZE, SIZE, 3) for o in outs)
    assert len({o.tobytes() for o in outs}) == 8


def test_seeded_transforms_decide_independently_of_each_other(face):
    """Samples that get no optional transform at all: 0.5*0.9*0.95*0.3*0.8*0.5 = 5% when the transforms
    draw independently, 30% (no draw under the colour group's 0.7) when they share one seed's first draw."""
    transforms = create_train_transforms(SIZE)
    padded = create_val_transforms(SIZE)(image=face)["image"]
    untouched_forms = (padded.tobytes(), padded[:, ::-1].tobytes())
    draws = 400
    untouched = 0
    for seed in range(draws):
        seed_transforms(transforms, seed)
        out = transforms(image=face)["image"].tobytes()
        untouched += out in untouched_forms
    assert 0.02 < untouched / draws < 0.10
    seed_transforms(transforms, 123)
    first = transforms(image=face)["image"]
    seed_transforms(transforms, 123)
    assert np.array_equal(transforms(image=face)["image"], first)


@pytest.mark.slow
def test_the_training_entry_point_reaches_no_server_and_imports_change_no_setting(tmp_path):
    """albumentations looks up its latest version on pypi.org at import unless told not to:
    train_classifier.py tells it in main(), before the import, while importing the training package itself
    leaves the environment alone."""
    config = tmp_path / "tiny.json"
    config.write_text((REPO / "configs" / "tiny.json").read_text())
    probe = (
        "import os, socket, sys\nlookups = []\n"
        "socket.getaddrinfo = lambda *args, **kwargs: lookups.append(args[0]) or []\n"
        "import training, training.config\n"
        "print('set at import' if 'NO_ALBUMENTATIONS_UPDATE' in os.environ else 'unset at import')\n"
        "import train_classifier\n"
        f"code = train_classifier.main(['--config', {str(config)!r}, '--data-dir', '.', '--folds-csv', "
        "'missing.csv'])\nprint(code, 'albumentations' in sys.modules, lookups)\n"
    )
    environment = {key: value for key, value in os.environ.items() if key != "NO_ALBUMENTATIONS_UPDATE"}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=environment, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:2] == ["unset at import", "2 True []"], done.stdout
