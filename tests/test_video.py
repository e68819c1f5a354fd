import struct

import cv2
import numpy as np
import pytest

from core.video import VideoReadError, iterate_frames, read_sampled_frames, sample_frame_indices, write_video
from tests.conftest import shared_video


def test_indices_are_evenly_spaced_over_the_whole_video():
    # 0, 99.67, 199.33, 299 truncated, as the original
    assert sample_frame_indices(300, 4) == [0, 99, 199, 299]
    assert sample_frame_indices(10, 32) == list(range(10))
    assert sample_frame_indices(0, 32) == []


def test_32_of_300_frames_are_the_originals_truncated_positions():
    """The original solution: np.linspace(0, frame_count - 1, num_frames, endpoint=True, dtype=int)."""
    by_hand = [i * 299 // 31 for i in range(32)]
    assert sample_frame_indices(300, 32) == by_hand
    rounded = [round(i * 299 / 31) for i in range(32)]
    assert sum(a != b for a, b in zip(by_hand, rounded, strict=True)) == 15  # what rounding used to change


def test_jitter_is_seeded_and_bounded():
    base = sample_frame_indices(300, 32)
    first = sample_frame_indices(300, 32, jitter=3, seed=7)
    assert first == sample_frame_indices(300, 32, jitter=3, seed=7)
    assert first != base
    assert all(0 <= i < 300 for i in first)
    assert all(min(abs(i - b) for b in base) <= 3 for i in first)


def test_reads_the_sampled_frames_of_a_portrait_video():
    sampled = read_sampled_frames(shared_video("dfdc/dfdc_train_part_0/brtujopkby.mp4"), 32)
    assert sampled.frame_count == 300
    assert sampled.indices == sample_frame_indices(300, 32)
    assert sampled.size == (1080, 1920)  # width, height: portrait
    assert sampled.frames[0].shape == (1920, 1080, 3) and sampled.note is None


# a track header's display matrix (a, b, c, d), the upright frame's (height, width), and where the stored
# frame's top-left mark ends up: (first row, last row, first column, last column)
TURNS = {
    "90 clockwise": ((0, 0x10000, -0x10000, 0), (480, 270), (0, 99, 230, 269)),  # top right, standing up
    "90 counterclockwise": ((0, -0x10000, 0x10000, 0), (480, 270), (380, 479, 0, 39)),  # bottom left
    "180": ((-0x10000, 0, 0, -0x10000), (270, 480), (230, 269, 380, 479)),  # bottom right, upside down
}


@pytest.mark.parametrize("turn", sorted(TURNS))
def test_phone_clip_with_rotation_metadata_is_read_upright(tmp_path, turn):
    # Phones store portrait clips landscape plus a display matrix in the track header; faces must come out
    # upright.
    landscape = [
        frame[::4, ::4].copy()
        for frame in read_sampled_frames(shared_video("dfdc_real/lynaeydofd.mp4"), 3).frames
    ]
    for frame in landscape:
        frame[:40, :100] = (255, 0, 0)  # a red mark at the stored frame's top left
    data = bytearray(write_video(tmp_path / "stored.mp4", landscape).read_bytes())
    header = data.find(b"tkhd")
    assert data[header + 4] == 0  # version 0: the matrix starts 36 bytes after version and flags
    matrix = header + 8 + 36
    identity = (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    assert struct.unpack(">9i", data[matrix : matrix + 36]) == identity
    (a, b, c, d), (height, width), mark = TURNS[turn]
    data[matrix : matrix + 36] = struct.pack(">9i", a, b, 0, c, d, 0, 0, 0, 0x40000000)
    (tmp_path / "rotated.mp4").write_bytes(data)
    sampled = read_sampled_frames(tmp_path / "rotated.mp4", 3)
    assert sampled.size == (width, height) and len(sampled.frames) == 3
    red = (sampled.frames[0][..., 0] > 200) & (sampled.frames[0][..., 1] < 60)
    rows, cols = np.nonzero(red)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == mark


def test_sampled_frames_match_a_full_decode(tmp_path):
    rng = np.random.default_rng(0)
    frames = [
        np.full((64, 80, 3), 10 * i, dtype=np.uint8) + rng.integers(0, 3, (64, 80, 3), dtype=np.uint8)
        for i in range(20)
    ]
    path = write_video(tmp_path / "ramp.mp4", frames)
    sampled = read_sampled_frames(path, 5)
    everything = dict(iterate_frames(path))
    assert sampled.indices == [0, 4, 9, 14, 19]  # 0, 4.75, 9.5, 14.25, 19 truncated
    for index, frame in zip(sampled.indices, sampled.frames, strict=True):
        assert np.array_equal(frame, everything[index])
        assert abs(float(frame.mean()) - 10 * index) < 4  # the right frame, not a neighbour


def test_short_video_yields_the_frames_it_has(tmp_path):
    frames = [np.full((48, 48, 3), 20 * i, dtype=np.uint8) for i in range(7)]
    sampled = read_sampled_frames(write_video(tmp_path / "short.mp4", frames), 32)
    assert sampled.indices == list(range(7))


def _atoms(data, start, end):
    """(type, offset, header length, size) of the MP4 boxes laid end to end in data[start:end]."""
    while start < end:
        size, kind = struct.unpack(">I4s", data[start : start + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[start + 8 : start + 16])[0], 16
        yield kind, start, header, size
        start += size


def _moov_first(data: bytes) -> bytes:
    """The MP4 with its index (moov) moved before the media data, chunk offsets shifted: then a truncated copy
    still opens."""
    boxes = {kind: (offset, size) for kind, offset, _, size in _atoms(data, 0, len(data))}
    offset, size = boxes[b"moov"]
    moov = bytearray(data[offset : offset + size])

    def shift(start, end):
        for kind, at, header, length in _atoms(moov, start, end):
            if kind in (b"trak", b"mdia", b"minf", b"stbl"):
                shift(at + header, at + length)
            elif kind in (b"stco", b"co64"):
                width, code = (4, ">I") if kind == b"stco" else (8, ">Q")
                for entry in range(struct.unpack(">I", moov[at + 12 : at + 16])[0]):
                    place = at + 16 + entry * width
                    moov[place : place + width] = struct.pack(
                        code, struct.unpack(code, moov[place : place + width])[0] + size
                    )

    shift(8, size)
    rest = data[:offset] + data[offset + size :]
    ftyp_end = boxes[b"ftyp"][1]
    return rest[:ftyp_end] + bytes(moov) + rest[ftyp_end:]


def test_truncated_video_is_sampled_over_the_frames_that_decode(tmp_path):
    frames = [np.full((64, 80, 3), 4 * i, dtype=np.uint8) for i in range(60)]
    whole = _moov_first(write_video(tmp_path / "written.mp4", frames).read_bytes())
    (tmp_path / "whole.mp4").write_bytes(whole)
    untouched = read_sampled_frames(tmp_path / "whole.mp4", 8)  # moving the index alone changes nothing
    assert (
        untouched.frame_count == 60
        and untouched.indices == sample_frame_indices(60, 8)
        and untouched.note is None
    )
    # a download cut short: the index still lists 60 frames
    (tmp_path / "half.mp4").write_bytes(whole[: len(whole) // 2])
    everything = dict(iterate_frames(tmp_path / "half.mp4"))
    decodable = len(everything)
    assert 10 < decodable < 50
    sampled = read_sampled_frames(tmp_path / "half.mp4", 8)
    assert sampled.frame_count == decodable and sampled.indices == sample_frame_indices(decodable, 8)
    assert sampled.note == f"the container claims 60 frames but only {decodable} decode; sampled over those"
    for index, frame in zip(sampled.indices, sampled.frames, strict=True):
        assert np.array_equal(frame, everything[index])


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "empty file"), (b"\x00\x01not a video" * 100, "cannot open video")],
)
def test_unreadable_files_raise_a_clear_error(tmp_path, content, reason):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoReadError, match=reason):
        read_sampled_frames(path)


def test_missing_file_raises(tmp_path):
    with pytest.raises(VideoReadError, match="no such file"):
        read_sampled_frames(tmp_path / "absent.mp4")


def test_the_frame_rate_comes_with_the_frames(tmp_path):
    sampled = read_sampled_frames(shared_video("dfdc_real/lynaeydofd.mp4"), 4)
    assert sampled.fps == pytest.approx(29.97, abs=0.01)
    clip = write_video(tmp_path / "clip.mp4", [np.zeros((64, 64, 3), np.uint8)] * 5, fps=12.5)
    assert read_sampled_frames(clip, 2).fps == pytest.approx(12.5)
    assert cv2.imwrite(str(tmp_path / "photo.png"), np.zeros((8, 8, 3), np.uint8))
    assert read_sampled_frames(tmp_path / "photo.png").fps == 0.0
