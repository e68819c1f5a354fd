"""The videos and photos people bring, made on the fly from a real face clip: every common codec and
container, photos of every kind, broken files; each read at the right positions, or refused with its reason,
and FFmpeg kept off the terminal."""

import os
import shutil
import subprocess
import sys

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from core.decoding import DEBUG_ENV
from core.video import VideoReadError, read_frames_at, read_sampled_frames, sample_frame_indices
from tests.conftest import REPO, shared_video
from tests.media import CODECS, encode, encode_as, numbered_frames, position_of


@pytest.fixture(scope="module")
def face():
    """A 192x108 face frame of a real FF++ clip."""
    frame = read_frames_at(shared_video("ffpp/original_sequences/youtube/c23/videos/634.mp4"), [100])[100]
    return cv2.resize(frame, (192, 108), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def clips(tmp_path_factory, face):
    folder = tmp_path_factory.mktemp("codecs")
    frames = numbered_frames(face, 24)
    return {kind: encode_as(folder, kind, frames) for kind in CODECS}


@pytest.mark.parametrize("kind", sorted(CODECS))
def test_every_common_codec_is_read_at_the_right_positions(clips, face, kind):
    sampled = read_sampled_frames(clips[kind], 8)
    assert sampled.frame_count == 24 and sampled.indices == sample_frame_indices(24, 8) == [
        0,
        3,
        6,
        9,
        13,
        16,
        19,
        23,
    ]
    assert [
        position_of(frame) for frame in sampled.frames
    ] == sampled.indices  # the frames drawn there, not neighbours
    assert sampled.size == (192, 108) and sampled.fps == pytest.approx(25)
    assert (
        sampled.decoding.decoder in ("pyav", "pyav-seek")
        and sampled.decoding.errors == 0
        and sampled.note is None
    )
    below_the_marks = (slice(20, None), slice(None))
    grey = kind == "ffv1_grey"
    expected = np.repeat(cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2) if grey else face
    difference = np.abs(sampled.frames[-1][below_the_marks].astype(int) - expected[below_the_marks]).mean()
    # the face, through a lossy codec (a GIF: a 256-colour palette)
    assert difference < (25 if kind == "gif" else 12)


@pytest.mark.parametrize("kind", ["h264", "h265", "vp9", "mpeg4", "mjpeg", "gif"])
def test_frames_are_those_opencv_decodes(clips, kind):
    """PyAV and OpenCV's FFmpeg convert to RGB alike: what used to be read is read unchanged."""
    sampled = read_sampled_frames(clips[kind], 8)
    capture = cv2.VideoCapture(str(clips[kind]))
    by_opencv = [cv2.cvtColor(capture.read()[1], cv2.COLOR_BGR2RGB) for _ in range(24)]
    for index, frame in zip(sampled.indices, sampled.frames, strict=True):
        assert np.array_equal(frame, by_opencv[index])


def test_av1_is_read_where_opencv_cannot(clips):
    capture = cv2.VideoCapture(str(clips["av1"]))
    assert not capture.grab()  # OpenCV's bundled FFmpeg offers only a hardware AV1 decoder
    sampled = read_sampled_frames(clips["av1"], 32)
    assert sampled.indices == list(range(24)) and sampled.decoding.decoder == "pyav"


def corrupt_h265(path, face):
    """An H.265 clip (a keyframe every 12 frames) with 500 bytes of noise in the middle of its data: the
    decoder complains about every packet up to the next keyframe."""
    frames = [np.roll(face, 3 * i, axis=1) for i in range(60)]
    encode(path, frames, "libx265", options={"x265-params": "log-level=error:keyint=12:min-keyint=12"})
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 500] = (
        np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes()
    )
    path.write_bytes(bytes(data))
    return path


def test_decoder_errors_are_counted_not_printed(tmp_path, face, capfd, monkeypatch):
    path = corrupt_h265(tmp_path / "corrupt.mp4", face)
    capfd.readouterr()
    sampled = read_sampled_frames(path, 32)
    assert capfd.readouterr().err == ""
    assert sampled.decoding.errors >= 10 and "NAL" in sampled.decoding.first_error
    # the frames after the damaged ones are read
    assert len(sampled.frames) < 32 and sampled.indices[-1] == 59
    monkeypatch.setenv(DEBUG_ENV, "1")  # for debugging: FFmpeg's own words, each with the file name
    read_sampled_frames(path, 32)
    raw = capfd.readouterr().err.splitlines()
    assert len(raw) >= sampled.decoding.errors and all(
        line.startswith("[ffmpeg ") and "corrupt.mp4" in line for line in raw
    )


