"""The MTCNN cascade (P-Net proposals, R-Net and O-Net refinement) over a batch of frames.

The three networks and their weights are facenet-pytorch's, and so is the arithmetic: the same pyramid, box
conventions, thresholds and NMS as its `detect_face`, and the same area resampling (each pyramid level
averaged from the full frame, each candidate crop averaged over the integer bins of torch's adaptive average
pooling), so that both find the same faces with the same probabilities (tests/test_mtcnn_parity.py). What
differs is how the pyramid levels and the candidate crops are computed: as means over the same bins, read from
one integral image of each frame, instead of torch resampling the whole frame for each level and each crop on
its own (the per-crop calls made that stage the slowest part of detection on the CPU).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from facenet_pytorch.models.mtcnn import ONet, PNet, RNet
from torchvision.ops import batched_nms

_CELL = 12  # P-Net's receptive field
_STRIDE = 2  # P-Net's output stride


def _normalise(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """NHWC pixel values (uint8 or float) -> float NCHW in [-1, 1), as the MTCNN weights expect."""
    tensor = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float()
    return (tensor - 127.5) * 0.0078125


def _pyramid_scales(height: int, width: int, min_face_size: int, factor: float) -> list[float]:
    scale = 12.0 / min_face_size
    side = min(height, width) * scale
    scales = []
    while side >= 12:
        scales.append(scale)
        scale *= factor
        side *= factor
    return scales


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Grow each box to a square around its centre (the cascade's 'rerec')."""
    boxes = boxes.clone()
    width = boxes[:, 2] - boxes[:, 0]
    height = boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(width, height)
    boxes[:, 0] += width * 0.5 - side * 0.5
    boxes[:, 1] += height * 0.5 - side * 0.5
    boxes[:, 2] = boxes[:, 0] + side
    boxes[:, 3] = boxes[:, 1] + side
    return boxes


