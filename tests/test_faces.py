import cv2
import numpy as np
import pytest

from core.faces import crop_face, detection_scale, margin_box, resize_for_detection, stretch_contrast
from core.video import read_sampled_frames, write_video
from tests.conftest import REAL_VIDEOS, REPO, shared_video


@pytest.mark.parametrize(
    "width, height, scale",
    [
        (160, 120, 2.0),
        (299, 200, 2.0),
        (300, 200, 1.0),
        (640, 480, 1.0),
        (1000, 720, 1.0),
        (720, 1000, 1.0),
        (1001, 600, 0.5),
        (1280, 720, 0.5),
        (720, 1280, 0.5),
        (1900, 1000, 0.5),
        (1920, 1080, 0.33),
        (1080, 1920, 0.33),
    ],
)
def test_detection_scale_follows_the_wider_side(width, height, scale):
    assert detection_scale(width, height) == scale


@pytest.fixture(scope="module")
def real_frame():
    return read_sampled_frames(shared_video(REAL_VIDEOS["dfdc_real_1920x1080"]), 1).frames[0]


@pytest.mark.parametrize(
    "width, height", [(1920, 1080), (1080, 1920), (1921, 1081), (1280, 720), (250, 140), (640, 480)]
)
def test_frames_are_resized_for_detection_by_the_scale_rule(real_frame, width, height):
    """Downscaling is area averaging (a 1080p frame goes through an exact halving first, which OpenCV does
    faster)."""
    frame = cv2.resize(real_frame, (width, height), interpolation=cv2.INTER_AREA)
    scale = detection_scale(width, height)
    resized = resize_for_detection(frame, scale)
    expected_size = (round(width * scale), round(height * scale))
    assert resized.shape == (expected_size[1], expected_size[0], 3)
    if scale < 1:
        direct = cv2.resize(frame, expected_size, interpolation=cv2.INTER_AREA)
        # measured 0.4 at 1080p; bilinear (aliasing) is 0.8
        assert np.abs(resized.astype(int) - direct).mean() < 0.6
    elif scale == 1:
        assert resized is frame


def test_margin_is_a_third_of_the_box_on_every_side():
    # box 90 x 120 -> 30 px left/right, 40 px top/bottom
    assert margin_box((100, 200, 190, 320), 1000, 1000) == (70, 160, 220, 360)


def test_margin_is_clipped_to_the_frame():
    assert margin_box((10, 5, 100, 125), 120, 140) == (0, 0, 120, 140)
    assert margin_box((-8, -4, 52, 56), 640, 480) == (0, 0, 72, 76)


def test_crop_of_a_box_outside_the_frame_is_none():
    frame = np.zeros((100, 100, 3), dtype=np.uint8)
    assert crop_face(frame, (150, 150, 180, 190)) is None
    # box 30 x 60 -> margins 10 and 20, clipped at the top-left corner: x 0..50, y 0..90
    assert crop_face(frame, (10, 10, 40, 70)).shape == (90, 50, 3)


def test_frames_without_faces_give_empty_lists(detector):
    tiny = np.zeros((10, 10, 3), dtype=np.uint8)  # smaller than MTCNN's 12 px cell: no pyramid level at all
    noise = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    assert detector.detect([tiny]) == [[]]
    assert detector.detect([noise, noise]) == [[], []]
    assert detector.detect([]) == []


@pytest.fixture(scope="module")
def detections(detector):
    results = {}
    for name, relative in REAL_VIDEOS.items():
        sampled = read_sampled_frames(shared_video(relative), 32)
        results[name] = (sampled, detector.detect(sampled.frames))
    return results


@pytest.mark.slow  # the module's `detections`: 11 videos, 32 frames each, decoded and detected
@pytest.mark.parametrize("name", sorted(REAL_VIDEOS))
def test_faces_are_found_in_nearly_every_sampled_frame(detections, name):
    sampled, faces = detections[name]
    assert len(sampled.frames) == 32
    with_face = sum(1 for frame_faces in faces if frame_faces)
    assert with_face >= 0.9 * len(sampled.frames), (
        f"{name}: faces in only {with_face} of {len(sampled.frames)} frames"
    )
    width, height = sampled.size
    for frame_faces in faces:
        for face in frame_faces:
            x1, y1, x2, y2 = face.box
            # full-resolution coordinates: inside the frame (up to MTCNN's small overshoot) and a plausible
            # size
            assert -0.1 * width < x1 < x2 < 1.1 * width and -0.1 * height < y1 < y2 < 1.1 * height
            assert face.landmarks.shape == (5, 2) and 0.7 <= face.score <= 1.0
            assert (face.landmarks[:, 0] > x1 - 5).all() and (face.landmarks[:, 0] < x2 + 5).all()


@pytest.mark.slow  # the module's `detections`: 11 videos, 32 frames each, decoded and detected
@pytest.mark.parametrize("name", ["dfdc_portrait_1080x1920", "dfdc_real_1920x1080", "ffpp_original_519"])
def test_crops_hold_the_face_with_its_margin(detections, detector, name):
    sampled, faces = detections[name]
    width, height = sampled.size
    frame, face = next((f, ff[0]) for f, ff in zip(sampled.frames, faces, strict=True) if ff)
    x1, y1, x2, y2 = margin_box(face.box, width, height)
    crop = crop_face(frame, face.box)
    assert crop.shape == (y2 - y1, x2 - x1, 3)
    assert np.array_equal(crop, frame[y1:y2, x1:x2])
    # the crop is about 5/3 of the box on each axis unless clipped by the frame
    box_w, box_h = face.box[2] - face.box[0], face.box[3] - face.box[1]
    if x1 > 0 and x2 < width:
        assert abs(crop.shape[1] - 5 / 3 * box_w) <= 3
    if y1 > 0 and y2 < height:
        assert abs(crop.shape[0] - 5 / 3 * box_h) <= 3
    # and the detector finds the same face again inside the crop
    again = detector.detect([crop], scale=1.0 if max(crop.shape[:2]) < 1000 else 0.5)[0]
    assert again, "no face found inside the crop"
    ax1, ay1, ax2, ay2 = again[0].box
    assert _iou((ax1 + x1, ay1 + y1, ax2 + x1, ay2 + y1), face.box) > 0.6


