import csv
import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from core.video import read_sampled_frames, write_video
from inference.report import faces_folder
from tests.commands import predict_argv, run_predict
from tests.conftest import REPO, shared_video


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def test_dir(tmp_path_factory, faceless_video):
    folder = tmp_path_factory.mktemp("videos")
    shutil.copy(shared_video("dfdc/dfdc_train_part_0/brtujopkby.mp4"), folder / "portrait.mp4")
    shutil.copy(shared_video("ffpp/original_sequences/youtube/c23/videos/519.mp4"), folder / "ffpp_519.mp4")
    shutil.copy(faceless_video, folder / "no_face.mp4")
    ffpp = read_sampled_frames(shared_video("ffpp/original_sequences/youtube/c23/videos/519.mp4"), 40).frames
    # mean level about 4: a dark room
    write_video(folder / "dark.mp4", [(frame * 0.05).astype(np.uint8) for frame in ffpp])
    other = read_sampled_frames(shared_video("ffpp/original_sequences/youtube/c23/videos/634.mp4"), 40).frames
    height = ffpp[0].shape[0]
    width = round(other[0].shape[1] * height / other[0].shape[0])
    write_video(
        folder / "two_people.mp4",
        [
            np.hstack([left, cv2.resize(right, (width, height), interpolation=cv2.INTER_AREA)])
            for left, right in zip(ffpp, other, strict=True)
        ],
    )
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "corrupt.mp4").write_bytes(shared_video("dfdc_real/lynaeydofd.mp4").read_bytes()[:50_000])
    (folder / "notes.txt").write_text("not a video")
    return folder


@pytest.mark.slow
def test_scores_a_folder_with_bad_files_among_good_ones(tmp_path, test_dir, small_checkpoint):
    output = tmp_path / "out" / "submission.csv"
    args = [
        *predict_argv(small_checkpoint, test_dir, output),
        "--frames",
        8,
        "--input-size",
        224,
        # videos read ahead in threads
        "--workers",
        2,
    ]
    done = run_predict(*args)
    assert done.returncode == 0, done.stderr
    rows = read_csv(output)
    assert [row["filename"] for row in rows] == [
        "corrupt.mp4",
        "dark.mp4",
        "empty.mp4",
        "ffpp_519.mp4",
        "no_face.mp4",
        "portrait.mp4",
        "two_people.mp4",
    ]
    labels = {row["filename"]: float(row["label"]) for row in rows}
    assert all(0.0 <= label <= 1.0 for label in labels.values())
    for bad in ("corrupt.mp4", "empty.mp4", "no_face.mp4"):
        assert labels[bad] == 0.5
        assert f"warning: {bad}:" in done.stderr + done.stdout

    diagnostics = json.loads(output.with_name("submission.diagnostics.json").read_text())
    videos = diagnostics["videos"]
    assert "cannot open video" in videos["corrupt.mp4"]["fallback"]
    assert "empty file" in videos["empty.mp4"]["fallback"]
    assert "no face" in videos["no_face.mp4"]["fallback"] and videos["no_face.mp4"]["frames_read"] == 8
    for good in ("dark.mp4", "ffpp_519.mp4", "portrait.mp4", "two_people.mp4"):
        record = videos[good]
        assert record["fallback"] is None and record["frames_read"] == 8
        assert record["frames_with_faces"] >= 7 and record["faces_found"] == len(record["faces"])
        scores = record["scores"][small_checkpoint.name]
        assert len(scores) == record["faces_found"] and all(0 <= s <= 1 for s in scores)
        assert labels[good] == pytest.approx(record["score"], abs=1e-6)
        assert set(record["seconds"]) == {"decode", "detect", "classify"}
        assert all(face["contrast_stretched"] == (good == "dark.mp4") for face in record["faces"])
        assert record["faces_skipped"] == 0  # none of them is crowded
    # several faces: every face of every frame is classified, and each is listed with its frame
    two = videos["two_people.mp4"]
    split = 640  # the left clip's width
    frames_with_both = {face["frame"] for face in two["faces"] if face["box"][2] < split} & {
        face["frame"] for face in two["faces"] if face["box"][0] > split
    }
    assert len(frames_with_both) >= 7 and two["faces_found"] >= 14
    people = [track for track in two["tracks"] if track["faces"] >= 7]  # one face track per person
    assert len(people) == 2 and sum(track["faces"] for track in two["tracks"]) == two["faces_found"]
    assert {face["track"] for face in two["faces"]} == {track["track"] for track in two["tracks"]}
    assert not output.with_name("submission.progress.jsonl").exists()

    # a rerun with the same settings reuses every video, and a new strategy is applied to the stored scores
    again = run_predict(*args, "--strategy", "mean")
    assert again.returncode == 0, again.stderr
    assert "reusing 7 finished videos" in again.stderr
    rerun = json.loads(output.with_name("submission.diagnostics.json").read_text())["videos"]
    for good in ("ffpp_519.mp4", "portrait.mp4"):
        assert rerun[good]["score"] == pytest.approx(np.mean(videos[good]["scores"][small_checkpoint.name]))

    # per person: the highest score of a person's track, from the stored face scores (nothing is scored again)
    per_person = run_predict(*args, "--video-score", "per-person")
    assert per_person.returncode == 0 and "reusing 7 finished videos" in per_person.stderr
    two = json.loads(output.with_name("submission.diagnostics.json").read_text())["videos"]["two_people.mp4"]
    assert two["score"] == pytest.approx(
        max(track["score"] for track in two["tracks"] if track["faces"] >= 3)
    )


