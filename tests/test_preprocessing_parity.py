"""Preprocessing makes the original solution's training data: its detection, landmarks, difference masks and
fold rows, each computed here independently from the original's code (facenet-pytorch's MTCNN, scikit-image's
SSIM, its loops)."""

import csv
import json

import cv2
import numpy as np
import pytest
from facenet_pytorch import MTCNN
from PIL import Image
from skimage.metrics import structural_similarity

from core.video import read_frames_at, read_sampled_frames, write_video
from preprocessing import detect_original_faces, extract_crops, generate_folds, generate_landmarks
from preprocessing.generate_diffs import difference_mask
from tests.conftest import shared_video

FRAMES = 3


@pytest.fixture(scope="module")
def one_video_root(tmp_path_factory):
    """A DATA_ROOT holding the first frames of a real 1920x1080 DFDC video and a 640x480 FF++ one,
    preprocessed by the first three steps with their defaults (crops of every frame)."""
    root = tmp_path_factory.mktemp("parity_root")
    part = root / "dfdc_train_part_0"
    part.mkdir()
    frames = {}
    for name, source in (
        ("dfdc", "dfdc_real/lynaeydofd.mp4"),
        ("ffpp", "ffpp/original_sequences/youtube/c23/videos/519.mp4"),
    ):
        frames[name] = list(read_frames_at(shared_video(source), list(range(FRAMES))).values())
        write_video(part / f"{name}.mp4", frames[name])
    (part / "metadata.json").write_text(
        json.dumps({f"{name}.mp4": {"label": "REAL", "original": None} for name in frames})
    )
    common = ["--root-dir", str(root), "--workers", "0"]
    assert detect_original_faces.main([*common, "--device", "cpu"]) == 0
    assert extract_crops.main([*common, "--every", "1"]) == 0
    assert generate_landmarks.main([*common, "--device", "cpu"]) == 0
    return root


