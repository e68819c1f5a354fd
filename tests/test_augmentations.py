"""Every training transform really changes a real face crop (albumentations 2.x ignores unknown arguments with only a warning)."""
import os
import subprocess
import sys
import warnings

import cv2
import numpy as np
import pytest
from albumentations import Compose

from core.faces import crop_face
from core.images import isotropically_resize_image, put_to_center
from core.video import read_sampled_frames
from tests.conftest import REPO, shared_video
from training.augmentations import (
    IsotropicResize,
    create_train_transforms,
    create_val_transforms,
    isotropic_resizes,
    seed_transforms,
)

SIZE = 128


@pytest.fixture(scope="module")
def face(detector):
    sampled = read_sampled_frames(shared_video("ffpp/original_sequences/youtube/c23/videos/634.mp4"), 1)
    found = detector.detect(sampled.frames)[0][0]
    return np.ascontiguousarray(isotropically_resize_image(crop_face(sampled.frames[0], found.box), SIZE))


def always(transform, seed=0):
    transform.p = 1.0
    return Compose([transform], seed=seed)


def mean_change(transform, image, seeds=range(5)):
    """Mean absolute change in grey levels, averaged over a few random draws of the transform's parameters."""
    return np.mean([np.abs(always(transform, s)(image=image)["image"].astype(int) - image.astype(int)).mean() for s in seeds])


def named(compose, name):
    return [t for t in compose.transforms if type(t).__name__ == name][0]


def test_train_transforms_build_without_unknown_argument_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        create_train_transforms(SIZE)
        create_val_transforms(SIZE)


@pytest.mark.parametrize("name", ["ImageCompression", "GaussNoise", "GaussianBlur", "HorizontalFlip", "ToGray", "Affine"])
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


def test_colour_transforms_each_change_the_image(face):
    colour = [t for t in create_train_transforms(SIZE).transforms if type(t).__name__ == "OneOf" and len(t.transforms) == 3
              and type(t.transforms[0]).__name__ == "RandomBrightnessContrast"][0]
    assert colour.p == 0.7
    for transform in colour.transforms:
        assert mean_change(transform, face) > 1.0, type(transform).__name__


def test_affine_limits_are_the_configured_ones(face):
    affine = named(create_train_transforms(SIZE), "Affine")
    assert affine.p == 0.5 and affine.border_mode == cv2.BORDER_CONSTANT
    assert tuple(affine.rotate) == (-10, 10)
    assert tuple(affine.scale["x"]) == (0.8, 1.2) and tuple(affine.translate_percent["x"]) == (-0.1, 0.1)


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


def test_the_training_entry_point_reaches_no_server_and_imports_change_no_setting(tmp_path):
    """albumentations looks up its latest version on pypi.org at import unless told not to: train_classifier.py tells it
    in main(), before the import, while importing the training package itself leaves the environment alone."""
    config = tmp_path / "tiny.json"
    config.write_text((REPO / "configs" / "tiny.json").read_text())
    probe = (
        "import os, socket, sys\n"
        "lookups = []\n"
        "socket.getaddrinfo = lambda *args, **kwargs: lookups.append(args[0]) or []\n"
        "import training, training.config\n"
        "print('set at import' if 'NO_ALBUMENTATIONS_UPDATE' in os.environ else 'unset at import')\n"
        "import train_classifier\n"
        f"code = train_classifier.main(['--config', {str(config)!r}, '--data-dir', '.', '--folds-csv', 'missing.csv'])\n"
        "print(code, 'albumentations' in sys.modules, lookups)\n"
    )
    environment = {key: value for key, value in os.environ.items() if key != "NO_ALBUMENTATIONS_UPDATE"}
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:2] == ["unset at import", "2 True []"], done.stdout
