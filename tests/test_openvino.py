"""The OpenVINO backend gives PyTorch's scores on real videos, converts a model once, rebuilds a damaged cache
entry, and falls back to PyTorch, saying so, when the runtime is missing."""

import json
import logging
import shutil
import sys

import numpy as np
import pytest
import torch

from core.faces import FaceDetector
from core.openvino_runtime import OpenVINOClassifier
from inference.loading import load_classifier
from inference.predictor import PredictorSettings, VideoPredictor
from tests.commands import predict_argv, run_predict
from tests.conftest import shared_video

VIDEOS = [
    "dfdc/dfdc_train_part_0/brtujopkby.mp4",
    "ffpp/manipulated_sequences/NeuralTextures/c23/videos/004_982.mp4",
    "ffpp/original_sequences/youtube/c23/videos/519.mp4",
]


def test_a_trained_model_scores_alike_under_both_backends(tmp_path, trained_checkpoint):
    folder = tmp_path / "videos"
    folder.mkdir()
    for video in VIDEOS:
        shutil.copy(shared_video(video), folder / video.rsplit("/", 1)[-1])
    results = {}
    for backend in ("torch", "openvino"):
        output = tmp_path / f"{backend}.csv"
        done = run_predict(
            *predict_argv(trained_checkpoint, folder, output),
            "--frames",
            8,
            "--backend",
            backend,
            "--cache-dir",
            tmp_path / "cache",
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert "runs on PyTorch" not in done.stderr
        results[backend] = json.loads(output.with_name(f"{backend}.diagnostics.json").read_text())["videos"]
    assert results["torch"].keys() == results["openvino"].keys() and len(results["torch"]) == 3
    for name, torch_record in results["torch"].items():
        openvino_record = results["openvino"][name]
        torch_scores, openvino_scores = (
            np.array(record["scores"][trained_checkpoint.name]) for record in (torch_record, openvino_record)
        )
        assert len(torch_scores) == len(openvino_scores) >= 8 and np.ptp(torch_scores) > 0.01
        np.testing.assert_allclose(openvino_scores, torch_scores, atol=1e-4)
        assert openvino_record["score"] == pytest.approx(torch_record["score"], abs=1e-4)


def test_a_b7_scores_alike_and_is_converted_once(random_b7, random_b7_openvino, caplog):
    device = torch.device("cpu")
    openvino = random_b7_openvino.model
    assert (
        isinstance(openvino, OpenVINOClassifier)
        and sum("converting" in line for line in random_b7_openvino.log) == 1
    )
    plain = load_classifier(random_b7, device, backend="torch")
    predictors = {
        name: VideoPredictor({"b7": model}, FaceDetector(device), device, PredictorSettings(num_frames=4))
        for name, model in (("torch", plain), ("openvino", openvino))
    }
    prepared = predictors["torch"].prepare(shared_video("dfdc_real/lynaeydofd.mp4"))
    scores = {
        name: np.array(predictor.classify(prepared.inputs)["b7"]) for name, predictor in predictors.items()
    }
    assert len(scores["torch"]) >= 4
    np.testing.assert_allclose(scores["openvino"], scores["torch"], atol=1e-4)

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="dfdc.predict"):
        load_classifier(random_b7, device, backend="openvino")
    assert "converting" not in caplog.text  # the second load takes the cached model


@pytest.mark.slow
def test_a_damaged_cache_entry_is_rebuilt_not_trusted(tmp_path, small_checkpoint, caplog):
    device = torch.device("cpu")
    cache = tmp_path / "cache"
    load_classifier(small_checkpoint, device, backend="openvino", cache_dir=cache, input_size=128)
    faces = [np.random.default_rng(seed).integers(0, 255, (128, 128, 3), dtype=np.uint8) for seed in range(3)]
    expected = VideoPredictor(
        {"m": load_classifier(small_checkpoint, device, input_size=128)}, None, device
    ).classify({128: faces})["m"]
    for damage in ("truncated", "other weights"):
        weights_file = next(cache.glob("openvino/*/model.bin"))
        data = weights_file.read_bytes()
        if damage == "truncated":
            weights_file.write_bytes(data[: len(data) // 3])
        else:  # readable, but not this checkpoint's numbers any more
            weights_file.write_bytes(np.frombuffer(data, dtype=np.uint8)[::-1].tobytes())
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="dfdc.predict"):
            rebuilt = load_classifier(
                small_checkpoint, device, backend="openvino", cache_dir=cache, input_size=128
            )
        assert caplog.text.count("converting") == 1 and isinstance(rebuilt, OpenVINOClassifier), damage
        np.testing.assert_allclose(
            VideoPredictor({"m": rebuilt}, None, device).classify({128: faces})["m"], expected, atol=1e-4
        )


@pytest.mark.slow
def test_without_the_runtime_the_run_says_so_and_scores_with_pytorch(tmp_path, small_checkpoint, monkeypatch):
    video = shared_video(VIDEOS[2])
    common = [
        "--weights-dir",
        str(small_checkpoint.parent),
        "--models",
        small_checkpoint.name,
        "--test-dir",
        str(video),
        "--device",
        "cpu",
        "--frames",
        "3",
        "--input-size",
        "128",
    ]
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "openvino", None)  # as if it were not installed: `import openvino` fails
        missing = run_predict(*common, "--backend", "openvino", "--output", tmp_path / "a.csv")
    assert missing.returncode == 0, missing.stderr[-2000:]
    warnings = [line for line in missing.stderr.splitlines() if "runs on PyTorch" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: OpenVINO is not installed")
    assert warnings[0].endswith(f"{small_checkpoint.name} runs on PyTorch")
    plain = run_predict(*common, "--backend", "torch", "--output", tmp_path / "b.csv")
    assert plain.returncode == 0
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
