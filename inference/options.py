"""The model options that predict_folder.py and evaluate_robustness.py share, built once, and their checks.

Kept free of torch, so that --help and a missing file are answered before the heavy imports.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from inference.inputs import InputError

LIST_RELEASED = "python -m inference.released_weights --names"


def add_model_options(group) -> None:
    """--weights-dir, --models (required: the parser's usage line says so, the check is in checked_weights, so
    that a command with another mode, predict_folder.py --merge, can go without), --network and --encoder."""
    group.add_argument(
        "--weights-dir",
        default="weights",
        metavar="DIR",
        help="folder holding the checkpoint files named by --models",
    )
    group.add_argument(
        "--models",
        nargs="+",
        metavar="NAME",
        help=f"required: checkpoint file names in --weights-dir; the architecture is read from "
        f"<prefix><Network>_<encoder>_<fold>_<epoch>. The released ones: {LIST_RELEASED}",
    )
    group.add_argument(
        "--network",
        default=None,
        help="network class of every checkpoint, instead of what the names say (default: from the names, "
        "else DeepFakeClassifier, as the original assumed)",
    )
    group.add_argument(
        "--encoder",
        default=None,
        help="encoder of every checkpoint, e.g. tf_efficientnet_b5_ns (default: from the names, else "
        "tf_efficientnet_b7_ns)",
    )


def checked_weights(args: argparse.Namespace) -> list[Path]:
    """The checkpoint files --models names in --weights-dir; a missing folder or file, or an unknown
    --network, raises InputError before anything is loaded."""
    weights_dir = Path(args.weights_dir)
    if not weights_dir.is_dir():
        raise InputError(
            f"weights folder not found: {weights_dir} (download_weights.sh fetches the released ones)"
        )
    weights = [weights_dir / name for name in args.models]
    for path in weights:
        if not path.is_file():
            raise InputError(f"weights file not found: {path} (the released names: {LIST_RELEASED})")
    if args.network:
        # torch and timm: seconds, so only when there is a name to check
        from training.zoo.classifiers import NETWORKS

        if args.network not in NETWORKS:
            raise InputError(f"--network {args.network}: use one of {', '.join(NETWORKS)}")
    return weights