@pytest.mark.slow
def test_single_files_can_be_scored(tmp_path, small_checkpoint):
    video = shared_video("ffpp/manipulated_sequences/FaceSwap/c23/videos/634_660.mp4")
    output = tmp_path / "one.csv"
    done = run_predict(
        *predict_argv(small_checkpoint, video, output),
        "--frames",
        4,
        "--input-size",
        128,
        "--workers",
        0,
        "--parallel-batches",
        1,
    )
    assert done.returncode == 0, done.stderr
    assert [row["filename"] for row in read_csv(output)] == ["634_660.mp4"]


@pytest.mark.parametrize(
    "problem, option, value",
    [
        ("missing weights file", "--models", "final_1_DeepFakeClassifier_tf_efficientnet_b7_ns_0_1"),
        ("missing weights folder", "--weights-dir", "nowhere"),
        ("missing videos", "--test-dir", "no_such_folder"),
        ("negative face limit", "--max-faces-per-frame", "-1"),
        ("no frames", "--frames", "0"),
        ("no faces per batch", "--batch-size", "0"),
        ("input smaller than the network's stride", "--input-size", "16"),
        ("not a number", "--parallel-batches", "two"),
    ],
)
def test_bad_input_is_a_one_line_error(tmp_path, small_checkpoint, problem, option, value, capsys):
    """Answered by predict_folder.main in this process: a bad option by its parser (SystemExit), a missing
    file before any model is loaded (the return code)."""
    import predict_folder

    args = {
        "--weights-dir": small_checkpoint.parent,
        "--models": small_checkpoint.name,
        "--test-dir": tmp_path,
    }
    args[option] = tmp_path / value if option in ("--weights-dir", "--test-dir") else value
    try:
        code = predict_folder.main(
            [str(item) for pair in args.items() for item in pair] + ["--output", str(tmp_path / "x.csv")]
        )
    except SystemExit as exit_:
        code = exit_.code
    stderr = capsys.readouterr().err
    assert code == 2
    assert stderr.startswith("error: ") and len(stderr.strip().splitlines()) == 1
    if option not in ("--models", "--weights-dir", "--test-dir"):
        assert stderr.startswith(f"error: argument {option}: ")
    assert not (tmp_path / "x.csv").exists()


def test_b7_scores_a_real_video(tmp_path, random_b7, random_b7_openvino):
    """The full-size architecture of the released ensemble, through the same command (its OpenVINO model from
    the run's cache)."""
    output = tmp_path / "b7.csv"
    done = run_predict(
        *predict_argv(random_b7, shared_video("dfdc_real/lynaeydofd.mp4"), output),
        "--frames",
        6,
    )
    assert done.returncode == 0, done.stderr
    assert "converting" not in done.stderr
    record = json.loads(output.with_name("b7.diagnostics.json").read_text())["videos"]["lynaeydofd.mp4"]
    assert record["fallback"] is None and record["faces_found"] >= 6
    assert 0 <= float(read_csv(output)[0]["label"]) <= 1


