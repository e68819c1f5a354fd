"""Read a few evenly spaced frames of a video, or a photo as a video of one frame; write RGB frames as an mp4.

Videos are decoded by PyAV (core.decoding: every codec its FFmpeg has, AV1 by dav1d, seeking where that is
exact), and by OpenCV where PyAV cannot open a file or decodes nothing from it.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from core.decoding import CannotDecode, DecodeReport, Timeline, decode_frames, quiet_ffmpeg, read_timeline

quiet_ffmpeg()  # before OpenCV opens its first video, which is when its FFmpeg reads the log level

# Still photos are scored as one-frame videos; HEIC/HEIF (iPhone photos) through pillow-heif's Pillow plugin.
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif"}
PILLOW_SUFFIXES = {".heic", ".heif"}
# Failed grabs in a row taken for the end of the stream; fewer are damaged frames in its middle, each counted
# as one.
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
    decoding: DecodeReport = field(default_factory=DecodeReport)  # which decoder read it, and its errors

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames."""
        height, width = self.frames[0].shape[:2]
        return width, height


def sample_frame_indices(
    frame_count: int, num_frames: int, jitter: int = 0, seed: int | None = None
) -> list[int]:
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


def check_readable(path: str | Path) -> Path:
    """The path, when it is a non-empty file this process may read; else VideoReadError with the reason."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise VideoReadError(f"dangling symbolic link (to {os.readlink(path)}, which does not exist)")
    if not path.exists():
        raise VideoReadError(f"no such file: {path}")
    if path.is_dir():
        raise VideoReadError("a folder, not a video file")
    if not path.is_file():
        raise VideoReadError("not a regular file (a device, pipe or socket)")
    try:
        with path.open("rb") as file:
            empty = not file.read(1)
    except PermissionError:
        raise VideoReadError("permission denied (this user may not read the file)") from None
    except OSError as error:
        raise VideoReadError(f"cannot read the file ({error.strerror or error})") from None
    if empty:
        raise VideoReadError("empty file (0 bytes)")
    return path


def _opencv_capture(path: Path, reason: str | None = None) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise VideoReadError(reason or "cannot open video (unreadable or unsupported format)")
    return capture


def _opencv_frames(
    path: Path, wanted: set[int] | None, reason: str | None, report: DecodeReport | None = None
) -> Generator[tuple[int, np.ndarray], None, int]:
    """OpenCV's sequential pass, for files PyAV cannot read (see iterate_frames); `reason`: why PyAV could
    not."""
    capture = _opencv_capture(path, reason)
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
            if report is not None:
                report.frames_decoded += 1
            if wanted is None or index in wanted:
                ok, frame = capture.retrieve()
                if ok and frame is not None:
                    yield index, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
            decoded_to = index
    finally:
        capture.release()
    return decoded_to


def _timeline(path: Path) -> Timeline | str:
    """PyAV's view of the video stream, or why PyAV cannot read the file."""
    try:
        return read_timeline(path)
    except CannotDecode as error:
        return str(error)


def iterate_frames(
    path: str | Path,
    wanted: set[int] | None = None,
    report: DecodeReport | None = None,
    timeline: Timeline | str | None = None,
) -> Generator[tuple[int, np.ndarray], None, int]:
    """Yield (index, RGB frame) for the wanted positions (all when None), in order.

    PyAV decodes, seeking where that is exact and saves work (core.decoding); where PyAV cannot open the file
    or decodes no frame of it, OpenCV reads it in one pass, in which frames that are not wanted are only
    grabbed. A frame that fails to decode (a damaged packet) is skipped but still counted, so every later
    frame keeps its real position. The generator returns how many frames the stream held up to the last that
    decoded: all that decode when the stream ends before the last wanted one. `report` is filled with the
    decoder used and its errors.
    """
    path = check_readable(path)
    report = report if report is not None else DecodeReport()
    timeline = _timeline(path) if timeline is None else timeline
    reason = timeline if isinstance(timeline, str) else None
    if reason is None:
        try:
            return (yield from decode_frames(path, wanted, timeline, report))
        except CannotDecode as error:  # raised before any frame is yielded
            reason = str(error)
    report.decoder = "opencv"
    return (yield from _opencv_frames(path, wanted, reason, report))


