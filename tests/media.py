"""Videos of the kinds people bring, made on the fly with PyAV from frames that carry their own position."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

BITS = 6  # positions up to 63 are drawn; larger ones wrap
BLOCK = 16  # side of each bit's square: survives any codec, a 3-3-2 GIF palette and 4:2:0 chroma


def numbered_frames(base: np.ndarray, count: int) -> list[np.ndarray]:
    """`count` copies of an RGB image, each with its position drawn in the top left as black and white
    squares."""
    frames = []
    for index in range(count):
        frame = base.copy()
        for bit in range(BITS):
            frame[:BLOCK, bit * BLOCK : (bit + 1) * BLOCK] = 255 if index >> bit & 1 else 0
        frames.append(frame)
    return frames


def position_of(frame: np.ndarray) -> int:
    """The position numbered_frames drew on a decoded frame."""
    return sum(
        1 << bit
        for bit in range(BITS)
        if frame[2 : BLOCK - 2, bit * BLOCK + 2 : (bit + 1) * BLOCK - 2].mean() > 128
    )


def encode(
    path: Path,
    frames: list[np.ndarray],
    codec: str,
    pix_fmt: str = "yuv420p",
    rate: int = 25,
    gop: int | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """RGB frames encoded with one of PyAV's encoders into the container that `path`'s suffix names."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, options=options or {})
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if gop:
            stream.codec_context.gop_size = gop
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


# codec, pixel format, container suffix, encoder options; x265 and SVT-AV1 told to keep their banners to
# themselves
CODECS = {
    "h264": ("libx264", "yuv420p", ".mp4", {}),
    "h265": ("libx265", "yuv420p", ".mp4", {"x265-params": "log-level=error"}),
    "h265_10bit": ("libx265", "yuv420p10le", ".mkv", {"x265-params": "log-level=error"}),
    "vp9": ("libvpx-vp9", "yuv420p", ".webm", {}),
    "av1": ("libsvtav1", "yuv420p", ".mkv", {"svtav1-params": "log-level=0"}),
    "prores": ("prores_ks", "yuv422p10le", ".mov", {}),
    "mjpeg": ("mjpeg", "yuvj420p", ".avi", {}),
    "mpeg4": ("mpeg4", "yuv420p", ".avi", {}),
    "ffv1_grey": ("ffv1", "gray", ".mkv", {}),
    "gif": ("gif", "rgb8", ".gif", {}),
}


def encode_as(folder: Path, kind: str, frames: list[np.ndarray], gop: int | None = None) -> Path:
    codec, pix_fmt, suffix, options = CODECS[kind]
    return encode(folder / f"{kind}{suffix}", frames, codec, pix_fmt, gop=gop, options=options)
