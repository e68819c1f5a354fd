"""Decode video frames with PyAV (FFmpeg's libraries, with dav1d for AV1, inside its wheel): in one sequential
pass, or by seeking to the keyframe before each wanted frame where the container's timestamps make that exact
and it saves work.

A frame's position is its rank in presentation order, known from the packets' timestamps (read without
decoding), so a frame reached by seeking has the position sequential decoding gives it. FFmpeg's messages are
captured per video and counted, not printed; DFDC_DECODER_LOG=1 prints them raw, for debugging.
"""

from __future__ import annotations

import bisect
import logging
import os
import sys
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

DEBUG_ENV = "DFDC_DECODER_LOG"
# Seek only when that decodes at most this share of the frames a sequential pass decodes: a seek restarts the
# decoder, whose frame threads then refill, so saving a few frames is not worth it.
SEEK_WORTH = 0.5


def decoder_log_shown() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def quiet_ffmpeg() -> None:
    """Keep FFmpeg's own messages off the terminal (a corrupt stream prints hundreds, in the middle of a
    progress bar).

    OpenCV's bundled FFmpeg reads OPENCV_FFMPEG_LOGLEVEL when it opens its first video (-8: quiet; setting it
    after that has no effect). PyAV's messages at error level are handed to Python, captured per video by
    DecoderMessages; any outside a capture go to the "libav" logger, silenced here.
    """
    if not decoder_log_shown():
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    av.logging.set_level(av.logging.ERROR)
    av.logging.set_skip_repeated(False)  # every error counts
    libav = logging.getLogger("libav")
    libav.propagate = False
    if not libav.handlers:
        libav.addHandler(logging.NullHandler())


@dataclass
class DecodeReport:
    """How one video was read: by which decoder, and how many errors its decoder reported."""

    decoder: str = ""  # "pyav", "pyav-seek" or "opencv"
    # FFmpeg's error messages while PyAV decoded (OpenCV's are not counted: its FFmpeg cannot be asked)
    errors: int = 0
    first_error: str | None = None
    frames_decoded: int = 0  # frames the decoder produced, wanted or not (OpenCV: frames grabbed)


class DecoderMessages:
    """FFmpeg's messages while PyAV works on one video, added to its DecodeReport.

    The capture is process-wide: videos decoded at the same time in threads of one process share their counts.
    """

    def __init__(self, report: DecodeReport, name: str):
        self.report, self.name = report, name

    def __enter__(self) -> DecoderMessages:
        self._capture = av.logging.Capture(local=False)
        self._logs = self._capture.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._capture.__exit__(*exc)
        errors = [message.strip() for level, _, message in self._logs if level <= av.logging.ERROR]
        self.report.errors += len(errors)
        if errors and self.report.first_error is None:
            self.report.first_error = errors[0]
        if decoder_log_shown():
            for _, source, message in self._logs:
                print(f"[ffmpeg {source}] {self.name}: {message.rstrip()}", file=sys.stderr)


class CannotDecode(Exception):
    """PyAV cannot open the file, finds no video stream in it, or decodes no frame."""


@dataclass
class Timeline:
    """The video stream's packets, read without decoding."""

    frame_count: int  # what the container claims, else the packets counted
    fps: float
    pts: list[int]  # presentation time of every frame, in presentation order: frame i shows at pts[i]
    keyframes: list[int]  # positions (presentation order) of the keyframes
    seek_to: dict[int, int]  # a keyframe's position -> the timestamp that seeks to it (its presentation time)
    # every packet has its own presentation time, none is to be discarded, and no packet is missing
    exact: bool

    def position(self) -> dict[int, int]:
        return {pts: index for index, pts in enumerate(self.pts)}


