"""dlib's 68-point face landmarks, read offline from the `face-recognition-models` wheel.

The original solution's convex-hull blackout and the self-blended-images mode both
need dlib's frontal face detector and its 68-point shape predictor. The predictor's
file ships inside `face-recognition-models`; its package is never imported (its
`__init__` needs `pkg_resources`), only located, so nothing is downloaded.

The 68-point model was trained on the iBUG 300-W data set, whose licence excludes
commercial use: the README's licence section says so.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

MODEL_PACKAGE = "face_recognition_models"
MODEL_FILE = "shape_predictor_68_face_landmarks.dat"


def predictor_path() -> Path | None:
    """Where the 68-point model lies, or None when dlib or the model wheel is not installed."""
    if importlib.util.find_spec("dlib") is None:
        return None
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "models" / MODEL_FILE
        if candidate.is_file():
            return candidate
    return None


def unavailable_reason() -> str | None:
    """None when 68-point landmarks can be computed, else why not, in one line."""
    if importlib.util.find_spec("dlib") is None:
        return "dlib is not installed (pip install dlib-bin)"
    if predictor_path() is None:
        return f"{MODEL_FILE} not found (pip install face-recognition-models)"
    return None


@functools.lru_cache(maxsize=1)
def _models():
    import dlib

    path = predictor_path()
    if path is None:
        raise RuntimeError(f"68-point landmarks unavailable: {unavailable_reason()}")
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(path))


def face_landmarks_68(image: np.ndarray, upsample: int = 0) -> list[np.ndarray]:
    """68 (x, y) points of every face dlib's frontal detector finds, in the detector's order.

    `image` is an RGB or greyscale uint8 array. Each entry is an int32 array of shape
    (68, 2) in the iBUG 300-W order (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47,
    mouth 48-67). An empty list when no face is found.
    """
    detector, predictor = _models()
    image = np.ascontiguousarray(image)
    faces = []
    for rect in detector(image, upsample):
        shape = predictor(image, rect)
        faces.append(np.array([[point.x, point.y] for point in shape.parts()], dtype=np.int32))
    return faces
