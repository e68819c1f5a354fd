"""Folder runs in process: what a rerun reuses, what it retries, and that no per-video failure stops the
run."""

import csv
import json
import shutil
from dataclasses import replace

import cv2
import pytest
import torch

from core.faces import FaceDetector
from core.video import read_sampled_frames, write_video
from inference.folder import predict_videos, progress_path, settings_key
from inference.inputs import diagnostics_path
from inference.loading import InputSpec, load_classifier
from inference.predictor import NEUTRAL_SCORE, PredictorSettings, VideoPredictor
from tests.commands import predict_argv, run_main, run_predict
from tests.conftest import shared_video

FFPP_519 = "ffpp/original_sequences/youtube/c23/videos/519.mp4"
FFPP_634 = "ffpp/original_sequences/youtube/c23/videos/634.mp4"


@pytest.fixture(scope="module")
def predictor(small_checkpoint, detector):
    device = torch.device("cpu")
    model = load_classifier(small_checkpoint, device, input_size=128)
    return VideoPredictor(
        {small_checkpoint.name: model},
        detector,
        device,
        PredictorSettings(num_frames=3, input_size=128, parallel_batches=1),
    )


def counting_prepare(monkeypatch, predictor):
    """Record which videos a run actually decodes (the real prepare still runs)."""
    prepared = []
    original = VideoPredictor.prepare

    def prepare(self, path):
        prepared.append(path.name if hasattr(path, "name") else str(path))
        return original(self, path)

    monkeypatch.setattr(VideoPredictor, "prepare", prepare)
    return prepared


def diagnostics(output):
    return json.loads(diagnostics_path(output).read_text(encoding="utf-8"))["videos"]


