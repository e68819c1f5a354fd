"""Train a DFDC face classifier from a JSON config on preprocessed crops (see preprocess_data.sh).

One device:        python train_classifier.py --config configs/b7.json --data-dir DATA_ROOT --folds-csv
DATA_ROOT/folds.csv
Several GPUs:      torchrun --nproc_per_node=N train_classifier.py ...same options...
Several machines:  torchrun --nnodes=M --node_rank=R --rdzv_backend=c10d --rdzv_endpoint=HOST:PORT
--nproc_per_node=N train_classifier.py ...
A quick run:       python train_classifier.py --config configs/tiny.json ... --epochs 2 --batches-per-epoch 10

docs/training.md walks through it on FaceForensics++ and Celeb-DF.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from core.cli import ArgumentParser, at_least
from core.device import DEVICE_CHOICES, DeviceUnavailableError
from core.offline import stay_offline


def add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", required=True, help="JSON config, e.g. configs/b7.json; unknown keys are an error"
    )
    parser.add_argument(
        "--data-dir", required=True, help="DATA_ROOT after preprocess_data.sh (crops/, landmarks/, diffs/)"
    )
    parser.add_argument(
        "--folds-csv", required=True, help="folds.csv written by preprocessing/generate_folds.py"
    )
    parser.add_argument(
        "--fold",
        type=at_least(0),
        default=0,
        help="validation fold; the others are trained on. A fold with no rows in --folds-csv stops the run "
        "before it starts, naming the folds that have rows (default: 0)",
    )
    parser.add_argument(
        "--no-validation",
        action="store_true",
        help="train on every fold and validate on none: no _best checkpoint and no validation losses for "
        "plot_loss.py",
    )


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Length of the run, checkpoints, logs and validation."""
    parser.add_argument(
        "--epochs",
        type=at_least(1),
        default=None,
        help="number of epochs instead of the config's optimizer.schedule.epochs; the poly schedule's "
        "horizon "
        "(max_iter) is scaled with the run's batches, so the learning rate still decays over the whole run",
    )
    parser.add_argument(
        "--batches-per-epoch",
        type=at_least(1),
        default=None,
        help="the most batches an epoch takes, per process, instead of the config's batches_per_epoch (a "
        "cap: an epoch ends sooner when the training rows run out); max_iter is scaled as with --epochs",
    )
    parser.add_argument(
        "--seed", type=int, default=111, help="seed for initialisation, sampling and augmentation"
    )
    parser.add_argument("--prefix", default="", help="checkpoint name prefix, e.g. b7_111_")
    parser.add_argument(
        "--output-dir", default="weights", help="where checkpoints and the resolved config go"
    )
    parser.add_argument(
        "--logdir", default="logs", help="where the training logs go (text for plot_loss.py, and JSON lines)"
    )
    parser.add_argument(
        "--resume",
        default=None,
        help="checkpoint to continue from (a _last one restores optimizer, schedule and scaler)",
    )
    parser.add_argument(
        "--from-zero", action="store_true", help="with --resume: keep only the weights and start at epoch 0"
    )
    parser.add_argument(
        "--freeze-epochs", type=at_least(0), default=0, help="train only the head for this many first epochs"
    )
    parser.add_argument(
        "--test-every", type=at_least(1), default=1, help="validate every N epochs (on rank 0)"
    )


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """Sampling, augmentation, data loading, device and the encoder's ImageNet weights."""
    parser.add_argument(
        "--no-oversample",
        action="store_true",
        help="use every crop each epoch instead of as many fakes as reals",
    )
    parser.add_argument(
        "--no-hardcore", action="store_true", help="turn off the face-part blackout augmentation"
    )
    parser.add_argument(
        "--label-smoothing", type=float, default=0.01, help="training labels are clipped to [s, 1 - s]"
    )
    parser.add_argument(
        "--workers", type=at_least(0), default=4, help="data loading processes per training process"
    )
    parser.add_argument(
        "--device", choices=DEVICE_CHOICES, default="auto", help="cuda uses one GPU per process (LOCAL_RANK)"
    )
    parser.add_argument(
        "--pretrained",
        default=None,
        help="ImageNet weights file for the encoder, instead of the config's \"pretrained\" (true: timm's "
        "local cache)",
    )
    parser.add_argument(
        "--download-pretrained",
        action="store_true",
        help="let timm fetch the config's ImageNet weights from the Hugging Face hub when they are not in "
        "its cache (otherwise nothing is downloaded and missing weights stop the run before it starts)",
    )


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_options(parser)
    add_run_options(parser)
    add_training_options(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    stay_offline(allow_hub=args.download_pretrained)
    # Loaded after the options are parsed, so that --help answers at once instead of after seconds of imports.
    from core.checkpoints import CheckpointError
    from training.best_epoch import BY_AUC
    from training.config import ConfigError, load_config
    from training.trainer import Trainer, TrainOptions, with_run_length

    try:
        config = with_run_length(load_config(args.config), args.epochs, args.batches_per_epoch)
        if args.pretrained:
            config["pretrained"] = args.pretrained
        options = TrainOptions(
            config=config,
            data_dir=Path(args.data_dir),
            folds_csv=Path(args.folds_csv),
            fold=args.fold,
            seed=args.seed,
            prefix=args.prefix,
            output_dir=Path(args.output_dir),
            log_dir=Path(args.logdir),
            resume=Path(args.resume) if args.resume else None,
            from_zero=args.from_zero,
            freeze_epochs=args.freeze_epochs,
            test_every=args.test_every,
            oversample=not args.no_oversample,
            hardcore=not args.no_hardcore,
            label_smoothing=args.label_smoothing,
            workers=args.workers,
            device=args.device,
            download_pretrained=args.download_pretrained,
            validate=not args.no_validation,
        )
        if not options.folds_csv.is_file():
            raise FileNotFoundError(f"folds file not found: {options.folds_csv}")
        trainer = Trainer(options)
    except (ConfigError, CheckpointError, DeviceUnavailableError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    best = trainer.run()
    if trainer.dist.main and options.validate:
        chosen = f", its AUC {trainer.best.auc:.4f} the highest" if trainer.best.by == BY_AUC else ""
        print(f"done: best validation score {best:.4f}{chosen}; checkpoints in {options.output_dir}")
    elif trainer.dist.main:
        print(f"done: trained without validation (no _best checkpoint); checkpoints in {options.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
