"""Heat maps (inference.explain) on real faces with a trained checkpoint: the layer they come from, that they
are Grad-CAM exactly on the last feature map, and that they survive the diagnostics' encoding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.faces import crop_face
from core.images import face_to_model_input, normalize_batch
from inference.explain import HeatMapExplainer, decode_map, encode_map, heat_map_layer
from inference.loading import InputSpec, read_classifier
from tests.conftest import shared_video
from training.zoo.classifiers import DeepFakeClassifier


@pytest.fixture(scope="module")
def real_faces(faces_634):
    faces = [
        crop_face(frame, found[0].box)
        for frame, found in zip(faces_634.sampled.frames, faces_634.faces, strict=True)
        if found
    ]
    assert len(faces) == 4
    return faces


@pytest.mark.parametrize(
    "encoder, size, layer, shape",
    [
        ("resnet18", 64, "encoder.layer2", (8, 8)),  # the last map would be 2x2
        ("resnet18", 256, "encoder.layer4", (8, 8)),
        # the released B7s' last map has this size too
        ("tf_efficientnet_b0_ns", 380, "encoder.bn2", (12, 12)),
        ("tf_efficientnet_b0_ns", 64, "encoder.blocks.2", (8, 8)),
    ],
)
def test_the_map_comes_from_the_last_feature_map_or_the_deepest_stage_of_8x8(encoder, size, layer, shape):
    found = heat_map_layer(DeepFakeClassifier(encoder).eval(), size)
    assert (found.name, found.shape) == (layer, shape)


def test_on_the_last_feature_map_the_heat_map_is_grad_cam(trained_checkpoint, real_faces):
    """At 256 px the ResNet-18's last map is 8x8, so the map is taken there, where averaging and one linear
    layer follow: HiResCAM and captum's own Grad-CAM must agree."""
    from captum.attr import LayerGradCam

    spec = InputSpec(256)
    explainer = HeatMapExplainer({"model": trained_checkpoint}, {"model": spec}, torch.device("cpu"))
    assert explainer.layers["model"].name == "encoder.layer4"
    inputs = [face_to_model_input(face, 256) for face in real_faces]
    ours = [decode_map(text, (8, 8)) for text in explainer.explain({256: inputs})["model"]["faces"]]
    model = read_classifier(trained_checkpoint).eval()
    batch = normalize_batch(inputs, "cpu", torch.float32, spec.mean, spec.std).requires_grad_(True)
    grad_cam = (
        LayerGradCam(model, model.encoder.layer4)
        .attribute(batch, target=0, relu_attributions=True)[:, 0]
        .detach()
        .numpy()
    )
    for mine, theirs in zip(ours, grad_cam, strict=True):
        assert theirs.max() > 0
        # the stored map is scaled to 0-255
        np.testing.assert_allclose(mine, theirs / theirs.max(), atol=1 / 255)
        assert mine.max() == 1.0 and mine.std() > 0.05  # a map, not a flat field


def test_a_face_gets_one_map_per_model_at_the_layer_for_its_size(
    trained_checkpoint, small_checkpoint, real_faces
):
    specs = {"tiny": InputSpec(64), "b0": InputSpec(128)}
    explainer = HeatMapExplainer(
        {"tiny": trained_checkpoint, "b0": small_checkpoint}, specs, torch.device("cpu")
    )
    explained = explainer.explain(
        {size: [face_to_model_input(face, size) for face in real_faces] for size in (64, 128)}
    )
    assert {
        name: (entry["layer"], entry["shape"], len(entry["faces"])) for name, entry in explained.items()
    } == {"tiny": ("encoder.layer2", [8, 8], 4), "b0": ("encoder.blocks.4", [8, 8], 4)}
    assert len({entry for entry in explained["tiny"]["faces"]}) == 4  # every face its own map


def test_maps_round_trip_through_the_diagnostics_text():
    heat = np.random.default_rng(0).random((12, 12)).astype(np.float32) * 3
    text = encode_map(heat)
    assert len(text) == 192
    np.testing.assert_allclose(decode_map(text, (12, 12)), heat / heat.max(), atol=0.5 / 255)
    assert decode_map(encode_map(np.zeros((8, 8), np.float32)), (8, 8)).max() == 0


def test_heat_maps_that_fail_cost_the_maps_not_the_scores(trained_checkpoint, detector):
    """A backward pass can run out of memory where scoring does not: the video keeps its scores and says why
    it has no maps."""
    from inference.folder import has_heat_maps
    from inference.loading import load_classifier
    from inference.predictor import PredictorSettings, VideoPredictor

    class OutOfMemory:
        def explain(self, inputs, positions=None):
            raise MemoryError("cannot allocate 2.8 GB")

    device = torch.device("cpu")
    models = {"tiny": load_classifier(trained_checkpoint, device, backend="torch")}
    video = shared_video("ffpp/original_sequences/youtube/c23/videos/634.mp4")
    plain = VideoPredictor(models, detector, device, PredictorSettings(num_frames=4)).predict(video)
    predictor = VideoPredictor(
        models, detector, device, PredictorSettings(num_frames=4, explain_faces="kept"), OutOfMemory()
    )
    explained = predictor.predict(video)
    assert (
        explained.fallback is None
        and not explained.transient
        and explained.score == plain.score
        and explained.scores == plain.scores
    )
    assert (
        explained.heatmaps == {} and explained.note == "heat maps failed: MemoryError: cannot allocate 2.8 GB"
    )
    assert not has_heat_maps(explained, "kept")  # so a rerun with --explain scores it again
