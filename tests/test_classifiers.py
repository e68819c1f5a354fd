import pytest
import torch
from timm.layers import DropPath
from torch import nn

from inference.loading import prepare_for_inference
from inference.optimize import PackedConv2d, fold_batchnorm
from training.zoo.classifiers import (
    LEGACY_ENCODERS,
    DeepFakeClassifier,
    DeepFakeClassifierGWAP,
    DeepFakeClassifierSRM,
    EncoderNotFoundError,
    create_encoder,
    srm_kernels,
)


def _max_drop_path(encoder: nn.Module) -> float:
    # timm raises the rate linearly over the blocks, reaching rate * (n - 1) / n at the last one
    return max(m.drop_prob for m in encoder.modules() if isinstance(m, DropPath))


def test_b7_encoder_matches_the_released_architecture():
    model = DeepFakeClassifier("tf_efficientnet_b7_ns")
    assert model.encoder.num_features == 2560 and model.fc.in_features == 2560
    assert _max_drop_path(model.encoder) == pytest.approx(0.2, rel=0.05)
    keys = model.state_dict().keys()
    assert "encoder.conv_stem.weight" in keys and "encoder.classifier.weight" in keys and "fc.bias" in keys
    # tf_ models keep TensorFlow's 'same' padding and BN epsilon
    assert model.encoder.bn1.eps == pytest.approx(1e-3)


@pytest.mark.parametrize(
    "name, features",
    [
        ("tf_efficientnet_b2_ns", 1408),
        ("tf_efficientnet_b4_ns_03d", 1792),
        ("tf_efficientnet_b5_ns_04d", 2048),
    ],
)
def test_legacy_names_map_to_timm(name, features):
    encoder = create_encoder(name)
    assert encoder.num_features == features
    assert _max_drop_path(encoder) == pytest.approx(LEGACY_ENCODERS[name][1], rel=0.05)


def test_unknown_encoder_and_missing_weights_are_errors(tmp_path):
    with pytest.raises(EncoderNotFoundError, match="unknown encoder"):
        create_encoder("not_a_model")
    with pytest.raises(FileNotFoundError):
        create_encoder("tf_efficientnet_b0_ns", pretrained=tmp_path / "none.pth")


def test_encoder_weights_from_a_local_file(tmp_path):
    source = create_encoder("tf_efficientnet_b0_ns")
    path = tmp_path / "b0.pth"
    torch.save(source.state_dict(), path)
    loaded = create_encoder("tf_efficientnet_b0_ns", pretrained=path)
    assert torch.equal(loaded.conv_stem.weight, source.conv_stem.weight)


def test_variants_give_one_logit_per_image():
    x = torch.randn(2, 3, 64, 64)
    for cls in (DeepFakeClassifier, DeepFakeClassifierSRM, DeepFakeClassifierGWAP):
        model = cls("tf_efficientnet_b0_ns").eval()
        assert model(x).shape == (2, 1)
    srm = DeepFakeClassifierSRM("tf_efficientnet_b0_ns")
    assert "srm_conv.weight" in srm.state_dict() and not srm.srm_conv.weight.requires_grad
    gwap = DeepFakeClassifierGWAP("tf_efficientnet_b0_ns")
    assert "avg_pool.conv.weight" in gwap.state_dict()


def test_srm_filters_remove_flat_and_linear_signals():
    kernels = srm_kernels(3)
    assert kernels.shape == (3, 3, 5, 5)
    flat = torch.ones(1, 3, 9, 9)
    ramp = torch.arange(9.0).view(1, 1, 1, 9).expand(1, 3, 9, 9)
    for image in (flat, ramp):
        assert torch.allclose(
            nn.functional.conv2d(image, kernels)[..., 2:-2, 2:-2], torch.zeros(1), atol=1e-5
        )


def _with_batchnorm_statistics(model: nn.Module) -> nn.Module:
    """Non-trivial running statistics, as trained weights have."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model


def _assert_same_features(actual: torch.Tensor, expected: torch.Tensor) -> None:
    scale = expected.abs().max()
    assert scale > 0
    assert (actual - expected).abs().max() <= 1e-3 * scale


def test_folding_batchnorm_keeps_the_outputs():
    torch.manual_seed(0)
    model = _with_batchnorm_statistics(DeepFakeClassifier("tf_efficientnet_b0_ns").eval())
    x = torch.randn(2, 3, 96, 96)
    with torch.inference_mode():
        expected = model.pooled_features(x)
        folded = fold_batchnorm(model.encoder)
        assert folded == sum(isinstance(m, nn.Conv2d) for m in model.encoder.modules()) - 2 * len(
            [m for m in model.encoder.modules() if type(m).__name__ == "SqueezeExcite"]
        )
        assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
        _assert_same_features(model.pooled_features(x), expected)


def test_packed_convolutions_keep_the_outputs_for_any_input_shape():
    torch.manual_seed(0)
    model = _with_batchnorm_statistics(DeepFakeClassifier("tf_efficientnet_b0_ns").eval())
    squeeze_excites = [m for m in model.encoder.modules() if type(m).__name__ == "SqueezeExcite"]
    convolutions = sum(isinstance(m, nn.Conv2d) for m in model.encoder.modules())
    inputs = [torch.randn(1, 3, 96, 96), torch.randn(3, 3, 72, 100)]  # the size packed for, and another shape
    with torch.inference_mode():
        expected = [model.pooled_features(x) for x in inputs]
        prepare_for_inference(model, torch.device("cpu"), input_size=96)
        packed = [m for m in model.encoder.modules() if isinstance(m, PackedConv2d)]
        # every convolution but the squeeze-excitation pairs, the stride-2 ones with TF "SAME" padding among
        # them
        assert len(packed) == convolutions - 2 * len(squeeze_excites)
        assert (
            any(m.same_padding for m in packed) and sum(m.attr == "swish" for m in packed) > len(packed) / 2
        )
        # stride-2 depthwise ones whose TF padding is lopsided at 96 px pad with shifted weights; the other
        # shape meets them with even padding on both sides, on one side only (a padded copy) and lopsided like
        # 96 px
        assert sum(m.shifted_weight is not None for m in packed) == 4
        # the SiLUs now run inside the convolutions
        assert sum(isinstance(m, nn.SiLU) for m in model.encoder.modules()) == len(squeeze_excites)
        for x, features in zip(inputs, expected, strict=True):
            _assert_same_features(
                model.pooled_features(x.contiguous(memory_format=torch.channels_last)), features
            )
