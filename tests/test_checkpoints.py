import json

import numpy as np
import pytest
import torch

from core.checkpoints import (
    CheckpointError,
    load_checkpoint,
    load_weights,
    parse_checkpoint_name,
    save_checkpoint,
)
from inference.loading import load_classifier
from training.zoo.classifiers import DeepFakeClassifier


def _model(seed=0):
    torch.manual_seed(seed)
    return DeepFakeClassifier("tf_efficientnet_b0_ns").eval()


def test_released_format_round_trip_gives_identical_outputs(tmp_path):
    model = _model()
    path = tmp_path / "x_DeepFakeClassifier_tf_efficientnet_b0_ns_0_3"
    save_checkpoint(path, model, epoch=3, bce_best=np.float64(0.1234))
    checkpoint = load_checkpoint(path)
    assert checkpoint["epoch"] == 3 and float(checkpoint["bce_best"]) == pytest.approx(0.1234)
    assert all(key.startswith("module.") for key in checkpoint["state_dict"])
    assert (
        "module.encoder.classifier.weight" in checkpoint["state_dict"]
        and "module.fc.weight" in checkpoint["state_dict"]
    )

    restored = _model(seed=1)
    x = torch.randn(2, 3, 96, 96)
    assert not torch.equal(restored(x), model(x))
    load_weights(restored, checkpoint["state_dict"])
    with torch.inference_mode():
        assert torch.equal(restored(x), model(x))
        # the inference path (batch norm folded into the convolutions, channels-last) agrees too
        served = load_classifier(path, torch.device("cpu"))
        assert torch.allclose(served(x.contiguous(memory_format=torch.channels_last)), model(x), atol=1e-4)


def test_checkpoint_pickled_by_numpy_1_loads(tmp_path):
    """The 2020 release was written by torch's legacy serializer with numpy 1.x scalar paths."""
    model = _model()
    state_dict = {"module." + k: v for k, v in model.state_dict().items()}
    path = tmp_path / "legacy"
    torch.save(
        {"epoch": 36, "state_dict": state_dict, "bce_best": np.float64(0.2)},
        path,
        _use_new_zipfile_serialization=False,
    )
    raw = path.read_bytes()
    assert b"numpy._core.multiarray" in raw
    path.write_bytes(raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    checkpoint = load_checkpoint(path)
    assert float(checkpoint["bce_best"]) == pytest.approx(0.2)
    load_weights(_model(seed=2), checkpoint["state_dict"])


def test_missing_and_extra_keys_are_named(tmp_path):
    model = _model()
    state_dict = {"module." + k: v for k, v in model.state_dict().items()}
    del state_dict["module.fc.bias"]
    state_dict["module.extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r"missing keys: fc\.bias.*unexpected keys: extra\.weight"):
        load_weights(_model(), state_dict)


def test_wrong_shape_is_named():
    state_dict = dict(_model().state_dict())
    state_dict["fc.weight"] = torch.zeros(1, 7)
    with pytest.raises(CheckpointError, match=r"shape mismatch: fc\.weight"):
        load_weights(_model(), state_dict)


def test_unsafe_pickle_is_refused(tmp_path):
    path = tmp_path / "evil"
    torch.save({"state_dict": {}, "payload": object()}, path)
    with pytest.raises(CheckpointError, match="cannot load checkpoint"):
        load_checkpoint(path)


def test_architecture_comes_from_the_file_name():
    assert parse_checkpoint_name("weights/final_111_DeepFakeClassifier_tf_efficientnet_b7_ns_0_36") == (
        "DeepFakeClassifier",
        "tf_efficientnet_b7_ns",
    )
    assert parse_checkpoint_name("b5_DeepFakeClassifierSRM_tf_efficientnet_b5_ns_04d_3_best") == (
        "DeepFakeClassifierSRM",
        "tf_efficientnet_b5_ns_04d",
    )
    with pytest.raises(CheckpointError, match="cannot tell the architecture"):
        parse_checkpoint_name("model.pth")


def test_a_name_that_does_not_spell_the_architecture_is_read_as_the_original_did():
    from core.checkpoints import ORIGINAL_ARCHITECTURE, checkpoint_architecture

    assert (
        checkpoint_architecture("weights/b7_weights.pth")
        == ORIGINAL_ARCHITECTURE
        == ("DeepFakeClassifier", "tf_efficientnet_b7_ns")
    )
    assert checkpoint_architecture("b7_weights.pth", encoder="tf_efficientnet_b5_ns") == (
        "DeepFakeClassifier",
        "tf_efficientnet_b5_ns",
    )
    assert checkpoint_architecture("x_DeepFakeClassifierSRM_tf_efficientnet_b4_ns_1_3") == (
        "DeepFakeClassifierSRM",
        "tf_efficientnet_b4_ns",
    )


def test_a_checkpoint_is_scored_at_its_training_size_and_normalisation(trained_checkpoint, tmp_path):
    """train_classifier.py saves <run>.config.json beside <run>_<epoch>: inference takes size and
    normalisation from it."""
    import shutil

    from core.images import IMAGENET_MEAN, IMAGENET_STD, normalize_batch
    from inference.loading import InputSpec, load_classifier
    from inference.predictor import PredictorSettings, VideoPredictor

    device = torch.device("cpu")
    assert load_classifier(trained_checkpoint, device).input_spec == InputSpec(
        64, tuple(IMAGENET_MEAN), tuple(IMAGENET_STD)
    )
    # an explicit size wins
    assert load_classifier(trained_checkpoint, device, input_size=96).input_spec.size == 96

    copy = tmp_path / trained_checkpoint.name
    shutil.copy(trained_checkpoint, copy)
    config = json.loads(
        trained_checkpoint.with_name("parity_DeepFakeClassifier_resnet18_99.config.json").read_text()
    )
    config["normalize"] = {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
    (tmp_path / "parity_DeepFakeClassifier_resnet18_99.config.json").write_text(json.dumps(config))
    model = load_classifier(copy, device)
    assert model.input_spec == InputSpec(64, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    faces = [np.random.default_rng(seed).integers(0, 255, (64, 64, 3), dtype=np.uint8) for seed in range(3)]
    scores = VideoPredictor({"m": model}, None, device, PredictorSettings(parallel_batches=1)).classify(
        {64: faces}
    )["m"]
    with torch.no_grad():
        expected = torch.sigmoid(
            model(normalize_batch(faces, device, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)))
        ).flatten()
    np.testing.assert_allclose(scores, expected.numpy(), atol=1e-6)

    (tmp_path / "parity_DeepFakeClassifier_resnet18_99.config.json").write_text("{broken")
    with pytest.raises(CheckpointError, match="cannot read the training config"):
        load_classifier(copy, device)
