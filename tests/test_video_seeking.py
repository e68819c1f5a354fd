"""Seeking to the keyframe before each sampled frame: exactly the frames sequential decoding gives, far fewer
decoded."""

import dataclasses
import re

import cv2
import numpy as np
import pytest

from core.decoding import DecodeReport, read_timeline, seek_plan, worth_seeking
from core.video import iterate_frames, read_sampled_frames, sample_frame_indices
from tests.commands import run_main
from tests.conftest import REAL_VIDEOS, shared_video
from tests.media import encode_as, numbered_frames


def opencv_frames(path, last):
    """Frames 0..last as OpenCV decodes them, one after another: the reference."""
    capture = cv2.VideoCapture(str(path))
    frames = [cv2.cvtColor(capture.read()[1], cv2.COLOR_BGR2RGB) for _ in range(last + 1)]
    capture.release()
    return frames


def pyav_sequential(path):
    return dict(iterate_frames(path))  # every frame wanted: one pass, no seeking


@pytest.fixture(scope="module")
def long_clips(tmp_path_factory):
    """Two minutes at 25 fps, 128x72, a keyframe every 2 s (as web video): H.264 with B-frames in MP4, H.265
    with open GOPs (leading frames decoded from the previous keyframe) in Matroska, AV1 in Matroska."""
    folder = tmp_path_factory.mktemp("long")
    noise = np.random.default_rng(0).integers(0, 256, (72, 128, 3), dtype=np.uint8)
    frames = [np.roll(frame, index, axis=1) for index, frame in enumerate(numbered_frames(noise, 3000))]
    return {kind: encode_as(folder, kind, frames, gop=50) for kind in ("h264", "h265", "av1")}


@pytest.mark.parametrize("kind", ["h264", "h265", "av1"])
def test_a_long_video_is_read_by_seeking_with_the_frames_of_a_sequential_pass(long_clips, kind):
    path = long_clips[kind]
    sampled = read_sampled_frames(path, 32)
    assert sampled.frame_count == 3000 and sampled.indices == sample_frame_indices(3000, 32)
    assert sampled.decoding.decoder == "pyav-seek" and sampled.decoding.errors == 0
    # each from its keyframe: about 32 x 25, not every frame up to the last
    assert sampled.decoding.frames_decoded < 3000 / 2.5
    # OpenCV has no AV1 decoder
    reference = opencv_frames(path, 2999) if kind != "av1" else pyav_sequential(path)
    for index, frame in zip(sampled.indices, sampled.frames, strict=True):
        assert np.array_equal(frame, reference[index]), f"frame {index}"


def test_a_seek_that_lands_elsewhere_falls_back_to_sequential_reading(long_clips):
    """Where the timestamps send a seek to the wrong keyframe (here, on purpose, always the last), the frames
    it finds are not the ones asked for: the video is read again from the start, with the same result."""
    path = long_clips["h264"]
    timeline = read_timeline(path)
    wrong = dataclasses.replace(
        timeline, seek_to=dict.fromkeys(timeline.seek_to, timeline.seek_to[timeline.keyframes[-1]])
    )
    wanted = sample_frame_indices(3000, 8)
    assert worth_seeking(wrong, wanted)
    report = DecodeReport()
    frames = dict(iterate_frames(path, set(wanted), report, wrong))
    assert report.decoder == "pyav" and sorted(frames) == wanted
    reference = opencv_frames(path, wanted[-1])
    assert all(np.array_equal(frame, reference[index]) for index, frame in frames.items())


def test_seeking_is_left_alone_where_it_saves_little():
    # 751 frames, keyframes every 250
    timeline = read_timeline(shared_video(REAL_VIDEOS["ffpp_original_519"]))
    assert timeline.exact and timeline.keyframes == [0, 250, 500, 750]
    # every 24th frame: all but one GOP decoded anyway
    assert not worth_seeking(timeline, sample_frame_indices(751, 32))
    assert worth_seeking(timeline, [3, 253, 503, 753 - 3])
    assert seek_plan(timeline, [3, 100, 253, 740]) == [(3, 0), (100, None), (253, 250), (740, 500)]


@pytest.mark.parametrize(
    "video", ["ffpp_original_519", "dfdc_real_1920x1080", "dfdc_portrait_1080x1920", "ffpp_face2face_750_743"]
)
def test_seeking_in_real_videos_gives_the_frames_of_a_sequential_pass(video):
    path = shared_video(REAL_VIDEOS[video])
    timeline = read_timeline(path)
    wanted = sorted(
        {
            min(keyframe + offset, timeline.frame_count - 1)
            for keyframe in timeline.keyframes[1:]
            for offset in (2, 9)
        }
    )
    report = DecodeReport()
    frames = dict(iterate_frames(path, set(wanted), report))
    assert report.decoder == "pyav-seek" and sorted(frames) == wanted
    reference = opencv_frames(path, wanted[-1])
    assert all(np.array_equal(frame, reference[index]) for index, frame in frames.items())


def test_the_decoding_benchmark_times_a_short_and_a_long_video(tmp_path):
    done = run_main(
        "benchmarks.benchmark_decoding",
        "--out",
        tmp_path,
        "--size",
        "128x72",
        "--seconds",
        10,
        120,
        "--frames",
        8,
        "--rounds",
        1,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(
        r"^ +120 s 128x72, 3000 frames: 8 sampled in \d+\.\d+ s .*pyav-seek, \d+ frames decoded\); one "
        r"OpenCV pass",
        done.stdout,
        re.MULTILINE,
    ), done.stdout
    assert re.search(
        r"^120 s against 10 s: \d+\.\dx \(one pass, as before: \d+\.\dx\)$", done.stdout, re.MULTILINE
    ), done.stdout
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "128x72_synthetic_k2_10s.mp4",
        "128x72_synthetic_k2_120s.mp4",
    ]
