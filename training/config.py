"""Training configs (configs/*.json): read, check against the known keys, fill in defaults.

An unknown key is an error, not a silent no-op: a misspelt "learning_rte" must
not train at the default rate for 40 epochs.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

from training.zoo.classifiers import NETWORKS

DEFAULTS: dict = {
    "network": "DeepFakeClassifier",
    "encoder": "tf_efficientnet_b7_ns",
    # None: the network's own (0.0 for DeepFakeClassifier, 0.5 for the SRM and GWAP ones): the original's
    # configs had no such key and its trainer built every network with the encoder alone
    "dropout_rate": None,
    # the original's trainer always started from ImageNet weights, so a config that does not say starts from
    # them too: false (random start), true (timm's local cache) or a path to ImageNet weights
    "pretrained": True,
    "batches_per_epoch": 2500,
    "size": 380,
    "fp16": True,
    # where training fakes come from: folds.csv's fake crops, or "sbi" (self-blended from the reals)
    "fakes": "dataset",
    "frames_per_video": 0,  # with "sbi": REAL crops used per video, evenly spaced (0: all)
    "optimizer": {
        "batch_size": 12,
        "type": "SGD",
        "momentum": 0.9,
        "weight_decay": 1e-4,
        "learning_rate": 0.01,
        "nesterov": True,
        "rho": 0.05,  # SAM's neighbourhood radius
        "schedule": {"type": "poly", "mode": "step", "epochs": 40, "params": {"max_iter": 100500}},
    },
    "normalize": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
    "losses": {"BinaryCrossentropy": 1},
    # what the trainer records in the config it saves beside its checkpoints (the data it trained on, for the
    # scoring report); a saved config given back as --config is thus a config like any other, and the new run
    # records its own
    "trained_on": None,
}

OPTIMIZERS = ("SGD", "AdamW", "SAM")  # SAM: sharpness-aware steps around SGD (training/sam.py)
SCHEDULES = (
    "poly",
    "constant",
    "linear_decay",
)  # linear_decay: constant, then linearly to 0 from params.start_epoch
FAKE_SOURCES = ("dataset", "sbi")


class ConfigError(ValueError):
    pass


def _merge(defaults: dict, given: dict, path: str = "") -> dict:
    merged = copy.deepcopy(defaults)
    for key, value in given.items():
        where = f"{path}{key}"
        if key not in defaults:
            raise ConfigError(f"unknown config key {where!r}; known here: {', '.join(sorted(defaults))}")
        if isinstance(defaults[key], dict) and key != "params":
            if not isinstance(value, dict):
                raise ConfigError(f"config key {where!r} must be an object")
            merged[key] = _merge(defaults[key], value, f"{where}.")
        else:
            merged[key] = value
    return merged


def load_config(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config not found: {path}")
    try:
        given = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path} is not valid JSON: {error}") from error
    config = _merge(DEFAULTS, given)
    if config["network"] not in NETWORKS:
        raise ConfigError(f"unknown network {config['network']!r}; use one of {', '.join(NETWORKS)}")
    if config["optimizer"]["type"] not in OPTIMIZERS:
        raise ConfigError(
            f"unknown optimizer {config['optimizer']['type']!r}; use one of {', '.join(OPTIMIZERS)}"
        )
    if config["optimizer"]["schedule"]["type"] not in SCHEDULES:
        raise ConfigError(
            f"unknown schedule {config['optimizer']['schedule']['type']!r}; use one of {', '.join(SCHEDULES)}"
        )
    if config["fakes"] not in FAKE_SOURCES:
        raise ConfigError(f"unknown fakes {config['fakes']!r}; use one of {', '.join(FAKE_SOURCES)}")
    losses = config["losses"]
    if set(losses) != {"BinaryCrossentropy"}:
        raise ConfigError(f"only the BinaryCrossentropy loss is supported, got {', '.join(losses)}")
    return config
