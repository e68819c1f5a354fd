"""Training images per second for a config on the present device, and the share of time spent waiting for
batches.

    python -m benchmarks.benchmark_training --config configs/b7.json --data-dir DATA_ROOT \
        --folds-csv DATA_ROOT/folds.csv --batches 50
    torchrun --nproc_per_node=8 -m benchmarks.benchmark_training ...   (all GPUs of a machine)

It trains one short epoch of --batches batches (validation off, checkpoints to a
temporary folder). A data-wait share near 0 means loading keeps the device busy;
raise --workers when it is not.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

from core.cli import ArgumentParser, at_least
from core.device import DEVICE_CHOICES
from core.offline import stay_offline


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="training config, e.g. configs/b7.json")
    parser.add_argument("--data-dir", required=True, help="preprocessed DATA_ROOT")
    parser.add_argument("--folds-csv", required=True, help="its folds.csv")
    parser.add_argument("--batches", type=at_least(1), default=50, help="batches to time")
    parser.add_argument(
        "--workers", type=at_least(0), default=4, help="data loading processes per training process"
    )
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="where to train")
    args = parser.parse_args(argv)
    stay_offline()
    from training.config import load_config
    from training.trainer import Trainer, TrainOptions

    config = load_config(args.config)
    config["pretrained"] = False  # the speed does not depend on where the weights start
    config["batches_per_epoch"] = args.batches
    config["optimizer"]["schedule"]["epochs"] = 1
    with tempfile.TemporaryDirectory() as tmp:
        options = TrainOptions(
            config=config,
            data_dir=Path(args.data_dir),
            folds_csv=Path(args.folds_csv),
            fold=-1,
            validate=False,  # every fold trains; the benchmark times training alone
            output_dir=Path(tmp),
            log_dir=Path(tmp),
            workers=args.workers,
            device=args.device,
        )
        trainer = Trainer(options)
        device = trainer.dist.device
        summary = trainer.train_epoch(0)
        trainer.dist.close()
    if trainer.dist.main:
        print(
            f"{config['encoder']} at {config['size']}px, batch {config['optimizer']['batch_size']} x "
            f"{trainer.dist.world_size} "
            f"process(es) on {device}: {summary['images_per_second']:.1f} images/s, "
            f"{100 * summary['data_wait_fraction']:.0f}% of the time waiting for batches"
            + (
                f", peak CUDA memory {torch.cuda.max_memory_allocated(device) / 1024**3:.1f} GB"
                if device.type == "cuda"
                else ""
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
