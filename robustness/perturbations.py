"""The seven perturbations of DeeperForensics-1.0, at its five levels each (1 = mild .. 5 = severe).

Each frame perturbation takes an RGB uint8 frame, the level's parameter and a random generator (for those that
draw), and returns a new frame; video compression re-encodes a whole video file with H.264 (libx264, through
PyAV's bundled FFmpeg) at a constant rate factor.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

# type -> the parameter of levels 1-5, as DeeperForensics-1.0's perturbation code sets them
LEVELS: dict[str, tuple[float, ...]] = {
    "color_saturation": (0.4, 0.3, 0.2, 0.1, 0.0),  # saturation channel scaled by
    "color_contrast": (0.85, 0.725, 0.6, 0.475, 0.35),  # spread around the mean scaled by
    "block_wise": (16, 32, 48, 64, 80),  # grey 8x8 blocks per 256 px of the shorter side
    "gaussian_noise": (0.001, 0.002, 0.005, 0.01, 0.05),  # variance on [0, 1] pixel values
    "gaussian_blur": (7, 9, 13, 17, 21),  # kernel size; sigma = kernel / 6
    "pixelation": (2, 3, 4, 5, 6),  # down-scaling factor, then back up (DeeperForensics' "JPEG")
    "video_compression": (30, 32, 35, 38, 40),  # H.264 constant rate factor
}
BLOCK = 8
BLOCK_GREY = 128


def color_saturation(frame: np.ndarray, factor: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """HSV saturation times `factor` (0 gives a grey image)."""
    hsv = cv2.cvtColor(frame.astype(np.float32) / 255, cv2.COLOR_RGB2HSV)
    hsv[..., 1] *= factor
    return np.clip(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255 + 0.5, 0, 255).astype(np.uint8)


def color_contrast(frame: np.ndarray, factor: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Every pixel's distance from the frame's mean level times `factor`."""
    pixels = frame.astype(np.float32)
    mean = pixels.mean()
    return np.clip(mean + (pixels - mean) * factor + 0.5, 0, 255).astype(np.uint8)


def block_wise(frame: np.ndarray, count: float, rng: np.random.Generator) -> np.ndarray:
    """`count` grey 8x8 blocks per 256 px of the shorter side (at least `count`), at random places."""
    height, width = frame.shape[:2]
    blocks = int(count) * max(min(height, width) // 256, 1)
    out = frame.copy()
    for top, left in zip(
        rng.integers(0, height - BLOCK + 1, blocks), rng.integers(0, width - BLOCK + 1, blocks), strict=True
    ):
        out[top : top + BLOCK, left : left + BLOCK] = BLOCK_GREY
    return out


def gaussian_noise(frame: np.ndarray, variance: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of `variance` added to the [0, 1] pixel values, clipped."""
    noisy = frame.astype(np.float64) / 255 + rng.normal(0.0, variance**0.5, frame.shape)
    return (np.clip(noisy, 0, 1) * 255 + 0.5).astype(np.uint8)


def gaussian_blur(frame: np.ndarray, kernel: float, rng: np.random.Generator | None = None) -> np.ndarray:
    kernel = int(kernel)
    return cv2.GaussianBlur(frame, (kernel, kernel), kernel / 6)


def pixelation(frame: np.ndarray, factor: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Shrunk by `factor` (area averaging), then enlarged back with nearest neighbours: blocks of `factor`
    pixels."""
    height, width = frame.shape[:2]
    small = cv2.resize(
        frame, (max(int(width / factor), 1), max(int(height / factor), 1)), interpolation=cv2.INTER_AREA
    )
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)


FRAME_PERTURBATIONS: dict[str, Callable[[np.ndarray, float, np.random.Generator], np.ndarray]] = {
    "color_saturation": color_saturation,
    "color_contrast": color_contrast,
    "block_wise": block_wise,
    "gaussian_noise": gaussian_noise,
    "gaussian_blur": gaussian_blur,
    "pixelation": pixelation,
}
PERTURBATIONS = tuple(LEVELS)


def compress_video(source: str | Path, target: str | Path, crf: float) -> Path:
    """Re-encode every frame of `source` with H.264 at constant rate factor `crf` (odd sizes are cut to even
    ones, as 4:2:0 chroma needs) at the source's frame rate."""
    import av

    target = Path(target)
    with av.open(str(source)) as reader, av.open(str(target), "w") as writer:
        video = reader.streams.video[0]
        rate = video.average_rate or 25
        stream = None
        for frame in reader.decode(video):
            image = frame.to_ndarray(format="rgb24")
            image = image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2]
            if stream is None:
                stream = writer.add_stream("libx264", rate=rate)
                stream.width, stream.height = image.shape[1], image.shape[0]
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(int(crf))}  # libx264's default preset, as ffmpeg -crf N
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                writer.mux(packet)
        if stream is None:
            raise ValueError(f"{source} has no decodable frame")
        for packet in stream.encode():
            writer.mux(packet)
    return target