def _open(path: Path) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as error:  # FFmpeg's reason, and what its demuxer said last: "moov atom not found"
        said = f": {error.log[2].strip()}" if error.log else ""
        raise CannotDecode(f"cannot open video ({error.strerror}{said})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise CannotDecode(f"cannot open video ({error})") from None
    if not container.streams.video:
        kinds = sorted({stream.type for stream in container.streams})
        container.close()
        raise CannotDecode(
            f"no video stream in the file ({', '.join(kinds) + ' only' if kinds else 'no streams at all'})"
        )
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame threads as well as slices: 2-3x faster on long-GOP video
    return container, stream


def read_timeline(path: Path) -> Timeline:
    """Demux the video stream once, without decoding, for its frame count and timestamps; raises
    CannotDecode."""
    container, stream = _open(path)
    try:
        stated = stream.frames
        rate = stream.average_rate or stream.guessed_rate
        packets: list[tuple[int | None, bool]] = []
        discarded = False
        try:
            for packet in container.demux(stream):
                if packet.size == 0:  # the end-of-stream marker
                    continue
                discarded |= packet.is_discard
                packets.append((packet.pts, packet.is_keyframe))
        except av.FFmpegError:
            pass  # a truncated or damaged file: the packets read so far
    finally:
        container.close()
    times = [pts for pts, _ in packets]
    exact = bool(packets) and None not in times and len(set(times)) == len(times) and not discarded
    exact &= stated in (0, len(packets))
    pts = sorted(times) if exact else []
    position = {time: index for index, time in enumerate(pts)}
    keyframes, seek_to = [], {}
    if exact:
        for time, key in packets:
            if key:
                keyframes.append(position[time])
                seek_to[position[time]] = time
        keyframes.sort()
    return Timeline(stated or len(packets), float(rate) if rate else 0.0, pts, keyframes, seek_to, exact)


def seek_plan(timeline: Timeline, wanted: list[int]) -> list[tuple[int, int | None]]:
    """(wanted position, keyframe position to seek to first, or None to decode on), in order, for the sorted
    `wanted`."""
    plan, decoded_to = [], -1
    for target in wanted:
        keyframe = (
            timeline.keyframes[bisect.bisect_right(timeline.keyframes, target) - 1]
            if timeline.keyframes
            else 0
        )
        # decoding on from the last target costs no more when it is at most one frame before the keyframe
        seek = keyframe if decoded_to < 0 or decoded_to < keyframe - 1 else None
        plan.append((target, seek))
        decoded_to = target
    return plan


def planned_decodes(plan: list[tuple[int, int | None]]) -> int:
    """Frames a seek plan decodes (about: from each keyframe sought on to each target)."""
    count, decoded_to = 0, -1
    for target, keyframe in plan:
        count += target - (keyframe - 1 if keyframe is not None else decoded_to)
        decoded_to = target
    return count


def worth_seeking(timeline: Timeline, wanted: list[int]) -> bool:
    if not timeline.exact or not wanted or len(timeline.keyframes) < 2 or timeline.keyframes[0] != 0:
        return False
    return planned_decodes(seek_plan(timeline, wanted)) <= SEEK_WORTH * (wanted[-1] + 1)


def _close(container, stream) -> None:
    """Close after letting the decoder's frame threads finish, with the GIL released: a thread that reports an
    error takes the GIL (PyAV's log callback), and the container frees its decoder while holding it."""
    stream.codec_context.flush_buffers()
    container.close()


def _rgb(frame: av.VideoFrame, reformatter: VideoReformatter) -> np.ndarray:
    """The frame as RGB uint8, turned upright as the stream's display matrix says (phones store portrait video
    sideways).

    One reformatter per video keeps FFmpeg's conversion context from frame to frame; a new one per frame (what
    frame.to_ndarray does) cost 2-3 times as much per 720p frame."""
    image = reformatter.reformat(frame, format="rgb24").to_ndarray()
    # counterclockwise, as FFmpeg's display matrix angle
    quarter_turns = round(getattr(frame, "rotation", 0) / 90) % 4
    return np.ascontiguousarray(np.rot90(image, quarter_turns)) if quarter_turns else image


def _decoded(
    container, stream, report: DecodeReport, errors: Callable[[], None] = lambda: None
) -> Iterator[av.VideoFrame]:
    """Every frame from the container's current position on, counted in `report`; a packet that fails to
    decode calls `errors` and is skipped."""
    for packet in container.demux(stream):
        try:
            for frame in packet.decode():
                report.frames_decoded += 1
                yield frame
        except av.error.EOFError:
            return
        except av.FFmpegError:
            errors()


class NotExact(Exception):
    """A seek did not land where the timestamps said: read sequentially instead."""


def decode_frames(
    path: Path, wanted: set[int] | None, timeline: Timeline, report: DecodeReport
) -> Generator[tuple[int, np.ndarray], None, int]:
    """Yield (position, RGB frame) of the wanted frames (all when None) that decode, in order; return how many
    frames the stream held up to the last that decoded. Seeks where worth_seeking says so and falls back to a
    sequential pass when a seek lands anywhere unexpected; raises CannotDecode when no frame at all
    decodes."""
    report.decoder = "pyav"
    ordered = sorted(wanted) if wanted is not None else None
    with DecoderMessages(report, path.name):
        if ordered and worth_seeking(timeline, ordered):
            try:
                frames = list(_seeking(path, timeline, ordered, report))
            except NotExact:
                frames = []
            if frames:  # else a pass from the start finds what there is
                report.decoder = "pyav-seek"
                yield from frames
                return frames[-1][0] + 1
        decoded_to = yield from _sequential(path, wanted, timeline, report)
    return decoded_to


def _sequential(
    path: Path, wanted: set[int] | None, timeline: Timeline, report: DecodeReport
) -> Generator[tuple[int, np.ndarray], None, int]:
    """One pass from the start. Positions come from the timestamps where they are exact, else from counting: a
    packet that fails to decode counts as one frame, so the frames after it keep their positions."""
    position = timeline.position() if timeline.exact else None
    last = max(wanted) if wanted else None
    container, stream = _open(path)
    reformatter = VideoReformatter()
    counted = 0
    decoded_any = False

    def failed() -> None:
        nonlocal counted
        counted += 1

    try:
        for frame in _decoded(container, stream, report, failed):
            index = position.get(frame.pts, counted) if position is not None else counted
            decoded_any = True
            if last is not None and index > last:
                break
            counted = index + 1
            if wanted is None or index in wanted:
                yield index, _rgb(frame, reformatter)
            if index == last:
                break
    finally:
        _close(container, stream)
    if not decoded_any:
        raise CannotDecode("video has no decodable frames")
    return counted


def _seeking(
    path: Path, timeline: Timeline, wanted: list[int], report: DecodeReport
) -> Iterator[tuple[int, np.ndarray]]:
    """The wanted frames, each decoded from the keyframe before it (or on from the previous one); raises
    NotExact when a frame's timestamp is not the one expected there, or when the decoder reports any error (a
    reference missing: the keyframe was no clean start), so that the video is read sequentially instead."""
    position = timeline.position()
    container, stream = _open(path)
    reformatter = VideoReformatter()
    try:
        with av.logging.Capture(local=False) as messages:
            # The first frame is decoded before any seek: FFmpeg's H.264 decoder, seeking before it has
            # decoded anything, gave garbled frames on FF++'s High 4:4:4 videos (and said only "gray chroma").
            frames = _decoded(container, stream, report)
            next(frames, None)
            for target, keyframe in seek_plan(timeline, wanted):
                if keyframe is not None:
                    container.seek(timeline.seek_to[keyframe], stream=stream, backward=True, any_frame=False)
                    frames = _decoded(container, stream, report)
                for frame in frames:
                    index = position.get(frame.pts)
                    if index is None or index > target or (keyframe is not None and index > keyframe):
                        raise NotExact(f"frame at {frame.pts} where frame {target} was expected")
                    keyframe = None  # only the first frame after a seek may not be later than the keyframe
                    if index == target:
                        if any(level <= av.logging.ERROR for level, _, _ in messages):
                            raise NotExact(f"the decoder reported errors: {messages[0][2].strip()}")
                        yield index, _rgb(frame, reformatter)
                        break
                else:
                    return  # the stream ends before the target: as sequential decoding, which also ends there
    finally:
        _close(container, stream)
