"""The preprocessing step that stores dlib's 68 points of every REAL crop, for self-blended images."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from core.dlib_landmarks import face_landmarks_68, unavailable_reason
from core.faces import crop_face
from core.video import read_sampled_frames
from preprocessing import generate_landmarks68
from tests.conftest import shared_video

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))


@pytest.fixture
def data_root(tmp_path, detector):
    """One part: REAL a (a real face crop and a faceless one), REAL b (no crops yet), FAKE c of a."""
    part = tmp_path / "part_0"
    part.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        (part / name).write_bytes(b"")  # the step reads crops only
    (part / "metadata.json").write_text(
        json.dumps(
            {
                "a.mp4": {"label": "REAL"},
                "b.mp4": {"label": "REAL"},
                "c.mp4": {"label": "FAKE", "original": "a.mp4"},
            }
        )
    )
    sampled = read_sampled_frames(shared_video("ffpp/original_sequences/youtube/c23/videos/004.mp4"), 1)
    crop = crop_face(sampled.frames[0], detector.detect(sampled.frames)[0][0].box)
    for video, crops in (
        ("a", {"0_0": crop, "10_0": np.full((120, 100, 3), 90, np.uint8)}),
        ("c", {"0_0": crop}),
    ):
        (tmp_path / "crops" / video).mkdir(parents=True)
        for stem, image in crops.items():
            cv2.imwrite(
                str(tmp_path / "crops" / video / f"{stem}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
            )
    return tmp_path, crop


def test_step_stores_68_points_per_real_crop_and_resumes(data_root, capsys):
    root, crop = data_root
    assert generate_landmarks68.main(["--root-dir", str(root), "--workers", "0"]) == 0
    assert "1 processed, 0 already done" in capsys.readouterr().out
    files = sorted(p.name for p in (root / "landmarks68").rglob("*.npy"))
    assert files == ["0_0.npy"]  # the faceless crop gets no file, the fake none at all
    points = np.load(root / "landmarks68" / "a" / "0_0.npy")
    stored = cv2.cvtColor(cv2.imread(str(root / "crops" / "a" / "0_0.png")), cv2.COLOR_BGR2RGB)
    assert points.dtype == np.int16 and points.shape == (68, 2)
    assert np.array_equal(points, face_landmarks_68(stored)[0])
    height, width = crop.shape[:2]
    assert (points >= 0).all() and (points[:, 0] < width).all() and (points[:, 1] < height).all()
    report = json.loads((root / "reports" / "generate_landmarks68.json").read_text())
    assert report["problems"] == {"b": "no crops (extract_crops has not processed it)"}
    assert generate_landmarks68.main(["--root-dir", str(root), "--workers", "0"]) == 0
    assert "0 processed, 1 already done" in capsys.readouterr().out


def test_small_crops_are_searched_again_at_twice_their_size(data_root):
    _, crop = data_root
    small = cv2.resize(crop, None, fx=70 / crop.shape[1], fy=70 / crop.shape[1], interpolation=cv2.INTER_AREA)
    assert face_landmarks_68(small) == []  # dlib's detector misses faces this small
    assert generate_landmarks68.crop_landmarks68(small, upsample_below=0) is None
    points = generate_landmarks68.crop_landmarks68(small, upsample_below=200)
    assert points.shape == (68, 2)
    scaled = face_landmarks_68(crop)[0] * 70 / crop.shape[1]
    assert np.median(np.linalg.norm(points - scaled, axis=1)) < 3
