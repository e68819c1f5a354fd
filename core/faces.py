"""Find faces with MTCNN and cut them out of full-resolution frames.

Coordinates everywhere are full-resolution pixels of the frame: a box is
(x1, y1, x2, y2) with x to the right and y down, as MTCNN returns it, and
landmarks are five (x, y) points: left eye, right eye, nose, left and right
mouth corner (left/right as seen in the image).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    import torch

CROP_MARGIN = 1 / 3  # of the box size, added on every side
INFERENCE_THRESHOLDS = (0.7, 0.8, 0.8)
# Pixels of resized frames that go through the cascade at once. Its memory grows with them (P-Net's feature
# maps over every pyramid level of every frame), and fewer frames at once were no slower
# (benchmarks/README.md, "Figures behind the code's choices"). 2 Mpx is 3 frames of 960x540, 8 frames of a
# 1080p video detected at 0.33x.
DETECTION_PIXELS = 2_000_000
NARROW_RANGE = 128  # levels: a faceless frame spanning fewer is searched again with its contrast stretched
MIN_STRETCHED_RANGE = 8  # levels: a frame spanning fewer is flat (black, a title card); nothing to find there


@dataclass
class Face:
    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray  # shape (5, 2)
    # found only once the frame's levels were stretched (a dark or flat frame)
    contrast_stretched: bool = False

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.box
        return max(x2 - x1, 0.0) * max(y2 - y1, 0.0)

    def to_json(self) -> dict:
        return {
            "box": [round(float(v), 1) for v in self.box],
            "score": round(float(self.score), 4),
            "landmarks": np.round(self.landmarks.astype(np.float64), 1).tolist(),
            "contrast_stretched": self.contrast_stretched,
        }


def stretch_contrast(frame: np.ndarray) -> np.ndarray | None:
    """The frame with its levels stretched to 0-255, or None when its range is already wide (or it is flat).

    The range is taken between the 0.5th and 99.5th percentiles of all channels
    together, so colours keep their balance. MTCNN misses most faces in frames
    whose levels span only a few dozen values (dark scenes); on the stretched frame
    it finds them again. Only the detector sees the stretched frame.
    """
    counts = np.bincount(frame.reshape(-1), minlength=256)
    cumulative = np.cumsum(counts) / frame.size
    low, high = int(np.searchsorted(cumulative, 0.005)), int(np.searchsorted(cumulative, 0.995))
    if not MIN_STRETCHED_RANGE <= high - low < NARROW_RANGE:
        return None
    table = np.clip((np.arange(256) - low) * (255.0 / (high - low)), 0, 255).astype(np.uint8)
    return cv2.LUT(frame, table)


def detection_scale(width: int, height: int) -> float:
    """How much to resize a frame before detection, chosen from its wider side.

    Small videos are upscaled so that small faces reach MTCNN's minimum face
    size; large ones are downscaled because faces there are large and the
    detector's cost grows with the pixel count.
    """
    side = max(width, height)
    if side < 300:
        return 2.0
    if side <= 1000:
        return 1.0
    if side <= 1900:
        return 0.5
    return 0.33


def resize_for_detection(frame: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return frame
    height, width = frame.shape[:2]
    size = (max(int(round(width * scale)), 1), max(int(round(height * scale)), 1))
    if scale >= 1:
        return cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
    # OpenCV averages areas several times faster for an exact halving than for other factors, so a
    # 1080p frame goes to 0.33x through 960x540 (within 0.4 grey levels on average of the direct resize).
    while height % 2 == 0 and width % 2 == 0 and width // 2 >= size[0] and height // 2 >= size[1]:
        height, width = height // 2, width // 2
        frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    return frame if (width, height) == size else cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def resize_as_original(frame: np.ndarray, scale: float) -> np.ndarray:
    """The frame resized as the original solution's code resized it for detection: PIL's default (bicubic,
    antialiased) filter to int(side * scale). Its faces' boxes then match the original's to the pixel;
    OpenCV's area averaging (resize_for_detection) is faster and moves boxes by a few pixels."""
    from PIL import Image

    image = Image.fromarray(frame)
    return np.asarray(
        image.resize((int(image.width * scale), int(image.height * scale)), Image.Resampling.BICUBIC)
    )


