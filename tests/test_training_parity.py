"""The training recipe is the original solution's: its configs resolve to its settings, its networks keep
their dropout, and its poly schedule steps at batch + epoch * batches_per_epoch (values written out from the
original's code)."""

import json

import pytest

from tests.commands import train_options
from tests.conftest import REPO
from training.config import load_config
from training.trainer import Trainer
from training.zoo.classifiers import NETWORKS

# The original repository's configs/b7.json and configs/b5.json, key for key: no "pretrained", no
# "dropout_rate".
ORIGINAL_OPTIMIZER = {
    "type": "SGD",
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "learning_rate": 0.01,
    "nesterov": True,
}
ORIGINAL_CONFIGS = {
    "b7.json": {
        "network": "DeepFakeClassifier",
        "encoder": "tf_efficientnet_b7_ns",
        "batches_per_epoch": 2500,
        "size": 380,
        "fp16": True,
        "optimizer": {
            "batch_size": 12,
            **ORIGINAL_OPTIMIZER,
            "schedule": {"type": "poly", "mode": "step", "epochs": 40, "params": {"max_iter": 100500}},
        },
        "normalize": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
        "losses": {"BinaryCrossentropy": 1},
    },
    "b5.json": {
        "network": "DeepFakeClassifier",
        "encoder": "tf_efficientnet_b5_ns",
        "batches_per_epoch": 2500,
        "size": 380,
        "fp16": True,
        "optimizer": {
            "batch_size": 20,
            **ORIGINAL_OPTIMIZER,
            "schedule": {"type": "poly", "mode": "step", "epochs": 30, "params": {"max_iter": 75100}},
        },
        "normalize": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
        "losses": {"BinaryCrossentropy": 1},
    },
}


def only_keys_of(original: dict, resolved: dict) -> dict:
    """The resolved config cut down to the keys the original config has, at every level."""
    return {
        key: only_keys_of(value, resolved[key]) if isinstance(value, dict) else resolved[key]
        for key, value in original.items()
    }


@pytest.mark.parametrize("name", sorted(ORIGINAL_CONFIGS))
def test_the_originals_configs_resolve_to_its_settings_and_ours_are_the_same(tmp_path, name):
    original = tmp_path / name
    original.write_text(json.dumps(ORIGINAL_CONFIGS[name]))
    resolved = load_config(original)
    # its trainer built every network from the encoder alone: ImageNet + Noisy Student weights, the network's
    # own dropout
    assert resolved["pretrained"] is True and resolved["dropout_rate"] is None
    assert only_keys_of(ORIGINAL_CONFIGS[name], resolved) == ORIGINAL_CONFIGS[name]
    # keys the original did not have keep its behaviour: fakes from the dataset, SGD (SAM's radius unused)
    assert resolved["fakes"] == "dataset" and resolved["optimizer"]["type"] == "SGD"
    assert load_config(REPO / "configs" / name) == resolved


@pytest.mark.parametrize(
    "network, dropout",
    [("DeepFakeClassifier", 0.0), ("DeepFakeClassifierSRM", 0.5), ("DeepFakeClassifierGWAP", 0.5)],
)
def test_a_config_without_dropout_keeps_the_networks_own(tmp_path, network, dropout):
    """The original's classifiers: DeepFakeClassifier(dropout_rate=0.0), the SRM and GWAP ones 0.5."""
    config = {**ORIGINAL_CONFIGS["b7.json"], "network": network}
    (tmp_path / "c.json").write_text(json.dumps(config))
    resolved = load_config(tmp_path / "c.json")
    model = NETWORKS[resolved["network"]]("tf_efficientnet_b0_ns", resolved["dropout_rate"])
    assert model.dropout.p == dropout
    # a config that says so still decides
    assert NETWORKS[network]("tf_efficientnet_b0_ns", 0.25).dropout.p == 0.25


def test_the_gwap_config_is_b7s_recipe_on_the_gwap_network():
    gwap = load_config(REPO / "configs" / "b7_gwap.json")
    assert (
        gwap["network"] == "DeepFakeClassifierGWAP"
        and gwap["dropout_rate"] is None
        and gwap["pretrained"] is True
    )
    assert {**gwap, "network": "DeepFakeClassifier"} == load_config(REPO / "configs" / "b7.json")


def test_the_poly_schedule_steps_at_the_originals_batch_positions(tmp_path):
    """The original stepped PolyLR to i + epoch * batches_per_epoch after every batch i, and PolyLR then set
    the rate base * (1 - (position + 1) / max_iter) ** 0.9; its constructor had stepped once, so batch 0 ran
    at position 1. Here an epoch has 4 batches of data but batches_per_epoch says 6: epoch 1 starts at
    position 6, not 4."""
    from tests.test_training import make_bright_fakes_dataset, write_config

    make_bright_fakes_dataset(tmp_path)
    config = load_config(
        write_config(
            tmp_path / "poly.json",
            encoder="resnet18",
            size=32,
            batches_per_epoch=6,
            optimizer={
                "batch_size": 8,
                "type": "SGD",
                "learning_rate": 0.01,
                "schedule": {"type": "poly", "mode": "step", "epochs": 2, "params": {"max_iter": 40}},
            },
        )
    )
    trainer = Trainer(train_options(config, tmp_path, tmp_path / "w", 1, hardcore=False, test_every=10))
    rates = []
    trainer.optimizer.register_step_pre_hook(
        lambda optimizer, args, kwargs: rates.append(optimizer.param_groups[0]["lr"])
    )
    trainer.run()

    def original_rate(position):
        return 0.01 * (1 - (position % 40) / 40) ** 0.9

    # the position each batch ran at: 1 for the first, then the one set after the batch before it (i + epoch *
    # 6 + 1)
    positions, position = [], 1
    for epoch in range(2):
        for batch in range(4):
            positions.append(position)
            position = batch + epoch * 6 + 1
    assert positions == [1, 1, 2, 3, 4, 7, 8, 9]
    assert rates == pytest.approx([original_rate(p) for p in positions], rel=1e-12)
