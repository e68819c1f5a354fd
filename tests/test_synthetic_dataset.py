"""The demo's synthetic dataset: real photos filmed by a moving camera, and self-blended fakes aligned with
them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.faces import margin_box
from core.video import iterate_frames
from demo.synthetic_dataset import DatasetOptions, load_source_photos, make_dataset
from tests.commands import run_main

SMALL = DatasetOptions(parts=1, reals_per_part=2, fakes_per_real=2, frames=8, seed=3)


def decode(path) -> np.ndarray:
    return np.stack([frame for _, frame in iterate_frames(path)])


@pytest.fixture(scope="module")
def small_root(tmp_path_factory, detector):
    root = tmp_path_factory.mktemp("synthetic")
    make_dataset(root, SMALL, detector)
    return root


def test_metadata_is_dfdc_layout_with_an_original_for_every_fake(small_root):
    part = small_root / "dfdc_train_part_0"
    metadata = json.loads((part / "metadata.json").read_text())
    reals = {name for name, info in metadata.items() if info["label"] == "REAL"}
    fakes = {name: info["original"] for name, info in metadata.items() if info["label"] == "FAKE"}
    assert len(reals) == 2 and len(fakes) == 4 and set(fakes.values()) == reals
    assert sorted(path.name for path in part.iterdir()) == sorted([*metadata, "metadata.json"])
    assert [p.name for p in small_root.iterdir()] == ["dfdc_train_part_0"]  # no temporary folder left behind
    for name in metadata:
        frames = decode(part / name)
        assert frames.shape == (8, 240, 320, 3)


def test_fakes_change_the_face_and_nothing_else_on_the_same_frames(small_root, detector):
    part = small_root / "dfdc_train_part_0"
    metadata = json.loads((part / "metadata.json").read_text())
    for fake, info in metadata.items():
        if info["label"] != "FAKE":
            continue
        original, blended = (
            decode(part / info["original"]).astype(np.float32),
            decode(part / fake).astype(np.float32),
        )
        for index in (0, 7):
            face = detector.detect([original[index].astype(np.uint8)])[0][0]
            x1, y1, x2, y2 = (int(v) for v in face.box)
            inner = np.abs(original[index, y1:y2, x1:x2] - blended[index, y1:y2, x1:x2]).mean()
            outside = np.ones(original.shape[1:3], bool)
            mx1, my1, mx2, my2 = margin_box(face.box, 320, 240, margin=0.5)
            outside[my1:my2, mx1:mx2] = False
            rest = np.abs(original[index][outside] - blended[index][outside]).mean()
            # the rest differs by compression noise only
            assert inner > 5 and rest < 1.5, (fake, index, inner, rest)


def test_real_clips_move_and_show_a_face_in_every_frame(small_root, detector):
    part = small_root / "dfdc_train_part_0"
    metadata = json.loads((part / "metadata.json").read_text())
    for name, info in metadata.items():
        if info["label"] == "REAL":
            frames = decode(part / name)
            assert all(faces for faces in detector.detect(list(frames)))
            assert np.abs(frames[0].astype(np.float32) - frames[-1]).mean() > 10  # the camera moved


def test_same_seed_same_clips_and_finished_parts_are_kept(small_root, tmp_path, detector):
    again = tmp_path / "again"
    make_dataset(again, SMALL, detector)
    first, second = small_root / "dfdc_train_part_0", again / "dfdc_train_part_0"
    assert (first / "metadata.json").read_text() == (second / "metadata.json").read_text()
    for name in json.loads((first / "metadata.json").read_text()):
        assert np.array_equal(decode(first / name), decode(second / name))
    before = {path.name: path.stat().st_mtime_ns for path in second.iterdir()}
    make_dataset(again, SMALL, detector)
    assert {path.name: path.stat().st_mtime_ns for path in second.iterdir()} == before
    other = tmp_path / "other"
    make_dataset(
        other, DatasetOptions(parts=1, reals_per_part=1, fakes_per_real=0, frames=2, seed=4), detector
    )
    assert (other / "dfdc_train_part_0" / "metadata.json").read_text() != (
        first / "metadata.json"
    ).read_text()


def test_source_photos_ship_with_the_dependencies(detector):
    photos = load_source_photos(detector)
    assert [photo.name for photo in photos] == ["astronaut", "grace_hopper"]
    for photo in photos:
        left_eye, right_eye = photo.landmarks[0], photo.landmarks[1]
        # eyes left to right, nose below
        assert left_eye[0] < right_eye[0] and photo.landmarks[2][1] > left_eye[1]


@pytest.mark.slow
def test_command_line(tmp_path):
    done = run_main("demo.synthetic_dataset", "--help")
    assert done.returncode == 0 and "--fakes-per-real" in done.stdout and "self-blended" in done.stdout
    done = run_main("demo.synthetic_dataset", "--out", tmp_path, "--frames", 0)
    assert done.returncode == 2 and "error: argument --frames: must be 1 or more, got 0" in done.stderr
    done = run_main(
        "demo.synthetic_dataset",
        "--out",
        tmp_path / "d",
        "--parts",
        1,
        "--first-part",
        4,
        "--reals-per-part",
        1,
        "--fakes-per-real",
        1,
        "--frames",
        3,
    )
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "d" / "dfdc_train_part_4").glob("*.mp4"))) == 2
