"""Read a few evenly spaced frames of a video in one sequential decoding pass; write RGB frames as an mp4."""
from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

# Still photos are scored as one-frame videos.
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
# Failed grabs in a row taken for the end of the stream; fewer are damaged frames in its middle, each counted as one.
UNDECODABLE_IN_A_ROW = 8


class VideoReadError(Exception):
    """The video cannot be opened or yields no frame at all."""


@dataclass
class SampledFrames:
    frames: list[np.ndarray]  # RGB uint8, full resolution
    indices: list[int]  # position of each frame in the video
    frame_count: int  # frames the container claims (or counted, when it claims none or far more than decode)
    requested: list[int] = field(default_factory=list)
    note: str | None = None  # why fewer frames than requested came back
    fps: float = 0.0  # frames per second the container states; 0 when it states none (and for a photo)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames."""
        height, width = self.frames[0].shape[:2]
        return width, height


def sample_frame_indices(frame_count: int, num_frames: int, jitter: int = 0, seed: int | None = None) -> list[int]:
    """Evenly spaced frame positions over the whole video, optionally jittered by up to ±`jitter` frames.

    The positions are truncated, not rounded, as the original solution's `np.linspace(..., dtype=int)` does.
    """
    if frame_count <= 0 or num_frames <= 0:
        return []
    indices = np.linspace(0, frame_count - 1, min(num_frames, frame_count)).astype(np.int64)
    if jitter > 0:
        offsets = np.random.default_rng(seed).integers(-jitter, jitter + 1, len(indices))
        indices = np.clip(indices + offsets, 0, frame_count - 1)
    return sorted(set(indices.tolist()))


def _open(path: str | Path) -> cv2.VideoCapture:
    path = Path(path)
    if not path.is_file():
        raise VideoReadError(f"no such file: {path}")
    if path.stat().st_size == 0:
        raise VideoReadError("empty file (0 bytes)")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise VideoReadError("cannot open video (unreadable or unsupported format)")
    return capture


def _count_by_decoding(path: str | Path) -> int:
    capture = _open(path)
    count = 0
    while capture.grab():
        count += 1
    capture.release()
    return count


def iterate_frames(path: str | Path, wanted: set[int] | None = None) -> Generator[tuple[int, np.ndarray], None, int]:
    """Yield (index, RGB frame) for the wanted positions (all when None), decoding the video once.

    Frames that are not wanted are only grabbed, never converted, which is the cheap way to skip through a
    compressed stream. A frame that fails to decode (a damaged packet) is skipped but still counted, so every later
    frame keeps its real position; the stream ends after UNDECODABLE_IN_A_ROW failures in a row. The generator
    returns how many frames it grabbed up to the last that decoded: all that decode when the stream ends before the
    last wanted one.
    """
    capture = _open(path)
    try:
        last = max(wanted) if wanted else None
        index = decoded_to = failures = 0
        while last is None or index <= last:
            if not capture.grab():
                failures += 1
                if failures >= UNDECODABLE_IN_A_ROW:
                    break
                index += 1
                continue
            failures = 0
            if wanted is None or index in wanted:
                ok, frame = capture.retrieve()
                if ok and frame is not None:
                    yield index, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
            decoded_to = index
    finally:
        capture.release()
    return decoded_to


def read_sampled_frames(path: str | Path, num_frames: int = 32, jitter: int = 0, seed: int | None = None) -> SampledFrames:
    """Read `num_frames` evenly spaced frames; fewer when the video is short or ends early.

    When far fewer frames decode than the container claims (a truncated file), the
    frames are sampled again over those that do decode, and `note` says so.

    A still photo (IMAGE_SUFFIXES) comes back as a video of one frame.

    Raises VideoReadError when the file cannot be opened or yields no frame.
    """
    if Path(path).suffix.lower() in IMAGE_SUFFIXES:
        return _read_image(path)
    capture = _open(path)
    frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    fps = float(capture.get(cv2.CAP_PROP_FPS))
    capture.release()
    if frame_count <= 0:
        # Some containers do not store a frame count: count by decoding, then sample.
        frame_count = _count_by_decoding(path)
        if frame_count == 0:
            raise VideoReadError("video has no decodable frames")
    requested = sample_frame_indices(frame_count, num_frames, jitter, seed)
    frames, indices, decodable = _read_frames(path, requested)
    note = None
    if len(frames) < 0.9 * len(requested) and decodable < frame_count:
        # A truncated or damaged file whose container still claims every frame: sample over the frames that decode.
        # (Not for a frame or two missing at the end, a common miscount that is not worth decoding the video again.)
        resampled = sample_frame_indices(decodable, num_frames, jitter, seed)
        if len(resampled) > len(frames):
            note = f"the container claims {frame_count} frames but only {decodable} decode; sampled over those"
            frame_count, requested = decodable, resampled
            frames, indices, _ = _read_frames(path, requested)
    if len(frames) < len(requested):
        short = f"decoded {len(frames)} of {len(requested)} requested frames (the stream ends at or after frame {indices[-1]})"
        note = f"{note}; {short}" if note else short
    return SampledFrames(frames, indices, frame_count, requested, note, fps if 0 < fps < 1000 else 0.0)


def _read_image(path: str | Path) -> SampledFrames:
    path = Path(path)
    if not path.is_file():
        raise VideoReadError(f"no such file: {path}")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise VideoReadError("cannot read image (unreadable or unsupported format)")
    return SampledFrames([cv2.cvtColor(image, cv2.COLOR_BGR2RGB)], [0], 1, [0])


def _read_frames(path: str | Path, wanted: list[int]) -> tuple[list[np.ndarray], list[int], int]:
    """The wanted frames that decode, their indices, and how many frames were grabbed (see iterate_frames);
    raises VideoReadError when no wanted frame decodes."""
    frames, indices = [], []
    reader = iterate_frames(path, set(wanted))
    while True:
        try:
            index, frame = next(reader)
        except StopIteration as end:
            grabbed = end.value
            break
        frames.append(frame)
        indices.append(index)
    if not frames:
        raise VideoReadError("video has no decodable frames")
    return frames, indices, grabbed


def read_frames_at(path: str | Path, indices: list[int]) -> dict[int, np.ndarray]:
    """The frames at these positions that decode, by position (a still photo is frame 0); raises VideoReadError when
    none does."""
    if Path(path).suffix.lower() in IMAGE_SUFFIXES:
        return {0: _read_image(path).frames[0]}
    frames, positions, _ = _read_frames(path, indices)
    return dict(zip(positions, frames, strict=True))


def write_video(path: str | Path, frames: list[np.ndarray], fps: float = 25.0) -> Path:
    """Write RGB frames with OpenCV's mp4v codec, which every OpenCV build can write and read back."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write an mp4v video to {path}")
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return Path(path)