def test_opencv_is_quiet_once_the_project_has_set_its_log_level(clips):
    """OpenCV's FFmpeg prints its complaints (here about AV1) unless core.video sets the level before the
    first open."""
    script = "import cv2, sys; {} cv2.VideoCapture(sys.argv[1]).grab()"
    # set by core.video here
    environment = {key: value for key, value in os.environ.items() if key != "OPENCV_FFMPEG_LOGLEVEL"}
    loud = subprocess.run(
        [sys.executable, "-c", script.format(""), clips["av1"]],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=environment,
    )
    quiet = subprocess.run(
        [sys.executable, "-c", script.format("import core.video;"), clips["av1"]],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=environment,
    )
    assert "Failed to get pixel format" in loud.stderr
    assert quiet.stderr == ""


@pytest.mark.parametrize("orientation, turn", [(1, 0), (3, 2), (6, -1), (8, 1)])
@pytest.mark.parametrize("suffix", [".heic", ".jpg"])
def test_photos_are_read_upright(tmp_path, face, suffix, orientation, turn):
    import pillow_heif

    pillow_heif.register_heif_opener()
    photo = tmp_path / f"photo{suffix}"
    exif = Image.Exif()
    exif[0x0112] = orientation  # what a phone writes instead of turning the pixels
    Image.fromarray(face).save(photo, quality=95, exif=exif.tobytes())
    sampled = read_sampled_frames(photo)
    upright = np.rot90(face, turn)
    assert sampled.frames[0].shape == upright.shape and sampled.indices == [0] and sampled.frame_count == 1
    assert np.abs(sampled.frames[0].astype(int) - upright).mean() < 4
    assert sampled.decoding.decoder == ("pillow" if suffix == ".heic" else "opencv")


@pytest.mark.parametrize("kind", ["cmyk", "16bit", "alpha"])
def test_photos_of_every_colour_model_become_8_bit_rgb(tmp_path, face, kind):
    if kind == "cmyk":
        path = tmp_path / "photo.jpg"
        Image.fromarray(face).convert("CMYK").save(path, quality=95)
    elif kind == "16bit":
        path = tmp_path / "photo.png"
        cv2.imwrite(str(path), cv2.cvtColor(face, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257)
    else:
        path = tmp_path / "photo.png"
        Image.fromarray(np.dstack([face, np.full(face.shape[:2], 255, np.uint8)])).save(path)
    frame = read_sampled_frames(path).frames[0]
    assert frame.dtype == np.uint8 and frame.shape == face.shape
    # CMYK goes through Pillow's naive conversion and back
    assert np.abs(frame.astype(int) - face).mean() < 12


def audio_only(path):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        for start in range(0, 44100, 1024):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 44100, start
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def test_broken_files_are_refused_with_their_reason(tmp_path, clips, face):
    h264 = clips["h264"].read_bytes()
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("this is not a video\n" * 50)
    (tmp_path / "truncated.mp4").write_bytes(h264[: len(h264) // 3])  # its index is at the end: gone
    audio_only(tmp_path / "audio.m4a")
    (tmp_path / "dangling.mp4").symlink_to(tmp_path / "gone.mp4")
    (tmp_path / "folder.mp4").mkdir()
    reasons = {
        "empty.mp4": "empty file",
        "text.mp4": "cannot open video",
        "truncated.mp4": "cannot open video",
        "audio.m4a": "no video stream in the file (audio only)",
        "dangling.mp4": "dangling symbolic link",
        "folder.mp4": "a folder, not a video file",
    }
    for name, reason in reasons.items():
        with pytest.raises(VideoReadError, match=reason.replace("(", r"\(").replace(")", r"\)")):
            read_sampled_frames(tmp_path / name)


def test_an_unreadable_file_says_permission_denied(tmp_path, clips):
    path = tmp_path / "locked.mp4"
    path.write_bytes(clips["h264"].read_bytes())
    path.chmod(0)
    if os.geteuid() != 0:
        with pytest.raises(VideoReadError, match="permission denied"):
            read_sampled_frames(path)
        return
    # root reads every file: the read runs in a child without the capabilities that let it (util-linux's
    # setpriv)
    if shutil.which("setpriv") is None:
        pytest.skip(
            "running as root without util-linux's setpriv, which could drop root's right to read every file"
        )
    child = subprocess.run(
        [
            "setpriv",
            "--bounding-set=-dac_override,-dac_read_search",
            sys.executable,
            "-c",
            "import sys; from core.video import VideoReadError, read_sampled_frames\n"
            "try:\n    read_sampled_frames(sys.argv[1])\nexcept VideoReadError as error:\n    print(error)",
            str(path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    assert "permission denied" in child.stdout, child.stdout
