import numpy as np
import pytest

from training.face_dropout import (
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


def test_parts_are_drawn_with_the_originals_probabilities():
    """The original: `if r() > 0.5: eyes elif r() > 0.5: mouth elif r() > 0.5: nose`: 1/2, 1/4, 1/8 and 1/8 for none."""
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
    assert top[:60].all() and not top[60:].any() and bottom[60:].all() and left[:, :50].all() and right[:, 50:].all()
    assert main_diagonal[0, 0] and main_diagonal[119, 99] and not main_diagonal[0, 99] and not main_diagonal[119, 0]
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
    """21 changed pixels in the top-left corner: the bottom half, the right half and the top-right/bottom-left quarters
    keep them in view (3 of 6 regions), so a fake is blacked out when one of five draws hits those: 1 - (3/6)^5. With 20
    it never is: the original needs more than 20."""
    diff = np.zeros((120, 100), dtype=np.uint8)
    diff[:3, :7] = 9  # 21 pixels
    rng = np.random.default_rng(3)
    outcomes = [blacked(blackout_region(IMAGE, diff, True, rng)) for _ in range(3000)]
    hit = [mask.any() for mask in outcomes]
    assert abs(np.mean(hit) - (1 - (3 / 6) ** 5)) < 0.015
    assert all(not mask[:3, :7].any() for mask in outcomes)
    diff[2, 6] = 0  # 20 pixels: never enough
    assert not any(blacked(blackout_region(IMAGE, diff, True, rng)).any() for _ in range(200))
