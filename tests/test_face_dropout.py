import numpy as np
import pytest

from training.face_dropout import (
    blackout_half_face,
    blackout_region,
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


@pytest.mark.parametrize("remove, inside, outside", [
    (remove_eyes, [(50, 38), (50, 62)], [(80, 50), (110, 50)]),
    (remove_mouth, [(80, 40), (80, 60)], [(50, 38), (10, 50)]),
    (remove_nose, [(58, 50), (65, 50)], [(80, 40), (50, 10)]),
])
def test_part_removal_blacks_out_that_part_only(remove, inside, outside):
    out = remove(IMAGE, LANDMARKS)
    mask = blacked(out)
    assert all(mask[y, x] for y, x in inside) and not any(mask[y, x] for y, x in outside)
    assert 0 < mask.mean() < 0.2 and not blacked(IMAGE).any()  # the input is untouched


def test_random_part_removal_changes_the_image():
    rng = np.random.default_rng(0)
    assert all(blacked(remove_landmark_part(IMAGE, LANDMARKS, rng)).any() for _ in range(10))


def test_half_face_blackout_covers_about_half_of_the_outline():
    rng = np.random.default_rng(1)
    for landmarks in (LANDMARKS, None):
        outline = face_outline(IMAGE.shape, landmarks)
        for _ in range(4):
            mask = blacked(blackout_half_face(IMAGE, landmarks, rng))
            assert not (mask & ~outline).any()
            assert 0.35 < mask.sum() / outline.sum() < 0.65


def test_region_masks_are_halves_and_quarters():
    masks = half_and_quarter_masks(120, 100)
    assert [round(m.mean(), 2) for m in masks] == [0.5, 0.5, 0.5, 0.5, 0.25, 0.25]


def test_fake_keeps_its_manipulated_pixels_in_view():
    diff = np.zeros((120, 100), dtype=np.uint8)
    diff[:, :50] = 255  # only the left half was manipulated
    rng = np.random.default_rng(2)
    for _ in range(20):
        mask = blacked(blackout_region(IMAGE, diff, True, rng))
        assert mask.any() and not mask[:, :50].all()  # the left half is never wholly hidden
    assert not blacked(blackout_region(IMAGE, None, True, rng)).any()  # a fake without a mask is left alone
    assert blacked(blackout_region(IMAGE, None, False, rng)).any()  # a real one needs none