def margin_box(
    box: Sequence[float], frame_width: int, frame_height: int, margin: float = CROP_MARGIN
) -> tuple[int, int, int, int]:
    """The box grown by `margin` of its width/height on every side, in whole pixels, clipped to the frame.

    Corners are truncated to whole pixels, as the original solution's `int(b * 2)` did.
    """
    x1, y1, x2, y2 = (int(v) for v in box)
    pad_x = int((x2 - x1) * margin)
    pad_y = int((y2 - y1) * margin)
    return (
        max(x1 - pad_x, 0),
        max(y1 - pad_y, 0),
        min(x2 + pad_x, frame_width),
        min(y2 + pad_y, frame_height),
    )


def crop_face(frame: np.ndarray, box: Sequence[float], margin: float = CROP_MARGIN) -> np.ndarray | None:
    """The face with its margin, or None when the clipped box is empty."""
    height, width = frame.shape[:2]
    x1, y1, x2, y2 = margin_box(box, width, height, margin)
    if x2 <= x1 or y2 <= y1:
        return None
    return frame[y1:y2, x1:x2]


class FaceDetector:
    """Batched MTCNN on frames of one size, returning faces in full-resolution coordinates."""

    def __init__(
        self,
        device: torch.device | str = "cpu",
        thresholds: Sequence[float] = INFERENCE_THRESHOLDS,
        min_face_size: int = 20,
        batch_size: int = 32,
        scale: float | None = None,
        contrast_retry: bool = True,
    ):
        """`scale`: resize factor for detection, applied with the original's resampling (resize_as_original;
        the original repository's code used 0.5 for every video), or None for detection_scale's rule by
        resolution. `contrast_retry`: search faceless dark frames again with their contrast stretched."""
        # Imported here: the cascade pulls in torch and torchvision (seconds), which the crop helpers above do
        # not need.
        from core.mtcnn import MTCNNCascade

        self.cascade = MTCNNCascade(thresholds, min_face_size, device=device)
        self.batch_size = batch_size
        self.scale = scale
        self.contrast_retry = contrast_retry

    def settings(self) -> dict:
        """What the faces found depend on, for keys that decide whether earlier results still hold."""
        return {
            "thresholds": list(self.cascade.thresholds),
            "min_face_size": self.cascade.min_face_size,
            "factor": self.cascade.factor,
            "scale": self.scale or "by resolution",
            "contrast_retry": self.contrast_retry,
        }

    def detect(self, frames: Sequence[np.ndarray], scale: float | None = None) -> list[list[Face]]:
        """Faces of each full-resolution RGB frame, largest first. All frames must share one size."""
        if not len(frames):
            return []
        height, width = frames[0].shape[:2]
        # a fixed scale is the original's way: its resampling too
        if scale is None and self.scale is not None:
            return self.detect_resized(
                [resize_as_original(frame, self.scale) for frame in frames], self.scale
            )
        scale = scale or detection_scale(width, height)
        return self.detect_resized([resize_for_detection(frame, scale) for frame in frames], scale)

    def detect_resized(self, frames: Sequence[np.ndarray], scale: float) -> list[list[Face]]:
        """Faces of frames already resized by `scale` (see resize_for_detection), in full-resolution
        coordinates.

        A frame with no face whose levels span a narrow range (a dark scene) is
        searched once more with its contrast stretched; such faces are marked.
        """
        results = self._run(frames, scale)
        if not self.contrast_retry:
            return results
        faceless = [index for index, faces in enumerate(results) if not faces]
        stretched = {
            index: frame for index in faceless if (frame := stretch_contrast(frames[index])) is not None
        }
        if stretched:
            for index, faces in zip(
                stretched, self._run(list(stretched.values()), scale, contrast_stretched=True), strict=True
            ):
                results[index] = faces
        return results

    def _run(
        self, frames: Sequence[np.ndarray], scale: float, contrast_stretched: bool = False
    ) -> list[list[Face]]:
        results: list[list[Face]] = []
        height, width = frames[0].shape[:2] if len(frames) else (1, 1)
        chunk = max(1, min(self.batch_size, DETECTION_PIXELS // (height * width)))
        for start in range(0, len(frames), chunk):
            boxes, points = self.cascade(np.stack(frames[start : start + chunk]))
            for frame_boxes, frame_points in zip(boxes, points, strict=True):
                faces = [
                    Face(
                        tuple(float(v) / scale for v in box[:4]),
                        float(box[4]),
                        np.asarray(landmarks, dtype=np.float32) / scale,
                        contrast_stretched,
                    )
                    for box, landmarks in zip(frame_boxes, frame_points, strict=True)
                ]
                # largest first, as facenet-pytorch's MTCNN.detect orders them
                faces.sort(key=lambda face: -face.area)
                results.append(faces)
        return results
