"""Preprocessing under faults: a frame that does not decode, writes that fail, odd metadata, stray files,
folder swaps."""

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

import evaluate
import preprocessing.steps
from core.atomic import atomic_directory
from core.faces import FaceDetector, crop_face
from core.video import iterate_frames, read_sampled_frames
from preprocessing import detect_original_faces, extract_crops, generate_diffs, generate_folds
from preprocessing.dataset import load_dataset
from tests.conftest import shared_video

DAMAGED_FRAME = 5


def write_mjpg(path: Path, frames: list[np.ndarray]) -> Path:
    """Each frame an independent JPEG, so one frame can be damaged without touching the others."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (width, height))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def damage_frame(path: Path, index: int) -> None:
    """Overwrite one frame's JPEG data with zeros (its AVI chunk stays), so the decoder refuses that frame
    alone."""
    data = bytearray(path.read_bytes())
    starts = [
        i for i in range(len(data) - 2) if data[i] == 0xFF and data[i + 1] == 0xD8 and data[i + 2] == 0xFF
    ]
    data[starts[index] : starts[index + 1] - 8] = bytes(starts[index + 1] - 8 - starts[index])
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def face_frames():
    frames = []
    for _, frame in iterate_frames(
        shared_video("ffpp/original_sequences/youtube/c23/videos/004.mp4"), set(range(24))
    ):
        frames.append(
            cv2.resize(frame, (frame.shape[1] // 2, frame.shape[0] // 2), interpolation=cv2.INTER_AREA)
        )
    return frames


def one_video_root(root: Path, name: str, make) -> Path:
    (root / "part").mkdir(parents=True)
    make(root / "part" / name)
    (root / "part" / "metadata.json").write_text(json.dumps({name: {"label": "REAL", "original": None}}))
    return root


def test_frames_after_a_damaged_one_keep_their_positions(tmp_path, face_frames):
    levels = [np.full((48, 64, 3), 10 * i, np.uint8) for i in range(20)]
    path = write_mjpg(tmp_path / "levels.avi", levels)
    damage_frame(path, DAMAGED_FRAME)
    read = dict(iterate_frames(path))
    assert sorted(read) == [i for i in range(20) if i != DAMAGED_FRAME]
    assert all(abs(float(frame.mean()) - 10 * i) < 3 for i, frame in read.items())
    sampled = read_sampled_frames(path, 20)
    assert sampled.indices == sorted(read)


def test_boxes_and_crops_are_keyed_by_the_real_frame_index(tmp_path, face_frames):
    detector = FaceDetector(
        "cpu",
        detect_original_faces.THRESHOLDS,
        scale=detect_original_faces.ORIGINAL_SCALE,
        contrast_retry=False,
    )
    clean = write_mjpg(tmp_path / "clean.avi", face_frames)
    root = one_video_root(tmp_path / "root", "damaged.avi", lambda path: write_mjpg(path, face_frames))
    damage_frame(root / "part" / "damaged.avi", DAMAGED_FRAME)
    assert detect_original_faces.main(["--root-dir", str(root), "--device", "cpu", "--workers", "0"]) == 0
    boxes = json.loads((root / "boxes" / "damaged.json").read_text())["frames"]
    assert str(DAMAGED_FRAME) not in boxes and len(boxes) == len(face_frames) - 1
    clean_frames = dict(iterate_frames(clean))
    for index in (DAMAGED_FRAME + 1, 10, 20):
        expected = detector.detect([clean_frames[index]])[0][0].box
        np.testing.assert_allclose(boxes[str(index)][0], expected, atol=1.0)
    assert extract_crops.main(["--root-dir", str(root), "--workers", "0", "--every", "10"]) == 0
    crop = cv2.imread(str(root / "crops" / "damaged" / "10_0.png"))
    expected_crop = cv2.cvtColor(crop_face(clean_frames[10], boxes["10"][0]), cv2.COLOR_RGB2BGR)
    assert np.array_equal(crop, expected_crop)


def test_a_failed_image_write_fails_the_video_and_leaves_it_to_do(tmp_path, face_frames, monkeypatch):
    root = one_video_root(tmp_path / "root", "clip.avi", lambda path: write_mjpg(path, face_frames[:12]))
    assert detect_original_faces.main(["--root-dir", str(root), "--device", "cpu", "--workers", "0"]) == 0
    # what OpenCV does on a full disk
    monkeypatch.setattr(preprocessing.steps.cv2, "imwrite", lambda *args, **kwargs: False)
    assert extract_crops.main(["--root-dir", str(root), "--workers", "0", "--every", "5"]) == 0
    problems = json.loads((root / "reports" / "extract_crops.json").read_text())["problems"]
    assert "cannot write" in problems["clip"] and not (root / "crops" / "clip").exists()
    monkeypatch.undo()
    assert extract_crops.main(["--root-dir", str(root), "--workers", "0", "--every", "5"]) == 0
    assert len(list((root / "crops" / "clip").glob("*.png"))) == 3


def test_a_failed_diff_write_fails_the_fake(tmp_path, face_frames, monkeypatch):
    root = tmp_path / "root"
    (root / "part").mkdir(parents=True)
    write_mjpg(root / "part" / "real.avi", face_frames[:12])
    write_mjpg(root / "part" / "fake.avi", [cv2.GaussianBlur(frame, (9, 9), 3) for frame in face_frames[:12]])
    (root / "part" / "metadata.json").write_text(
        json.dumps(
            {
                "real.avi": {"label": "REAL", "original": None},
                "fake.avi": {"label": "FAKE", "original": "real.avi"},
            }
        )
    )
    assert detect_original_faces.main(["--root-dir", str(root), "--device", "cpu", "--workers", "0"]) == 0
    assert extract_crops.main(["--root-dir", str(root), "--workers", "0", "--every", "5"]) == 0
    monkeypatch.setattr(preprocessing.steps.cv2, "imwrite", lambda *args, **kwargs: False)
    assert generate_diffs.main(["--root-dir", str(root), "--workers", "0"]) == 0
    assert (
        "cannot write"
        in json.loads((root / "reports" / "generate_diffs.json").read_text())["problems"]["fake"]
    )
    assert not (root / "diffs" / "fake").exists()


def test_workers_0_runs_in_this_process(tmp_path, face_frames, monkeypatch):
    root = one_video_root(tmp_path / "root", "clip.avi", lambda path: write_mjpg(path, face_frames[:12]))
    assert detect_original_faces.main(["--root-dir", str(root), "--device", "cpu", "--workers", "0"]) == 0

    def no_pool(*args, **kwargs):
        raise AssertionError("--workers 0 started a process pool")

    monkeypatch.setattr(preprocessing.steps, "Pool", no_pool)
    assert extract_crops.main(["--root-dir", str(root), "--workers", "0", "--every", "5"]) == 0
    assert len(list((root / "crops" / "clip").glob("*.png"))) == 3


def test_odd_metadata_and_stray_files_are_reported_not_fatal(tmp_path, face_frames, capsys):
    root = tmp_path / "root"
    (root / "part").mkdir(parents=True)
    for name in ("real.avi", "number.avi", "list.avi"):
        write_mjpg(root / "part" / name, face_frames[:6])
    (root / "part" / "metadata.json").write_text(
        json.dumps(
            {
                "real.avi": {"label": "REAL", "original": None},
                "number.avi": {"label": "FAKE", "original": 7},
                "list.avi": {"label": "FAKE", "original": ["real.avi"]},
            }
        )
    )
    dataset = load_dataset(root)
    assert sorted(dataset.videos) == ["real"]
    for video_id, shown in (("number", "7"), ("list", "['real.avi']")):
        assert (
            str(root / "part" / "metadata.json") in dataset.problems[video_id]
            and shown in dataset.problems[video_id]
        )
    assert detect_original_faces.main(["--root-dir", str(root), "--device", "cpu", "--workers", "0"]) == 0
    assert extract_crops.main(["--root-dir", str(root), "--workers", "0", "--every", "5"]) == 0
    crops = root / "crops" / "real"
    (crops / "notes.png").write_bytes(b"x")
    (crops / "0_0 copy.png").write_bytes(b"x")
    (crops / "Thumbs.db").write_bytes(b"x")
    capsys.readouterr()
    # no fake names real: every crop
    assert generate_folds.main(["--root-dir", str(root), "--all-crops"]) == 0
    printed = capsys.readouterr()
    rows = (root / "folds.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 and all(",crops/real/" in row for row in rows[1:])
    report = json.loads((root / "reports" / "generate_folds.json").read_text())["problems"]
    assert sorted(report) == sorted(
        ["crops/real/0_0 copy.png", "crops/real/notes.png", "crops/real/Thumbs.db"]
    )
    assert "3 stray files" in printed.out and str(crops / "notes.png") in printed.err

    predictions = tmp_path / "p.csv"
    predictions.write_text("filename,label\nreal.avi,0.3\n")
    assert evaluate.main(["--predictions", str(predictions), "--labels", str(root), "--json"]) == 0
    assert "the 'original' of number.avi is not a file name" in capsys.readouterr().err


def test_replacing_a_folder_never_leaves_neither(tmp_path, monkeypatch):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    real_rename = Path.rename

    def failing_rename(self, destination):
        if self.name.endswith(".tmp"):
            raise OSError("disk gone")
        return real_rename(self, destination)

    monkeypatch.setattr(Path, "rename", failing_rename)
    with pytest.raises(OSError, match="disk gone"), atomic_directory(target) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing left beside it
    monkeypatch.undo()

    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(
        os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real_fsync(fd)
    )
    with atomic_directory(target) as tmp:
        (tmp / "new.txt").write_text("new")
        (tmp / "more.txt").write_text("more")
    assert sorted(p.name for p in target.iterdir()) == ["more.txt", "new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert {Path(p).name for p in synced} >= {"new.txt", "more.txt", tmp_path.name}


def test_box_files_of_the_original_preprocessing_are_refused_or_read_at_half_resolution(
    tmp_path, face_frames
):
    """The original wrote {frame: boxes} of frames halved for detection; read as full resolution they would
    crop the wrong place. Without a word they are refused; --legacy-boxes half reads them as the original's
    extract_crops did."""
    root = one_video_root(tmp_path / "root", "clip.avi", lambda path: write_mjpg(path, face_frames[:12]))
    assert detect_original_faces.main(["--root-dir", str(root), "--device", "cpu", "--workers", "0"]) == 0
    assert extract_crops.main(["--root-dir", str(root), "--workers", "0", "--every", "5"]) == 0
    ours = {path.name: cv2.imread(str(path)) for path in (root / "crops" / "clip").glob("*.png")}
    assert len(ours) == 3
    full = json.loads((root / "boxes" / "clip.json").read_text())
    assert full["coordinates"] == "full resolution"
    original = {
        frame: [[value / 2 for value in box] for box in boxes] if boxes else None
        for frame, boxes in full["frames"].items()
    }
    (root / "boxes" / "clip.json").write_text(json.dumps(original))
    shutil.rmtree(root / "crops")
    assert extract_crops.main(["--root-dir", str(root), "--workers", "0", "--every", "5"]) == 0
    problem = json.loads((root / "reports" / "extract_crops.json").read_text())["problems"]["clip"]
    assert "does not say its coordinates" in problem and "--legacy-boxes half" in problem
    assert not (root / "crops" / "clip").exists()
    assert (
        extract_crops.main(
            ["--root-dir", str(root), "--workers", "0", "--every", "5", "--legacy-boxes", "half"]
        )
        == 0
    )
    again = {path.name: cv2.imread(str(path)) for path in (root / "crops" / "clip").glob("*.png")}
    assert again.keys() == ours.keys() and all(np.array_equal(again[name], ours[name]) for name in ours)