def decoded_frames(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (read := capture.read())[0]:
        frames.append(cv2.cvtColor(read[1], cv2.COLOR_BGR2RGB))
    return frames


@pytest.mark.parametrize("name", ["dfdc", "ffpp"])
def test_boxes_and_crops_are_the_originals(one_video_root, name):
    """detect_original_faces.py: each frame resized by PIL to side // 2, MTCNN(margin=0, thresholds=[0.85,
    0.95, 0.95]) .detect, boxes kept as floats; extract_crops.py: int(b * 2) of each, a third of the box's
    sides added."""
    mtcnn = MTCNN(margin=0, thresholds=[0.85, 0.95, 0.95], device="cpu")
    boxes = json.loads((one_video_root / "boxes" / f"{name}.json").read_text())["frames"]
    frames = decoded_frames(one_video_root / "dfdc_train_part_0" / f"{name}.mp4")
    assert len(frames) == FRAMES == len(boxes)
    for index, frame in enumerate(frames):
        image = Image.fromarray(frame)
        found, _ = mtcnn.detect(image.resize(size=[side // 2 for side in image.size]), landmarks=False)
        assert found is not None and len(found) == len(boxes[str(index)])
        ours = np.array(boxes[str(index)])
        # the cascade agrees with facenet-pytorch's to float precision
        assert np.abs(ours - found * 2).max() < 1e-3
        for face, box in enumerate(found):
            x1, y1, x2, y2 = (int(value * 2) for value in box)
            pad_h, pad_w = (y2 - y1) // 3, (x2 - x1) // 3
            expected = frame[max(y1 - pad_h, 0) : y2 + pad_h, max(x1 - pad_w, 0) : x2 + pad_w]
            crop = cv2.imread(str(one_video_root / "crops" / name / f"{index}_{face}.png"))
            assert np.array_equal(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB), expected)


@pytest.mark.parametrize("name", ["dfdc", "ffpp"])
def test_landmarks_are_the_originals(one_video_root, name):
    """generate_landmarks.py: MTCNN(margin=0, thresholds=[0.65, 0.75, 0.75]).detect on the crop at its own
    size, np.around(landmarks[0]).astype(np.int16); no file where it finds none (here a crop darkened to 6% of
    its levels, which scoring's contrast retry would have searched again)."""
    mtcnn = MTCNN(margin=0, thresholds=[0.65, 0.75, 0.75], device="cpu")
    crops = sorted((one_video_root / "crops" / name).glob("*.png"))
    assert crops
    sizes = []
    for crop_file in crops:
        image = cv2.imread(str(crop_file), cv2.IMREAD_COLOR)[..., ::-1]
        sizes.append(max(image.shape[:2]))
        _, _, landmarks = mtcnn.detect(Image.fromarray(np.ascontiguousarray(image)), landmarks=True)
        ours = one_video_root / "landmarks" / name / f"{crop_file.stem}.npy"
        assert landmarks is not None and ours.is_file()
        # (facenet-pytorch 2.6 hands the points back as an object array)
        assert np.array_equal(np.load(ours), np.around(np.asarray(landmarks[0], np.float64)).astype(np.int16))
    if name == "ffpp":
        assert max(sizes) < 300  # crops the old rule doubled before detection
    from core.faces import FaceDetector

    dark = (cv2.imread(str(crops[0]))[..., ::-1] * 0.06).astype(np.uint8)
    _, _, landmarks = mtcnn.detect(Image.fromarray(np.ascontiguousarray(dark)), landmarks=True)
    ours = generate_landmarks.crop_landmarks(
        FaceDetector("cpu", generate_landmarks.THRESHOLDS, contrast_retry=False), dark
    )
    assert (landmarks is None) == (ours is None)


def test_difference_masks_are_the_originals():
    """generate_diffs.py: compare_ssim(original, fake, multichannel=True, full=True) on the BGR crops, then
    ((1 - map) * 255).astype(np.uint8) and cv2.cvtColor(..., COLOR_BGR2GRAY)."""
    original = read_sampled_frames(
        shared_video("ffpp/original_sequences/youtube/c23/videos/519.mp4"), 1
    ).frames[0]
    fake = read_sampled_frames(
        shared_video("ffpp/manipulated_sequences/Deepfakes/c23/videos/519_515.mp4"), 1
    ).frames[0]
    box = (slice(60, 300), slice(200, 420))  # around the face of both frames
    original_bgr, fake_bgr = (np.ascontiguousarray(image[box][..., ::-1]) for image in (original, fake))
    _, similarity = structural_similarity(original_bgr, fake_bgr, channel_axis=2, full=True)
    expected = cv2.cvtColor(((1 - similarity) * 255).astype(np.uint8), cv2.COLOR_BGR2GRAY)
    mask = difference_mask(fake_bgr, original_bgr)
    assert np.array_equal(mask, expected)
    assert 0.05 < (mask > 0).mean() < 0.95  # a real manipulation: part of the crop changed, not all of it


def write_crops(root, video, names):
    (root / "crops" / video).mkdir(parents=True)
    for name in names:
        (root / "crops" / video / name).write_bytes(b"png")


def originals_rows(root, pairs):
    """The original's generate_folds.get_paths for every (original, original) and (original, fake) pair."""
    rows = set()
    for video, label in [(o, 0) for o in sorted({o for o, _ in pairs})] + [(f, 1) for _, f in pairs]:
        for frame in range(320):
            if frame % 10 != 0:
                continue
            for actor in range(2):
                if (root / "crops" / video / f"{frame}_{actor}.png").exists():
                    rows.add((video, f"{frame}_{actor}.png", label, frame))
    return rows


def test_folds_have_the_originals_rows_and_say_what_they_left_out(tmp_path, capsys):
    part = tmp_path / "dfdc_train_part_4"
    part.mkdir()
    metadata = {
        "a.mp4": {"label": "REAL", "original": None},
        "b.mp4": {"label": "FAKE", "original": "a.mp4"},
        "c.mp4": {"label": "FAKE", "original": "a.mp4"},
        "lonely.mp4": {"label": "REAL", "original": None},
    }
    (part / "metadata.json").write_text(json.dumps(metadata))
    crops = [f"{frame}_{face}.png" for frame in range(0, 400, 5) for face in range(3)]
    for name in metadata:
        (part / name).write_bytes(b"video")
        write_crops(tmp_path, name[:-4], crops)
    assert generate_folds.main(["--root-dir", str(tmp_path)]) == 0
    with open(tmp_path / "folds.csv") as f:
        rows = {
            (row["video"], row["file"].split("/")[-1], int(row["label"]), int(row["frame"]))
            for row in csv.DictReader(f)
        }
    assert rows == originals_rows(tmp_path, [("a", "b"), ("a", "c")])
    assert len(rows) == 3 * 32 * 2
    out = capsys.readouterr().out
    assert "fold 1: 3 videos (1 real, 2 fake)" in out  # part 4: fold 1 of 16, as the original
    report = json.loads((tmp_path / "reports" / "generate_folds.json").read_text())
    assert report["folds"] == ["fold 1: 3 videos (1 real, 2 fake)"]
    assert report["crops_left_out"] == {
        "crops of REAL videos that no fake names as its original": 240,
        "crops of faces after the 2 largest of their frame": 3 * 32,
        "crops of frames 320 or later": 3 * 16 * 3,
        "crops of frames that are not a multiple of 10": 3 * 32 * 3,
    }
    assert "768 crops left out" in out and "--all-crops keeps them" in out
    assert generate_folds.main(["--root-dir", str(tmp_path), "--all-crops"]) == 0
    with open(tmp_path / "folds.csv") as f:
        assert len(list(csv.DictReader(f))) == 4 * len(crops)
    assert json.loads((tmp_path / "reports" / "generate_folds.json").read_text())["crops_left_out"] == {}
