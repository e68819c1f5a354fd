"""What the scoring command takes in: folders searched with their subfolders, nothing dropped without a word,
every entry named like a video or photo given a row with its reason, and the decoder of each video in the
diagnostics and report."""

import csv
import json
import subprocess
import sys

import av
import cv2
import numpy as np
import pytest

from core.video import read_frames_at
from inference.inputs import InputError, find_videos, result_names
from inference.report import write_report
from inference.results import VideoResult
from tests.commands import predict_argv
from tests.conftest import DATA_DIR, REAL_VIDEOS, REPO, shared_video
from tests.media import encode_as, numbered_frames


def found(inputs):
    warnings = []
    videos = find_videos(inputs, warn=warnings.append)
    names = result_names(videos)
    return [names[video] for video in videos], warnings


def test_dataset_folders_are_searched_with_their_subfolders():
    """The report: --test-dir with three dataset folders scored one video; the videos are in subfolders."""
    shared_video(REAL_VIDEOS["dfdc_real_1920x1080"])  # skips without the shared data
    names, warnings = found([DATA_DIR / "dfdc", DATA_DIR / "ffpp", DATA_DIR / "dfdc_real"])
    expected = sorted(relative.rsplit("/", 1)[1] for relative in REAL_VIDEOS.values())
    assert names == expected and len(names) == 11 and warnings == []  # bare file names: no two share one


def test_a_folder_that_gives_nothing_is_warned_about(tmp_path):
    shared_video(REAL_VIDEOS["dfdc_real_1920x1080"])
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no videos here")
    names, warnings = found([DATA_DIR / "dfdc_real", tmp_path / "notes"])
    assert names == ["lynaeydofd.mp4"]
    assert warnings == [
        f"{tmp_path / 'notes'}: no video or photo in this folder or its subfolders; nothing scored from it"
    ]
    with pytest.raises(InputError, match="no video files"):
        find_videos([tmp_path / "notes"], warn=warnings.append)


def test_names_that_clash_become_the_shortest_path_ending_that_tells_them_apart(tmp_path):
    for relative in ("part_0/clip.mp4", "part_1/clip.mp4", "part_1/other.mp4", "flat.mp4"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"x")
    names, _ = found([tmp_path, tmp_path / "part_1" / "other.mp4"])  # a file named twice is scored once
    assert names == ["flat.mp4", "other.mp4", "part_0/clip.mp4", "part_1/clip.mp4"]


def test_every_entry_named_like_a_video_is_listed_even_when_it_cannot_be_read(tmp_path):
    folder = tmp_path / "inputs"
    (folder / "nested" / "deeper").mkdir(parents=True)
    (folder / "clip.mp4").symlink_to(tmp_path / "gone.mp4")  # dangling
    (folder / "folder.mov").mkdir()  # named like a video: listed, not searched
    (folder / "folder.mov" / "inside.mp4").write_bytes(b"x")
    (folder / "nested" / "deeper" / "animation.GIF").write_bytes(b"x")
    (folder / "nested" / "photo.heic").write_bytes(b"x")
    (folder / "nested" / "loop").symlink_to(folder)  # searched once
    (folder / "._clip.mp4").write_bytes(b"x")  # macOS's metadata twin: hidden, skipped
    (folder / ".cache").mkdir()
    (folder / ".cache" / "hidden.mp4").write_bytes(b"x")
    (folder / "notes.txt").write_text("not a video")
    names, warnings = found([folder])
    assert names == ["animation.GIF", "clip.mp4", "folder.mov", "photo.heic"] and warnings == []


def read_csv(path):
    with open(path, newline="") as file:
        return {row["filename"]: float(row["label"]) for row in csv.DictReader(file)}