def test_help_and_bad_input_are_answered_before_torch_is_loaded(tmp_path):
    """Seconds of imports (torch, timm, the MTCNN stack) come after the options and inputs are checked."""
    probe = (
        "import contextlib, io, sys\n"
        "import predict_folder\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    predict_folder.main(['--help'])\n"
        f"code = predict_folder.main(['--weights-dir', {str(tmp_path)!r}, '--models', 'missing', "
        f"'--test-dir', {str(tmp_path)!r}])\n"
        "print(code, 'torch' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["2", "False"]
    assert "weights file not found" in done.stderr


@pytest.mark.slow
def test_a_checkpoint_named_freely_is_read_as_the_original_or_as_told(
    tmp_path, small_checkpoint, faceless_video
):
    """The original built every model as DeepFakeClassifier(tf_efficientnet_b7_ns) whatever its file name; a
    B0 saved as my_model.pth therefore does not fit (the keys are named), and --encoder says what it is."""
    weights = tmp_path / "weights"
    weights.mkdir()
    shutil.copy(small_checkpoint, weights / "my_model.pth")
    common = [
        "--weights-dir",
        weights,
        "--models",
        "my_model.pth",
        "--test-dir",
        faceless_video,
        "--device",
        "cpu",
        "--frames",
        2,
    ]
    refused = run_predict(*common, "--output", tmp_path / "a.csv")
    assert refused.returncode == 2 and "my_model.pth does not match DeepFakeClassifier" in refused.stderr
    assert "unexpected keys" in refused.stderr or "shape mismatch" in refused.stderr
    done = run_predict(*common, "--encoder", "tf_efficientnet_b0_ns", "--output", tmp_path / "b.csv")
    assert done.returncode == 0, done.stderr
    assert read_csv(tmp_path / "b.csv")[0]["filename"] == "no_face.mp4"


@pytest.mark.slow
def test_two_processes_under_torchrun_give_the_csv_of_one(tmp_path, small_checkpoint):
    folder = tmp_path / "videos"
    folder.mkdir()
    for video in (
        "ffpp/original_sequences/youtube/c23/videos/519.mp4",
        "ffpp/original_sequences/youtube/c23/videos/634.mp4",
        "ffpp/manipulated_sequences/Deepfakes/c23/videos/519_515.mp4",
        "dfdc/dfdc_train_part_10/yhffcuhhjy.mp4",
    ):
        shutil.copy(shared_video(video), folder / video.rsplit("/", 1)[-1])
    (folder / "broken.mp4").write_bytes(b"not a video")
    small = ("--frames", 3, "--input-size", 128)
    single = run_predict(*predict_argv(small_checkpoint, folder, tmp_path / "single" / "out.csv"), *small)
    assert single.returncode == 0, single.stderr
    sharded = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "predict_folder.py",
            *predict_argv(small_checkpoint, folder, tmp_path / "sharded" / "out.csv"),
            *map(str, small),
            "--report",
            str(tmp_path / "report"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert sharded.returncode == 0, sharded.stderr[-3000:]
    assert (tmp_path / "sharded" / "out.csv").read_text() == (tmp_path / "single" / "out.csv").read_text()
    shards = [
        json.loads((tmp_path / "sharded" / f"out.shard-{i}-of-2.diagnostics.json").read_text())["videos"]
        for i in range(2)
    ]
    # every other video of the sorted list
    assert sorted(shards[0]) == ["519.mp4", "634.mp4", "yhffcuhhjy.mp4"]
    assert sorted(shards[1]) == ["519_515.mp4", "broken.mp4"]
    merged = json.loads((tmp_path / "sharded" / "out.diagnostics.json").read_text())["videos"]
    single_videos = json.loads((tmp_path / "single" / "out.diagnostics.json").read_text())["videos"]
    assert merged.keys() == single_videos.keys()
    for name, record in merged.items():
        assert (
            record["scores"] == single_videos[name]["scores"]
            and record["faces"] == single_videos[name]["faces"]
        )
    # each shard saved its videos' faces; the shard that merged wrote one report of them all
    index = (tmp_path / "report" / "index.html").read_text()
    assert index.count('class="video-link"') == 5 and all(f">{name}</a>" in index for name in merged)
    for name, record in merged.items():
        assert len(list(faces_folder(tmp_path / "report", name).glob("*.jpg"))) == record["faces_found"]

    (tmp_path / "sharded" / "out.shard-1-of-2.csv").unlink()
    missing = run_predict("--merge", tmp_path / "sharded" / "out.csv")
    assert (
        missing.returncode == 2
        and missing.stderr.strip()
        == f"error: shard 1 of 2 is missing: {tmp_path / 'sharded' / 'out.shard-1-of-2.csv'}"
    )


@pytest.mark.slow
def test_still_photos_are_scored_as_one_frame_videos(tmp_path, small_checkpoint):
    folder = tmp_path / "photos"
    folder.mkdir()
    frame = read_sampled_frames(shared_video("ffpp/original_sequences/youtube/c23/videos/634.mp4"), 1).frames[
        0
    ]
    for suffix in (".jpg", ".png", ".webp"):
        assert cv2.imwrite(str(folder / f"photo{suffix}"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    (folder / "broken.jpg").write_bytes(b"not an image")
    output = tmp_path / "photos.csv"
    done = run_predict(
        *predict_argv(small_checkpoint, folder, output),
        "--input-size",
        128,
    )
    assert done.returncode == 0, done.stderr
    assert [row["filename"] for row in read_csv(output)] == [
        "broken.jpg",
        "photo.jpg",
        "photo.png",
        "photo.webp",
    ]
    videos = json.loads(output.with_name("photos.diagnostics.json").read_text())["videos"]
    assert "cannot read image" in videos["broken.jpg"]["fallback"]
    for name in ("photo.jpg", "photo.png", "photo.webp"):
        assert (
            videos[name]["frames_read"] == 1
            and videos[name]["faces_found"] >= 1
            and videos[name]["fallback"] is None
        )
        assert len(videos[name]["tracks"]) == videos[name]["faces_found"]
