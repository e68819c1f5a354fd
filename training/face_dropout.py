"""Black out parts of a face crop, so the classifier cannot rely on one region ("hardcore" augmentation).

All functions take an RGB uint8 crop and return a new array; landmarks are the
five int (x, y) points of preprocessing/generate_landmarks.py in crop pixels:
left eye, right eye, nose, left and right mouth corner.

The shapes are the original solution's: a 2 px line between two landmarks grown by binary dilation (a
cross-shaped step per iteration) for eyes, nose and mouth, and dlib's 68-point jaw and brow outline for the
half-face blackout.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy.ndimage import binary_dilation
from skimage.draw import polygon

from core.dlib_landmarks import face_landmarks_68


def _dilated_line(image: np.ndarray, start, end, iterations: int) -> np.ndarray:
    """The image with a 2 px line from `start` to `end`, dilated `iterations` times, blacked out. As in the
    original, 0 iterations (landmarks under 4 px apart for eyes and nose, 3 for the mouth) means scipy's
    "until nothing changes": the whole crop."""
    line = cv2.line(
        np.zeros(image.shape[:2], np.uint8),
        (int(start[0]), int(start[1])),
        (int(end[0]), int(end[1])),
        color=1,
        thickness=2,
    )
    out = image.copy()
    out[binary_dilation(line, iterations=iterations)] = 0
    return out


def _distance(first, second) -> float:
    return math.hypot(float(first[0]) - float(second[0]), float(first[1]) - float(second[1]))


def remove_eyes(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    left, right = landmarks[0], landmarks[1]
    return _dilated_line(image, left, right, int(_distance(left, right) // 4))


def remove_mouth(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    left, right = landmarks[3], landmarks[4]
    return _dilated_line(image, left, right, int(_distance(left, right) // 3))


def remove_nose(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """From the nose to the point between the eyes (its coordinates truncated), as wide as the eyes' line."""
    left, right, nose = landmarks[0], landmarks[1], landmarks[2]
    between_eyes = (int((int(left[0]) + int(right[0])) / 2), int((int(left[1]) + int(right[1])) / 2))
    return _dilated_line(image, nose, between_eyes, int(_distance(left, right) // 4))


def choose_landmark_part(rng: np.random.Generator) -> str | None:
    """As the original recipe draws it: eyes 1/2, else mouth 1/2, else nose 1/2, else nothing
    (eyes 0.5, mouth 0.25, nose 0.125, none 0.125)."""
    for part in ("eyes", "mouth", "nose"):
        if rng.random() < 0.5:
            return part
    return None


def remove_landmark_part(image: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Eyes, mouth or nose blacked out, or nothing, with choose_landmark_part's probabilities."""
    part = choose_landmark_part(rng)
    removals = {"eyes": remove_eyes, "mouth": remove_mouth, "nose": remove_nose}
    return removals[part](image, landmarks) if part else image.copy()


JAW_AND_BROWS = [
    *range(17),
    *range(26, 16, -1),
]  # the 68-point outline: jaw left to right, then the brows back


def blackout_convex_hull(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The original's half-face blackout: dlib's first face in the crop, the polygon of its jaw and brow
    points, split at the polygon's centroid (truncated) into top/bottom or left/right, one half blacked out.
    Unchanged where dlib finds no face. As the original's numpy indexing did, polygon pixels left of or above
    the crop wrap to its other side, and an outline reaching past its right or bottom edge leaves the crop
    unchanged (the original's IndexError, which its `except` swallowed)."""
    faces = face_landmarks_68(image)
    if not faces:
        return image.copy()
    outline = faces[0][JAW_AND_BROWS]
    rows, columns = polygon(outline[:, 1], outline[:, 0])
    region = np.zeros(image.shape[:2], np.uint8)
    try:
        region[rows, columns] = 1
    except IndexError:
        return image.copy()
    ys, xs = np.nonzero(region)
    if not len(ys):
        return image.copy()
    centre_y, centre_x = int(ys.mean()), int(xs.mean())
    first = rng.random() > 0.5
    if rng.random() > 0.5:
        if first:
            region[:centre_y] = 0
        else:
            region[centre_y:] = 0
    elif first:
        region[:, :centre_x] = 0
    else:
        region[:, centre_x:] = 0
    out = image.copy()
    out[region > 0] = 0
    return out


def face_outline(shape: tuple[int, ...], landmarks: np.ndarray | None) -> np.ndarray:
    """Boolean mask of the face: an ellipse around the landmarks, or the box a margin crop centres on.

    Crops are the detector's box grown by a third on every side, so without
    landmarks the face is taken as the ellipse in the middle 3/5 of the crop.
    """
    height, width = shape[:2]
    mask = np.zeros((height, width), dtype=np.uint8)
    if landmarks is not None:
        centre = landmarks.mean(axis=0)
        eye_span = max(np.linalg.norm(landmarks[1] - landmarks[0]), 1.0)
        mouth_drop = max(landmarks[3:5, 1].mean() - landmarks[0:2, 1].mean(), 1.0)
        axes = (int(eye_span * 1.2), int(mouth_drop * 1.6))
    else:
        centre = np.array([width / 2, height / 2])
        axes = (int(width * 0.3), int(height * 0.3))
    cv2.ellipse(mask, (int(centre[0]), int(centre[1])), axes, 0, 0, 360, 1, -1)
    return mask.astype(bool)


def blackout_half_face(
    image: np.ndarray, landmarks: np.ndarray | None, rng: np.random.Generator
) -> np.ndarray:
    """Black out one half of an ellipse around the face, split through its centroid vertically or
    horizontally: the stand-in for blackout_convex_hull where dlib's 68-point model is not installed."""
    outline = face_outline(image.shape, landmarks)
    ys, xs = np.nonzero(outline)
    if not len(xs):
        return image.copy()
    grid_y, grid_x = np.mgrid[: image.shape[0], : image.shape[1]]
    if rng.random() < 0.5:
        side = grid_x < xs.mean() if rng.random() < 0.5 else grid_x >= xs.mean()
    else:
        side = grid_y < ys.mean() if rng.random() < 0.5 else grid_y >= ys.mean()
    out = image.copy()
    out[outline & side] = 0
    return out


def half_and_quarter_masks(height: int, width: int) -> list[np.ndarray]:
    """The original recipe's six regions to black out: the top, bottom, left and right half, and the two
    diagonal pairs of quarters (top-left with bottom-right, top-right with bottom-left)."""
    middle_y, middle_x = height // 2, width // 2
    masks = [np.zeros((height, width), dtype=bool) for _ in range(6)]
    masks[0][:middle_y] = masks[1][middle_y:] = masks[2][:, :middle_x] = masks[3][:, middle_x:] = True
    masks[4][:middle_y, :middle_x] = masks[4][middle_y:, middle_x:] = True
    masks[5][:middle_y, middle_x:] = masks[5][middle_y:, :middle_x] = True
    return masks


REGION_TRIES = 5  # the original draws a region (with replacement) up to five times


def blackout_region(
    image: np.ndarray, diff: np.ndarray | None, is_fake: bool, rng: np.random.Generator, min_visible: int = 20
) -> np.ndarray:
    """Black out one of the six regions of half_and_quarter_masks, drawn at random up to REGION_TRIES times;
    for a fake, only a region that leaves more than `min_visible` changed pixels of its diff mask in view.

    `diff` is the fake's 8-bit SSIM difference mask (bright = manipulated). A fake without a mask, or whose
    draws all hide its changes, is returned unchanged: blacking out the only manipulated part would turn a
    fake into a picture of a real face.
    """
    masks = half_and_quarter_masks(*image.shape[:2])
    for _ in range(REGION_TRIES):
        region = masks[int(rng.integers(len(masks)))]
        if is_fake and (
            diff is None or diff.shape != region.shape or ((diff > 0) & ~region).sum() <= min_visible
        ):
            continue
        out = image.copy()
        out[region] = 0
        return out
    return image.copy()