def _regress(boxes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    boxes = boxes.clone()
    width = boxes[:, 2] - boxes[:, 0] + 1
    height = boxes[:, 3] - boxes[:, 1] + 1
    boxes[:, 0] += offsets[:, 0] * width
    boxes[:, 1] += offsets[:, 1] * height
    boxes[:, 2] += offsets[:, 2] * width
    boxes[:, 3] += offsets[:, 3] * height
    return boxes


def _bins(starts: np.ndarray, lengths: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) of each of `size` adaptive-average-pooling bins over ranges [start, start +
    length): bin i covers floor(i * length / size) to ceil((i + 1) * length / size), as torch's
    adaptive_avg_pool2d."""
    i = np.arange(size)
    begin = starts[:, None] + (i[None, :] * lengths[:, None]) // size
    end = starts[:, None] - ((-(i[None, :] + 1) * lengths[:, None]) // size)
    return begin, end


def _integrals(frames: np.ndarray) -> np.ndarray:
    """(N, H + 1, W + 1, 3) integral images of uint8 frames: exact sums of any rectangle in four look-ups."""
    depth = cv2.CV_32S if frames.shape[1] * frames.shape[2] * 255 < 2**31 else cv2.CV_64F
    return np.stack([cv2.integral(frame, sdepth=depth) for frame in frames])


def _area_level(integrals: np.ndarray, height: int, width: int) -> np.ndarray:
    """Every frame area-resampled to height x width (NHWC float32), as facenet-pytorch's
    `interpolate(mode="area")`: the bins' row bands first (one gather along the rows), then their column
    spans."""
    frame_height, frame_width = integrals.shape[1] - 1, integrals.shape[2] - 1
    (row_begin,), (row_end,) = _bins(np.zeros(1, dtype=np.int64), np.array([frame_height]), height)
    (col_begin,), (col_end,) = _bins(np.zeros(1, dtype=np.int64), np.array([frame_width]), width)
    bands = np.take(integrals, row_end, axis=1) - np.take(integrals, row_begin, axis=1)
    sums = np.take(bands, col_end, axis=2) - np.take(bands, col_begin, axis=2)
    counts = np.outer(row_end - row_begin, col_end - col_begin).astype(np.float32)[None, :, :, None]
    return sums.astype(np.float32) / counts


def _crops(
    integrals: np.ndarray, boxes: torch.Tensor, image_indices: torch.Tensor, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Crops of the boxes (clipped to the frame, 1-based corners as in the cascade) area-resampled to size x
    size, as float32 NHWC, and which boxes had one; the bins and means of facenet-pytorch's per-crop
    `interpolate(mode="area")`, read from the frames' integral images (a loop over small arrays, which is
    faster than one gather over all crops)."""
    height, width = integrals.shape[1] - 1, integrals.shape[2] - 1
    corners = boxes[:, :4].trunc().int().cpu().numpy()
    x1 = np.maximum(corners[:, 0], 1) - 1
    y1 = np.maximum(corners[:, 1], 1) - 1
    x2 = np.minimum(corners[:, 2], width)
    y2 = np.minimum(corners[:, 3], height)
    valid = (x2 > x1) & (y2 > y1)
    images = image_indices.cpu().numpy()
    positions = np.flatnonzero(valid)
    zeros = np.zeros(len(positions), dtype=np.int64)
    row_begin, row_end = _bins(zeros, (y2 - y1)[valid], size)
    col_begin, col_end = _bins(zeros, (x2 - x1)[valid], size)
    crops = np.empty((len(positions), size, size, 3), dtype=np.float32)
    for n, k in enumerate(positions):
        region = integrals[images[k], y1[k] : y2[k] + 1, x1[k] : x2[k] + 1]
        bands = region[row_end[n]] - region[row_begin[n]]
        sums = bands[:, col_end[n]] - bands[:, col_begin[n]]
        crops[n] = sums / np.outer(row_end[n] - row_begin[n], col_end[n] - col_begin[n])[:, :, None]
    return crops, valid


def _nms_min(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """NMS with overlap measured against the smaller box, so a box inside a better one is dropped."""
    x1, y1, x2, y2 = boxes.T
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores)[::-1]
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        inter_w = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        inter_h = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        overlap = inter_w * inter_h / np.minimum(area[best], area[rest])
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


class MTCNNCascade:
    def __init__(
        self,
        thresholds=(0.6, 0.7, 0.7),
        min_face_size: int = 20,
        factor: float = 0.709,
        device: torch.device | str = "cpu",
    ):
        self.device = torch.device(device)
        self.thresholds = tuple(thresholds)
        self.min_face_size = min_face_size
        self.factor = factor
        self.pnet = PNet().to(self.device).eval()
        self.rnet = RNet().to(self.device).eval()
        self.onet = ONet().to(self.device).eval()

    @torch.inference_mode()
    def __call__(self, frames: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per frame of a uint8 NHWC RGB batch: boxes (k, 5: x1, y1, x2, y2, score) and landmarks (k, 5,
        2)."""
        count = len(frames)
        integrals = _integrals(frames)
        boxes, image_indices = self._propose(integrals)
        if len(boxes):
            boxes, image_indices = self._refine(integrals, boxes, image_indices)
        points = torch.zeros(0, 5, 2)
        if len(boxes):
            boxes, image_indices, points = self._output(integrals, boxes, image_indices)
        boxes_np, points_np, indices_np = (
            boxes.cpu().numpy(),
            points.cpu().numpy(),
            image_indices.cpu().numpy(),
        )
        return [boxes_np[indices_np == i] for i in range(count)], [
            points_np[indices_np == i] for i in range(count)
        ]

    def _propose(self, integrals: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        height, width = integrals.shape[1] - 1, integrals.shape[2] - 1
        candidates, candidate_images = [], []
        for scale in _pyramid_scales(height, width, self.min_face_size, self.factor):
            level = _area_level(integrals, int(height * scale + 1), int(width * scale + 1))
            offsets, probabilities = self.pnet(_normalise(level, self.device))
            face_probability = probabilities[:, 1]
            mask = face_probability >= self.thresholds[0]
            where = mask.nonzero()
            if not len(where):
                continue
            cell = where[:, 1:].flip(1).float()  # (x, y) of each cell
            corner1 = ((_STRIDE * cell + 1) / scale).floor()
            corner2 = ((_STRIDE * cell + _CELL) / scale).floor()
            regression = offsets.permute(0, 2, 3, 1)[mask]
            found = torch.cat([corner1, corner2, face_probability[mask].unsqueeze(1), regression], dim=1)
            keep = batched_nms(found[:, :4], found[:, 4], where[:, 0], 0.5)
            candidates.append(found[keep])
            candidate_images.append(where[keep, 0])
        if not candidates:
            return torch.zeros(0, 5, device=self.device), torch.zeros(0, dtype=torch.long, device=self.device)
        boxes, image_indices = torch.cat(candidates), torch.cat(candidate_images)
        keep = batched_nms(boxes[:, :4], boxes[:, 4], image_indices, 0.7)
        boxes, image_indices = boxes[keep], image_indices[keep]
        width_ = boxes[:, 2] - boxes[:, 0]
        height_ = boxes[:, 3] - boxes[:, 1]
        regressed = torch.stack(
            [
                boxes[:, 0] + boxes[:, 5] * width_,
                boxes[:, 1] + boxes[:, 6] * height_,
                boxes[:, 2] + boxes[:, 7] * width_,
                boxes[:, 3] + boxes[:, 8] * height_,
                boxes[:, 4],
            ],
            dim=1,
        )
        return _square(regressed), image_indices

    def _refine(
        self, integrals: np.ndarray, boxes: torch.Tensor, image_indices: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        crops, valid = _crops(integrals, boxes, image_indices, 24)
        valid = torch.from_numpy(valid).to(boxes.device)
        boxes, image_indices = boxes[valid], image_indices[valid]
        if not len(crops):
            return boxes, image_indices
        offsets, probabilities = self.rnet(_normalise(crops, self.device))
        passed = probabilities[:, 1] > self.thresholds[1]
        boxes = torch.cat([boxes[passed, :4], probabilities[passed, 1:2]], dim=1)
        image_indices, offsets = image_indices[passed], offsets[passed]
        keep = batched_nms(boxes[:, :4], boxes[:, 4], image_indices, 0.7)
        return _square(_regress(boxes[keep], offsets[keep])), image_indices[keep]

    def _output(self, integrals: np.ndarray, boxes: torch.Tensor, image_indices: torch.Tensor):
        crops, valid = _crops(integrals, boxes, image_indices, 48)
        valid = torch.from_numpy(valid).to(boxes.device)
        boxes, image_indices = boxes[valid], image_indices[valid]
        if not len(crops):
            return boxes, image_indices, torch.zeros(0, 5, 2, device=boxes.device)
        offsets, landmarks, probabilities = self.onet(_normalise(crops, self.device))
        passed = probabilities[:, 1] > self.thresholds[2]
        boxes = torch.cat([boxes[passed, :4], probabilities[passed, 1:2]], dim=1)
        image_indices, offsets, landmarks = image_indices[passed], offsets[passed], landmarks[passed]
        box_width = (boxes[:, 2] - boxes[:, 0] + 1).unsqueeze(1)
        box_height = (boxes[:, 3] - boxes[:, 1] + 1).unsqueeze(1)
        points = torch.stack(
            [
                box_width * landmarks[:, :5] + boxes[:, :1] - 1,
                box_height * landmarks[:, 5:] + boxes[:, 1:2] - 1,
            ],
            dim=2,
        )
        boxes = _regress(boxes, offsets)
        if not len(boxes):
            return boxes, image_indices, points
        # Overlap against the smaller box, per image: image offsets keep frames apart.
        shifted = boxes[:, :4].cpu().numpy() + image_indices.cpu().numpy()[:, None] * (
            float(boxes[:, :4].max()) + 1
        )
        keep = torch.from_numpy(_nms_min(shifted, boxes[:, 4].cpu().numpy(), 0.7)).to(boxes.device)
        return boxes[keep], image_indices[keep], points[keep]
