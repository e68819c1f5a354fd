"""Turn face crops into the square, normalised tensors the classifiers take."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def isotropically_resize_image(
    image: np.ndarray,
    size: int,
    interpolation_down: int = cv2.INTER_AREA,
    interpolation_up: int = cv2.INTER_CUBIC,
) -> np.ndarray:
    """Resize so that the longer side is `size`, keeping the aspect ratio.

    The shorter side is truncated, as the original solution's `cv2.resize(img, (int(w), int(h)))` does.
    """
    height, width = image.shape[:2]
    longer = max(height, width)
    if longer == size:
        return image
    scale = size / longer
    if width > height:
        new_width, new_height = size, max(int(height * scale), 1)
    else:
        new_width, new_height = max(int(width * scale), 1), size
    interpolation = interpolation_up if scale > 1 else interpolation_down
    return cv2.resize(image, (new_width, new_height), interpolation=interpolation)


def put_to_center(image: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad (or centre-cut) an image to a `size` x `size` square with the image in the middle."""
    image = image[:size, :size]
    height, width = image.shape[:2]
    square = np.zeros((size, size) + image.shape[2:], dtype=image.dtype)
    top = (size - height) // 2
    left = (size - width) // 2
    square[top : top + height, left : left + width] = image
    return square


def face_to_model_input(face: np.ndarray, size: int) -> np.ndarray:
    return put_to_center(isotropically_resize_image(face, size), size)


def normalize_batch(
    images: np.ndarray | Sequence[np.ndarray],
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> torch.Tensor:
    """uint8 NHWC RGB images -> float NCHW tensor normalised by mean and std (0-1 scale; ImageNet's by
    default), in channels-last memory.

    Channels-last is what a permuted NHWC buffer already is, so no copy is made
    for the layout, and it is the faster layout for the classifiers on CPU.
    """
    batch = torch.from_numpy(
        np.ascontiguousarray(np.stack(images) if not isinstance(images, np.ndarray) else images)
    )
    batch = batch.to(device, non_blocking=True).permute(0, 3, 1, 2).float()
    mean = torch.tensor(mean, device=batch.device).view(1, 3, 1, 1) * 255
    std = torch.tensor(std, device=batch.device).view(1, 3, 1, 1) * 255
    return ((batch - mean) / std).to(dtype).contiguous(memory_format=torch.channels_last)