@pytest.fixture(scope="module")
def awkward_folder(tmp_path_factory):
    """What a user brings beside good videos: an AV1 clip and a GIF of a real face (in subfolders), and broken
    entries."""
    folder = tmp_path_factory.mktemp("awkward")
    face = read_frames_at(shared_video(REAL_VIDEOS["ffpp_original_634"]), [100])[100]
    frames = numbered_frames(cv2.resize(face, (480, 270), interpolation=cv2.INTER_AREA), 12)
    (folder / "web").mkdir()
    encode_as(folder / "web", "av1", frames)
    encode_as(folder / "web", "gif", frames)
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "text.mkv").write_text("not a video\n" * 40)
    (folder / "dangling.mp4").symlink_to(folder / "gone.mp4")
    (folder / "folder.mp4").mkdir()
    h265 = encode_as(folder, "h265", [np.roll(frame, 5 * i, axis=1) for i, frame in enumerate(frames * 3)])
    with av.open(str(h265)) as container:
        middle = [packet.pos for packet in container.demux(video=0) if packet.size][18]
    data = bytearray(h265.read_bytes())
    data[middle : middle + 4] = b"\xff" * 4  # the length of the middle frame's first NAL unit: damaged
    (folder / "damaged.mp4").write_bytes(bytes(data))
    h265.unlink()
    return folder


def test_a_folder_of_awkward_files_gets_a_row_for_each_and_a_readable_terminal(
    tmp_path, awkward_folder, small_checkpoint
):
    output = tmp_path / "out.csv"
    args = [
        *predict_argv(small_checkpoint, awkward_folder, output),
        "--frames",
        6,
        "--input-size",
        128,
        "--backend",
        "torch",
        "--report",
        tmp_path / "report",
    ]
    done = subprocess.run(
        [sys.executable, "predict_folder.py", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    labels = read_csv(output)
    assert sorted(labels) == [
        "av1.mkv",
        "damaged.mp4",
        "dangling.mp4",
        "empty.mp4",
        "folder.mp4",
        "gif.gif",
        "text.mkv",
    ]
    videos = json.loads(output.with_name("out.diagnostics.json").read_text())["videos"]
    reasons = {
        "empty.mp4": "empty file",
        "text.mkv": "cannot open video",
        "dangling.mp4": "dangling symbolic link",
        "folder.mp4": "a folder, not a video file",
    }
    for name, reason in reasons.items():
        assert labels[name] == 0.5 and reason in videos[name]["fallback"]
    for name in ("av1.mkv", "gif.gif"):
        assert (
            videos[name]["fallback"] is None
            and videos[name]["frames_read"] == 6
            and videos[name]["faces_found"] >= 5
        )
        assert videos[name]["decoding"]["decoder"] == "pyav" and videos[name]["decoding"]["errors"] == 0
    assert videos["damaged.mp4"]["decoding"]["errors"] > 0
    # the terminal: the project's one-line warnings, the progress bar and the summary, nothing from FFmpeg
    terminal = done.stderr + done.stdout
    lines = [line for chunk in terminal.split("\r") for line in chunk.splitlines() if line.strip()]
    assert all(line.startswith(("warning: ", "videos:", "report pages:", "wrote ")) for line in lines), (
        terminal
    )
    assert {line.split(":")[1].strip() for line in lines if line.startswith("warning: ")} == set(reasons)
    page = (tmp_path / "report" / "index.html").read_text()
    assert "Decoder errors" in page


def test_the_report_says_which_decoder_read_each_video_and_its_errors(tmp_path):
    record = {
        "score": 0.5,
        "frames_read": 9,
        "frame_count": 60,
        "fps": 25.0,
        "fallback": "no face found in 9 sampled frames",
    }
    videos = {
        "damaged.mp4": VideoResult(
            **record,
            decoding={
                "decoder": "pyav",
                "errors": 42,
                "first_error": "Invalid NAL unit size (7 > 3).",
                "frames_decoded": 48,
            },
        ),
        "long.mp4": VideoResult(
            **record,
            decoding={"decoder": "pyav-seek", "errors": 0, "first_error": None, "frames_decoded": 96},
        ),
    }
    index = write_report({"models": [], "strategy": "confident"}, videos, tmp_path / "report")
    assert '<td data-value="42" class="number">42</td>' in index.read_text()
    pages = {
        path.parent.name.split("-")[0]: path.read_text()
        for path in (tmp_path / "report" / "videos").glob("*/index.html")
    }
    assert (
        "48 frames decoded; 42 decoder errors (the first: Invalid NAL unit size (7 &gt; 3).)"
        in pages["damaged.mp4"]
    )
    assert (
        "seeking to the keyframe before each frame: 96 frames decoded; no decoder errors" in pages["long.mp4"]
    )