def _iou(a, b) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_contrast_is_stretched_only_for_narrow_ranges():
    dark = np.full((20, 20, 3), 20, dtype=np.uint8)
    dark[10:] = 60
    dark[5, 5] = 40
    stretched = stretch_contrast(dark)  # levels 20..60 (0.5th..99.5th percentile) -> 0..255
    assert stretched[0, 0].tolist() == [0, 0, 0] and stretched[15, 0].tolist() == [255, 255, 255]
    assert stretched[5, 5].tolist() == [127, 127, 127]  # (40 - 20) * 255 / 40 = 127.5, truncated
    wide = np.zeros((20, 20, 3), dtype=np.uint8)
    wide[10:] = 200  # spans 200 levels: left alone
    assert stretch_contrast(wide) is None
    assert stretch_contrast(np.full((20, 20, 3), 3, dtype=np.uint8)) is None  # flat: nothing to stretch


@pytest.mark.slow  # the module's `detections`: 11 videos, 32 frames each, decoded and detected
@pytest.mark.parametrize("name", ["dfdc_real_1920x1080", "ffpp_original_519"])
def test_faces_in_dark_frames_are_found_on_contrast_stretched_frames(detections, detector, name):
    sampled, faces = detections[name]
    frames = sampled.frames[::4]
    # a few levels above black, as in a dark room
    dark = [(frame * 0.05).astype(np.uint8) for frame in frames]
    assert all(stretch_contrast(frame) is None for frame in frames)  # normal exposure: never stretched
    assert not any(face.contrast_stretched for frame_faces in faces for face in frame_faces)
    found = detector.detect(dark)
    assert sum(1 for frame_faces in found if frame_faces) >= 0.9 * len(dark)
    for frame_faces, original in zip(found, faces[::4], strict=True):
        if frame_faces and original:
            assert frame_faces[0].contrast_stretched and _iou(frame_faces[0].box, original[0].box) > 0.7


@pytest.mark.slow  # the module's `detections`: 11 videos, 32 frames each, decoded and detected
@pytest.mark.parametrize("name", ["dfdc_real_1920x1080", "ffpp_original_634"])
def test_faces_are_found_in_tiny_clips(detections, detector, name):
    """A 160x90 clip (wider side < 300 px) is detected at 2x; faces of 15-25 px come back in the clip's
    coordinates."""
    sampled, faces = detections[name]
    width, height = sampled.size
    shrink = 160 / width
    tiny = [
        cv2.resize(frame, (160, round(height * shrink)), interpolation=cv2.INTER_AREA)
        for frame in sampled.frames[::2]
    ]
    assert detection_scale(160, tiny[0].shape[0]) == 2.0
    found = detector.detect(tiny)
    assert sum(1 for frame_faces in found if frame_faces) >= 0.9 * len(tiny)
    for frame_faces, original in zip(found, faces[::2], strict=True):
        if frame_faces and original:
            full_size = tuple(v * shrink for v in original[0].box)
            assert _iou(frame_faces[0].box, full_size) > 0.6  # measured: 0.77-0.96


DETECTION_MEMORY_PROBE = """
import sys
import cv2
import numpy as np
import torch
from core.allocator import keep_freed_memory
keep_freed_memory()
from core.faces import FaceDetector
from core.video import read_sampled_frames, write_video
from inference.predictor import PredictorSettings, VideoPredictor
from training.zoo.classifiers import DeepFakeClassifier


def resident_mb(field):
    return next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith(field)) / 1024


frames = read_sampled_frames(sys.argv[1], 16).frames
predictor = VideoPredictor({'m': DeepFakeClassifier('tf_efficientnet_b0_ns').eval()}, FaceDetector('cpu'), torch.device('cpu'),
                           PredictorSettings(parallel_batches=2))
predictor.detect(frames[:2])
open('/proc/self/clear_refs', 'w').write('5')  # resets the peak resident size to the current one
before = resident_mb('VmRSS:')
faces = predictor.detect(frames)
print(resident_mb('VmHWM:') - before, sum(1 for found in faces if found))
"""


@pytest.mark.slow
@pytest.mark.parametrize("size", [(960, 540), (3840, 2160)])
def test_detection_adds_a_bounded_amount_of_memory(tmp_path, size):
    """Measured when written: 32 frames of 960x540 at once added 1.05 GB; in chunks of 2 Mpx about 0.1 GB at
    either size."""
    import subprocess
    import sys

    frames = read_sampled_frames(
        shared_video("ffpp/original_sequences/youtube/c23/videos/519.mp4"), 16
    ).frames
    clip = write_video(
        tmp_path / "clip.mp4", [cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC) for frame in frames]
    )
    done = subprocess.run(
        [sys.executable, "-c", DETECTION_MEMORY_PROBE, str(clip)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    added, with_faces = done.stdout.split()
    assert float(added) < 400 and int(with_faces) == 16, done.stdout