def _frame_count_and_rate(path: Path, timeline: Timeline | str) -> tuple[int, float]:
    if isinstance(timeline, Timeline):
        return timeline.frame_count, timeline.fps
    capture = _opencv_capture(path, timeline)
    frame_count, fps = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), float(capture.get(cv2.CAP_PROP_FPS))
    capture.release()
    if frame_count <= 0:  # some containers do not store a frame count: count by decoding
        frame_count = sum(1 for _ in _opencv_frames(path, None, timeline))
    return frame_count, fps


def read_sampled_frames(
    path: str | Path, num_frames: int = 32, jitter: int = 0, seed: int | None = None
) -> SampledFrames:
    """Read `num_frames` evenly spaced frames; fewer when the video is short or ends early.

    When far fewer frames decode than the container claims (a truncated file), the
    frames are sampled again over those that do decode, and `note` says so.

    A still photo (IMAGE_SUFFIXES) comes back as a video of one frame.

    Raises VideoReadError when the file cannot be opened or yields no frame.
    """
    if Path(path).suffix.lower() in IMAGE_SUFFIXES:
        return _read_image(path)
    path = check_readable(path)
    timeline = _timeline(path)
    frame_count, fps = _frame_count_and_rate(path, timeline)
    if frame_count == 0:
        raise VideoReadError("video has no decodable frames")
    report = DecodeReport()
    requested = sample_frame_indices(frame_count, num_frames, jitter, seed)
    frames, indices, decodable = _read_frames(path, requested, report, timeline)
    note = None
    if len(frames) < 0.9 * len(requested) and decodable < frame_count:
        # A truncated or damaged file whose container still claims every frame: sample over the frames that
        # decode. (Not for a frame or two missing at the end, a common miscount that is not worth decoding the
        # video again.)
        resampled = sample_frame_indices(decodable, num_frames, jitter, seed)
        if len(resampled) > len(frames):
            note = (
                f"the container claims {frame_count} frames but only {decodable} decode; sampled over those"
            )
            frame_count, requested = decodable, resampled
            report = DecodeReport()
            frames, indices, _ = _read_frames(path, requested, report, timeline)
    if len(frames) < len(requested):
        short = (
            f"decoded {len(frames)} of {len(requested)} requested frames (the stream ends at or after "
            f"frame {indices[-1]})"
        )
        note = f"{note}; {short}" if note else short
    return SampledFrames(
        frames, indices, frame_count, requested, note, fps if 0 < fps < 1000 else 0.0, report
    )


def _read_image(path: str | Path) -> SampledFrames:
    """A photo upright (EXIF orientation applied) in 8-bit RGB, whatever its bit depth, alpha or colour
    model."""
    path = check_readable(path)
    if path.suffix.lower() in PILLOW_SUFFIXES:
        import pillow_heif

        pillow_heif.register_heif_opener()
        try:
            with Image.open(path) as photo:
                image = np.asarray(ImageOps.exif_transpose(photo).convert("RGB"))
        except (OSError, ValueError, SyntaxError) as error:
            raise VideoReadError(f"cannot read image ({error})") from None
        return SampledFrames([image], [0], 1, [0], decoding=DecodeReport("pillow"))
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)  # applies the EXIF orientation
    if image is None:
        raise VideoReadError("cannot read image (unreadable or unsupported format)")
    return SampledFrames(
        [cv2.cvtColor(image, cv2.COLOR_BGR2RGB)], [0], 1, [0], decoding=DecodeReport("opencv")
    )


def _read_frames(
    path: Path, wanted: list[int], report: DecodeReport | None = None, timeline: Timeline | str | None = None
) -> tuple[list[np.ndarray], list[int], int]:
    """The wanted frames that decode, their indices, and how many frames the stream held (see iterate_frames);
    raises VideoReadError when no wanted frame decodes."""
    frames, indices = [], []
    reader = iterate_frames(path, set(wanted), report, timeline)
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
    """The frames at these positions that decode, by position (a still photo is frame 0); raises
    VideoReadError when none does."""
    if Path(path).suffix.lower() in IMAGE_SUFFIXES:
        return {0: _read_image(path).frames[0]}
    frames, positions, _ = _read_frames(Path(path), indices)
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