def test_another_folder_or_a_changed_file_of_the_same_name_is_scored_afresh(
    tmp_path, predictor, small_checkpoint, monkeypatch
):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    shutil.copy(shared_video(FFPP_519), first / "clip.mp4")
    shutil.copy(shared_video(FFPP_634), second / "clip.mp4")
    output = tmp_path / "out.csv"
    prepared = counting_prepare(monkeypatch, predictor)

    predict_videos(predictor, [first / "clip.mp4"], output, [small_checkpoint])
    from_first = diagnostics(output)["clip.mp4"]
    predict_videos(predictor, [first / "clip.mp4"], output, [small_checkpoint])
    assert prepared == ["clip.mp4"], "the same file with the same settings is reused"

    predict_videos(predictor, [second / "clip.mp4"], output, [small_checkpoint])
    from_second = diagnostics(output)["clip.mp4"]
    assert prepared == ["clip.mp4"] * 2
    assert from_second["video_key"].startswith(str((second / "clip.mp4").resolve()))
    assert [face["box"] for face in from_second["faces"]] != [face["box"] for face in from_first["faces"]]

    # the same path, re-encoded (another size and time): scored again
    frames = read_sampled_frames(shared_video(FFPP_519), 12).frames
    write_video(
        second / "clip.mp4",
        [cv2.resize(frame, (frame.shape[1] // 2, frame.shape[0] // 2)) for frame in frames],
    )
    predict_videos(predictor, [second / "clip.mp4"], output, [small_checkpoint])
    assert prepared == ["clip.mp4"] * 3
    assert diagnostics(output)["clip.mp4"]["frame_count"] == 12


def test_the_settings_key_follows_what_the_scores_depend_on(tmp_path, predictor, small_checkpoint):
    key = settings_key([small_checkpoint], predictor)
    other_weights = tmp_path / small_checkpoint.name
    data = bytearray(small_checkpoint.read_bytes())
    data[-100] ^= 0xFF  # same name and size, other content: a fine-tuned copy
    other_weights.write_bytes(bytes(data))
    assert settings_key([other_weights], predictor) != key
    stricter = VideoPredictor(
        predictor.models,
        FaceDetector("cpu", thresholds=(0.8, 0.9, 0.9)),
        predictor.device,
        predictor.settings,
    )
    assert settings_key([small_checkpoint], stricter) != key
    other_input = {name: InputSpec(160, spec.mean, spec.std) for name, spec in predictor.specs.items()}
    other_normalisation = {
        name: InputSpec(spec.size, (0.5, 0.5, 0.5), spec.std) for name, spec in predictor.specs.items()
    }
    for attribute, value in (
        ("settings", replace(predictor.settings, num_frames=4)),
        ("specs", other_input),
        ("specs", other_normalisation),
        ("max_faces_per_frame", 2),
        ("dtype", torch.float16),
        ("device", torch.device("cuda")),
    ):
        saved = getattr(predictor, attribute)
        setattr(predictor, attribute, value)
        try:
            assert settings_key([small_checkpoint], predictor) != key, attribute
        finally:
            setattr(predictor, attribute, saved)
    assert settings_key([small_checkpoint], predictor) == key


@pytest.mark.parametrize(
    "stage, error",
    [
        ("read", cv2.error("decoder crashed")),
        ("detect", MemoryError("out of memory")),
        ("classify", RuntimeError("weird")),
    ],
)
def test_an_unexpected_error_fails_one_video_and_is_retried_by_the_next_run(
    tmp_path, predictor, small_checkpoint, monkeypatch, stage, error
):
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(shared_video(FFPP_519), folder / "bad.mp4")
    shutil.copy(shared_video(FFPP_634), folder / "good.mp4")
    original = getattr(VideoPredictor, stage)

    def broken(self, item, *args):
        if stage == "read" and "bad" in str(item) or stage != "read" and not getattr(broken, "failed", False):
            broken.failed = True
            raise error
        return original(self, item, *args)

    monkeypatch.setattr(VideoPredictor, stage, broken)
    output = tmp_path / "out.csv"
    videos = sorted(folder.iterdir())
    results = predict_videos(predictor, videos, output, [small_checkpoint])
    assert results["bad.mp4"].score == NEUTRAL_SCORE and results["bad.mp4"].transient
    assert type(error).__name__ in results["bad.mp4"].fallback
    assert results["good.mp4"].fallback is None and results["good.mp4"].scores

    monkeypatch.setattr(VideoPredictor, stage, original)
    prepared = counting_prepare(monkeypatch, predictor)
    again = predict_videos(predictor, videos, output, [small_checkpoint])
    assert prepared == ["bad.mp4"]
    assert again["bad.mp4"].fallback is None and again["bad.mp4"].scores


def test_a_lasting_fallback_is_reused(tmp_path, predictor, small_checkpoint, faceless_video, monkeypatch):
    output = tmp_path / "out.csv"
    assert (
        "no face"
        in predict_videos(predictor, [faceless_video], output, [small_checkpoint])["no_face.mp4"].fallback
    )
    prepared = counting_prepare(monkeypatch, predictor)
    predict_videos(predictor, [faceless_video], output, [small_checkpoint])
    assert prepared == []


def test_an_interrupt_stops_at_once_and_keeps_the_finished_videos(
    tmp_path, predictor, small_checkpoint, monkeypatch
):
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        shutil.copy(shared_video(FFPP_519), folder / name)
    videos = sorted(folder.iterdir())
    original = VideoPredictor.score

    def interrupted(self, prepared):
        if interrupted.calls == 1:
            raise KeyboardInterrupt
        interrupted.calls += 1
        return original(self, prepared)

    interrupted.calls = 0
    monkeypatch.setattr(VideoPredictor, "score", interrupted)
    output = tmp_path / "out.csv"
    with pytest.raises(KeyboardInterrupt):
        predict_videos(predictor, videos, output, [small_checkpoint], workers=1)
    kept = [
        json.loads(line)["result"]["video_key"] for line in progress_path(output).read_text().splitlines()
    ]
    assert len(kept) == 1 and kept[0].startswith(str(videos[0].resolve()))
    assert not output.exists()

    monkeypatch.setattr(VideoPredictor, "score", original)
    prepared = counting_prepare(monkeypatch, predictor)
    results = predict_videos(predictor, videos, output, [small_checkpoint])
    assert prepared == ["b.mp4", "c.mp4"] and all(record.scores for record in results.values())


@pytest.mark.slow
def test_odd_file_names_survive_the_csv_and_evaluate(tmp_path, small_checkpoint):
    folder = tmp_path / "videos"
    folder.mkdir()
    names = ['a,b "c".mp4', "with spaces.mp4", "café_déjà_vu.mp4", "plain.mp4"]
    sources = [
        FFPP_519,
        FFPP_634,
        "ffpp/manipulated_sequences/Deepfakes/c23/videos/519_515.mp4",
        "ffpp/manipulated_sequences/FaceSwap/c23/videos/634_660.mp4",
    ]
    for name, source in zip(names, sources, strict=True):
        shutil.copy(shared_video(source), folder / name)
    output = tmp_path / "out.csv"
    done = run_predict(*predict_argv(small_checkpoint, folder, output), "--frames", 2, "--input-size", 128)
    assert done.returncode == 0, done.stderr
    with output.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert sorted(row["filename"] for row in rows) == sorted(names)
    labels = tmp_path / "labels.csv"
    with labels.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(
            [["filename", "label"], *[[name, int(i >= 2)] for i, name in enumerate(names)]]
        )
    evaluated = run_main("evaluate", "--predictions", output, "--labels", labels, "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert report["videos"] == 4 and report["fakes"] == 2 and not report["missing_predictions"]
    # the diagnostics beside the CSV were found and read: per-face AUC over every face
    assert report["faces"] >= 8


@pytest.mark.slow
def test_a_file_named_as_a_released_checkpoint_with_another_size_is_warned_about(
    tmp_path, small_checkpoint, faceless_video
):
    weights = tmp_path / "weights"
    weights.mkdir()
    name = "final_111_DeepFakeClassifier_tf_efficientnet_b7_ns_0_36"
    shutil.copy(small_checkpoint, weights / name)
    done = run_predict(*predict_argv(weights / name, faceless_video, tmp_path / "out.csv"))
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith(f"warning: {weights / name} is named as a released checkpoint but has ")
    assert (
        done.returncode == 2
        and lines[-1].startswith("error: ")
        and "does not match DeepFakeClassifier" in lines[-1]
    )
