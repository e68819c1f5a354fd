"""The training loop: one process per device under torchrun (DDP), or a single process."""

from __future__ import annotations

import copy
import datetime
import json
import logging
import os
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from timm.layers import convert_sync_batchnorm
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from core.atomic import atomic_path, write_json_atomic
from core.checkpoints import load_checkpoint, load_weights, save_checkpoint
from core.device import resolve_device
from core.metrics import video_scores
from preprocessing.dataset import load_dataset
from training.augmentations import create_train_transforms, create_val_transforms
from training.best_epoch import BY_AUC, BestEpoch
from training.datasets import BalancedEpochSampler, FaceCrops, read_folds
from training.losses import fake_real_bce
from training.sam import SharpnessAwareStep
from training.sbi_dataset import (
    SelfBlendedPairs,
    SelfBlendedValidation,
    collate_pairs,
    collate_validation_pairs,
    sbi_rows,
)
from training.zoo.classifiers import NETWORKS

log = logging.getLogger("dfdc.train")


@dataclass
class TrainOptions:
    config: dict
    data_dir: Path
    folds_csv: Path
    fold: int = 0
    seed: int = 111
    prefix: str = ""
    output_dir: Path = Path("weights")
    log_dir: Path = Path("logs")
    resume: Path | None = None
    from_zero: bool = False
    freeze_epochs: int = 0
    test_every: int = 1
    oversample: bool = True
    hardcore: bool = True
    label_smoothing: float = 0.01
    workers: int = 4
    device: str = "auto"
    download_pretrained: bool = False  # let timm fetch ImageNet weights missing from its cache
    validate: bool = True  # False (--no-validation): train on every fold and validate on none


class Distributed:
    """Rank, world size and device of this process; torchrun's environment turns DDP on."""

    def __init__(self, device_name: str):
        self.world_size = int(os.environ.get("WORLD_SIZE", 1))
        self.rank = int(os.environ.get("RANK", 0))
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        device = resolve_device(device_name)
        self.device = torch.device("cuda", local_rank) if device.type == "cuda" else device
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if self.world_size > 1:
            # the other ranks wait at a barrier while rank 0 validates, which can outlast the default timeout
            dist.init_process_group(
                "nccl" if self.device.type == "cuda" else "gloo", timeout=datetime.timedelta(hours=3)
            )

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled:
            dist.destroy_process_group()


def with_run_length(config: dict, epochs: int | None = None, batches_per_epoch: int | None = None) -> dict:
    """The config of a shorter (or longer) run: the poly schedule's horizon (`max_iter`, in batches) is scaled
    by the same factor as the run's batches (epochs x batches_per_epoch), so the learning rate still decays
    over the whole run instead of stopping near its start value."""
    if epochs is None and batches_per_epoch is None:
        return config
    config = copy.deepcopy(config)
    schedule = config["optimizer"]["schedule"]
    before = schedule["epochs"] * config["batches_per_epoch"]
    schedule["epochs"] = epochs if epochs is not None else schedule["epochs"]
    config["batches_per_epoch"] = (
        batches_per_epoch if batches_per_epoch is not None else config["batches_per_epoch"]
    )
    after = schedule["epochs"] * config["batches_per_epoch"]
    schedule["params"]["max_iter"] = max(1, round(schedule["params"]["max_iter"] * after / before))
    return config


def split_folds(folds_csv: Path, fold: int, validate: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, validation rows): outside and inside `fold`, or every row and none without validation.
    A validation fold with no rows is an error naming the folds that have some, so that a run never trains for
    hours with nothing to choose its best epoch by."""
    train_rows, val_rows = read_folds(folds_csv, fold, train=True), read_folds(folds_csv, fold, train=False)
    if not validate:
        train_rows, val_rows = pd.concat([train_rows, val_rows], ignore_index=True), val_rows.iloc[:0]
    elif not len(val_rows):
        counts = train_rows.groupby("fold")["video"].nunique()
        present = ", ".join(f"{number} ({count} videos)" for number, count in counts.items()) or "none"
        raise ValueError(
            f"validation fold {fold} has no rows in {folds_csv}; the folds with rows: {present}. "
            f"Choose one with --fold, or train on every fold without validation with --no-validation"
        )
    if not len(train_rows):
        raise ValueError(f"no training rows in {folds_csv}" + (f" outside fold {fold}" if validate else ""))
    return train_rows, val_rows


def trained_on(data_dir: Path, rows: pd.DataFrame, validation_fold: int | None) -> dict:
    """What a run trains on, kept in the config saved beside its checkpoints, so that the scoring report can
    say what the models learnt from: the DATA_ROOT, its videos per source folder (DFDC part, converted FF++
    method or Celeb-DF subset) and the fold held out."""
    videos = rows["video"].unique()
    try:
        parts = {video_id: entry.part for video_id, entry in load_dataset(data_dir).videos.items()}
    except FileNotFoundError:  # crops without the videos' metadata: the folders are unknown
        parts = {}
    folders = Counter(parts.get(video, "(unknown folder)") for video in videos)
    return {
        "data_dir": str(Path(data_dir).resolve()),
        "videos": len(videos),
        "folders": dict(sorted(folders.items())),
        "validation_fold": validation_fold,
    }


def poly_schedule(max_iter: int, power: float = 0.9):
    """The original's PolyLR as a factor of the base rate at each step; its first batch already ran at step
    1's rate (its constructor stepped once)."""
    return lambda step: max(0.0, 1 - max(step, 1) / max_iter) ** power


def linear_decay_schedule(batches_per_epoch: int, start_epoch: int, epochs: int):
    """SBI's schedule, stepped every batch: the full rate until `start_epoch`, then linearly down to 0 at
    `epochs`."""

    def factor(step: int) -> float:
        epoch = step / max(1, batches_per_epoch)
        return (
            1.0
            if epoch <= start_epoch
            else max(0.0, 1 - (epoch - start_epoch) / max(1, epochs - start_epoch))
        )

    return factor


def run_name(config: dict, prefix: str, fold: int) -> str:
    """What checkpoints and logs of a run are called: <prefix><Network>_<encoder>_<fold> (the released files'
    pattern)."""
    return f"{prefix}{config['network']}_{config['encoder']}_{fold}"


def training_state_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name + ".training_state")


class Trainer:
    def __init__(self, options: TrainOptions):
        self.options = options
        self.config = config = options.config
        # read before the model is built or a process group joined: a bad fold is answered in a second
        self.train_rows, self.val_rows = split_folds(options.folds_csv, options.fold, options.validate)
        self.dist = Distributed(options.device)
        torch.manual_seed(options.seed)
        np.random.seed(options.seed)
        self.model = self._build_model()
        parameters = [p for p in self.model.parameters() if p.requires_grad]
        self._data()
        self._build_optimizer(parameters)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._learning_rate_factor())
        self.fp16 = bool(config["fp16"]) and self.dist.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.fp16)
        self.epochs = config["optimizer"]["schedule"]["epochs"]
        self.start_epoch = 0
        self.best = BestEpoch.for_fakes(config["fakes"])
        self.name = run_name(options.config, options.prefix, options.fold)
        if options.resume:
            self._resume(Path(options.resume))
        if self.dist.main:
            self._write_run_config()

    def _build_model(self) -> torch.nn.Module:
        config = self.config
        model = NETWORKS[config["network"]](
            config["encoder"], config["dropout_rate"], config["pretrained"], self.options.download_pretrained
        )
        # timm's ImageNet head stays in the model (the released checkpoints carry it) but takes no part in
        # forward()
        for parameter in model.encoder.get_classifier().parameters():
            parameter.requires_grad = False
        if self.dist.enabled and self.dist.device.type == "cuda":
            model = convert_sync_batchnorm(model)
        return model.to(self.dist.device)

    def _build_optimizer(self, parameters: list) -> None:
        optimizer_config = self.config["optimizer"]
        # SAM is SGD with a second pass at perturbed weights (training/sam.py); the optimizer object stays SGD
        self.sam = (
            SharpnessAwareStep(parameters, optimizer_config["rho"])
            if optimizer_config["type"] == "SAM"
            else None
        )
        if optimizer_config["type"] in ("SGD", "SAM"):
            self.optimizer = torch.optim.SGD(
                parameters,
                lr=optimizer_config["learning_rate"],
                momentum=optimizer_config["momentum"],
                weight_decay=optimizer_config["weight_decay"],
                nesterov=optimizer_config["nesterov"],
            )
        else:
            self.optimizer = torch.optim.AdamW(
                parameters,
                lr=optimizer_config["learning_rate"],
                weight_decay=optimizer_config["weight_decay"],
            )

    def _learning_rate_factor(self):
        """The schedule as a factor of the base rate at each step."""
        schedule = self.config["optimizer"]["schedule"]
        if schedule["type"] == "poly":
            return poly_schedule(schedule["params"]["max_iter"])
        if schedule["type"] == "linear_decay":
            # stepped, like poly, at batch + epoch * batches_per_epoch (see train_epoch)
            return linear_decay_schedule(
                self.config["batches_per_epoch"], schedule["params"]["start_epoch"], schedule["epochs"]
            )
        return lambda step: 1.0

    def _write_run_config(self) -> None:
        options = self.options
        options.output_dir.mkdir(parents=True, exist_ok=True)
        options.log_dir.mkdir(parents=True, exist_ok=True)
        validation_fold = options.fold if options.validate else None
        write_json_atomic(
            options.output_dir / f"{self.name}.config.json",
            {**self.config, "trained_on": trained_on(options.data_dir, self.train_rows, validation_fold)},
        )

    def _resume(self, checkpoint_path: Path) -> None:
        checkpoint = load_checkpoint(checkpoint_path)
        load_weights(self.model, checkpoint["state_dict"], source=checkpoint_path.name)
        if self.options.from_zero:
            log.info("starting from the weights of %s at epoch 0", checkpoint_path)
            return
        state_file = training_state_path(checkpoint_path)
        if not state_file.is_file():
            raise FileNotFoundError(
                f"{state_file} is missing: resume from a _last checkpoint, or use --from-zero"
            )
        try:
            state = torch.load(state_file, map_location="cpu", weights_only=True)
            if not isinstance(state, dict):
                raise ValueError("not a training state")
        # a truncated or foreign file fails inside the unpickler with any of several errors
        except Exception as error:
            raise ValueError(
                f"cannot read {state_file} ({type(error).__name__}; a run killed while saving?): "
                f"restart from the weights alone with --resume {checkpoint_path} --from-zero"
            ) from None
        if state.get("epoch") != checkpoint["epoch"]:
            raise ValueError(
                f"{state_file} is from epoch {state.get('epoch')} but {checkpoint_path.name} from epoch "
                f"{checkpoint['epoch']} (a run killed while saving); resume from {checkpoint_path.name} "
                "with --from-zero"
            )
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.start_epoch = int(checkpoint["epoch"]) + 1
        self.best.restore(checkpoint)
        log.info("resuming %s at epoch %d", checkpoint_path, self.start_epoch)

    def _data(self) -> None:
        options, config = self.options, self.config
        size = config["size"]
        batch_size = config["optimizer"]["batch_size"]
        if config["fakes"] == "sbi":
            self._sbi_data(self.train_rows, batch_size)
        else:
            self.train_set = FaceCrops(
                options.data_dir,
                self.train_rows,
                create_train_transforms(size),
                config["normalize"],
                train=True,
                hardcore=options.hardcore,
                label_smoothing=options.label_smoothing,
                seed=options.seed,
            )
            self.val_set = FaceCrops(
                options.data_dir, self.val_rows, create_val_transforms(size), config["normalize"], train=False
            )
            self.sampler = BalancedEpochSampler(
                self.train_rows["label"].to_numpy(),
                options.seed,
                self.dist.rank,
                self.dist.world_size,
                options.oversample,
                max_samples=config["batches_per_epoch"] * batch_size,
            )
            self.train_loader = DataLoader(
                self.train_set,
                batch_size=batch_size,
                sampler=self.sampler,
                num_workers=options.workers,
                pin_memory=self.dist.device.type == "cuda",
                drop_last=len(self.sampler) >= batch_size,
            )
        if self.dist.main:
            log.info("%s", self.run_length())

    def run_length(self) -> str:
        """What a run will do, in one line: an epoch's batches are fewer than batches_per_epoch (a cap) when
        the training rows run out first, and the poly schedule then ends before its horizon."""
        batches, cap = len(self.train_loader), self.config["batches_per_epoch"]
        epochs = self.config["optimizer"]["schedule"]["epochs"]
        text = f"training {epochs} epochs × {batches} batches"
        text += (
            f" (batches_per_epoch, {cap}, is a cap: the training rows run out first)" if batches < cap else ""
        )
        schedule = self.config["optimizer"]["schedule"]
        if schedule["type"] == "poly":
            text += (
                f"; poly schedule over max_iter {schedule['params']['max_iter']} "
                f"(epochs × batches_per_epoch: {epochs * cap})"
            )
        text += (
            "; no validation" if not self.options.validate else f"; validating on fold {self.options.fold}"
        )
        if self.config["fakes"] == "sbi":
            text += "; fakes self-blended from the real crops (SBI)"
            text += f", best checkpoint by {BY_AUC}" if self.options.validate else ""
        return text

    def _sbi_data(self, train_rows, batch_size: int) -> None:
        """Self-blended images: every batch is batch_size / 2 REAL crops with 68 landmarks and their own
        fakes; the fakes of folds.csv are not trained on. Validation: the fold's real and fake videos when it
        has fakes (a score on other fakes than the model's), else held-out self-blended pairs of its reals."""
        options, config = self.options, self.config
        if batch_size % 2:
            raise ValueError(
                f'with "fakes": "sbi" the batch size must be even (reals and their fakes), got {batch_size}'
            )
        rows = sbi_rows(options.data_dir, train_rows, config["frames_per_video"])
        if not len(rows):
            raise ValueError(
                f"no REAL crop with 68 landmarks outside fold {options.fold}: run "
                f"python -m preprocessing.generate_landmarks68 --root-dir {options.data_dir}"
            )
        self.train_set = SelfBlendedPairs(
            options.data_dir, rows, config["size"], config["normalize"], train=True, seed=options.seed
        )
        self._sbi_validation_data()
        pairs_per_batch = batch_size // 2
        self.sampler = BalancedEpochSampler(
            np.zeros(len(rows)),
            options.seed,
            self.dist.rank,
            self.dist.world_size,
            max_samples=config["batches_per_epoch"] * pairs_per_batch,
        )
        self.train_loader = DataLoader(
            self.train_set,
            batch_size=pairs_per_batch,
            sampler=self.sampler,
            num_workers=options.workers,
            collate_fn=collate_pairs(options.label_smoothing),
            pin_memory=self.dist.device.type == "cuda",
            drop_last=len(self.sampler) >= pairs_per_batch,
        )

    def _sbi_validation_data(self) -> None:
        options, config = self.options, self.config
        if (self.val_rows["label"] == 1).any():
            self.val_set = FaceCrops(
                options.data_dir,
                self.val_rows,
                create_val_transforms(config["size"]),
                config["normalize"],
                train=False,
            )
            return
        pairs = SelfBlendedPairs(
            options.data_dir,
            sbi_rows(options.data_dir, self.val_rows, config["frames_per_video"]),
            config["size"],
            config["normalize"],
            train=False,
            seed=options.seed,
        )
        self.val_set = SelfBlendedValidation(pairs)
        self.val_rows = self.val_set.rows

    def _wrapped(self, epoch: int):
        """The model to train this epoch: encoder frozen during the first --freeze-epochs, DDP-wrapped under
        torchrun."""
        frozen = epoch < self.options.freeze_epochs
        head = {id(p) for p in self.model.encoder.get_classifier().parameters()}
        for parameter in self.model.encoder.parameters():
            if id(parameter) not in head:
                parameter.requires_grad = not frozen
        if not self.dist.enabled:
            return self.model
        device_ids = [self.dist.device.index] if self.dist.device.type == "cuda" else None
        return DistributedDataParallel(self.model, device_ids=device_ids)

    def train_epoch(self, epoch: int) -> dict:
        self.sampler.set_epoch(epoch)
        self.train_set.set_epoch(epoch)
        model = self._wrapped(epoch)
        model.train()
        totals = {"loss": [], "fake_loss": [], "real_loss": []}
        waited = 0.0  # seconds spent waiting for the data loader: large means the device starves
        started = time.perf_counter()
        bar = tqdm(self.train_loader, desc=f"epoch {epoch}", unit="batch", disable=not self.dist.main)
        ready = time.perf_counter()
        images_seen = 0
        for batch, (images, labels, _, _) in enumerate(bar):
            waited += time.perf_counter() - ready
            images = images.to(self.dist.device, non_blocking=True)
            labels = labels.to(self.dist.device, non_blocking=True)
            loss, fake_loss, real_loss = self._train_step(model, images, labels)
            self._step_schedule(batch, epoch)
            totals["loss"].append(loss.item())
            images_seen += len(images) * self.dist.world_size
            for key, value in (("fake_loss", fake_loss), ("real_loss", real_loss)):
                if value is not None:
                    totals[key].append(value.item())
            bar.set_postfix(
                lr=f"{self.scheduler.get_last_lr()[0]:.2e}",
                loss=f"{np.mean(totals['loss']):.4f}",
                fake=f"{np.mean(totals['fake_loss'] or [0]):.4f}",
                real=f"{np.mean(totals['real_loss'] or [0]):.4f}",
            )
            ready = time.perf_counter()
        elapsed = time.perf_counter() - started
        summary = {key: float(np.mean(values)) if values else None for key, values in totals.items()}
        summary.update(images_per_second=images_seen / elapsed, data_wait_fraction=waited / elapsed)
        return summary

    def _train_step(self, model, images: torch.Tensor, labels: torch.Tensor) -> tuple:
        """One update of the weights; the (loss, fake loss, real loss) of the batch before it."""
        with torch.autocast(self.dist.device.type, dtype=torch.float16, enabled=self.fp16):
            logits = model(images)
        losses = fake_real_bce(logits, labels)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(losses[0]).backward()
        if self.sam is not None and self.sam.climb(self.scaler.get_scale()):
            # SAM's second pass: the gradient at the climbed weights is applied to the weights before it
            self.optimizer.zero_grad(set_to_none=True)
            with torch.autocast(self.dist.device.type, dtype=torch.float16, enabled=self.fp16):
                climbed_loss = fake_real_bce(model(images), labels)[0]
            self.scaler.scale(climbed_loss).backward()
            self.sam.descend_back()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return losses

    def _step_schedule(self, batch: int, epoch: int) -> None:
        # As the original: the schedule goes to batch + epoch * batches_per_epoch after every batch, also one
        # whose fp16 update overflowed and was skipped, and whatever the epoch's length (so it does not drift)
        self.scheduler.last_epoch = batch + epoch * self.config["batches_per_epoch"]
        # the warning that a skipped first update came before the schedule's step
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Detected call of")
            self.scheduler.step()

    def _validation_loader(self) -> DataLoader:
        batch_size, workers = self.config["optimizer"]["batch_size"], self.options.workers
        if isinstance(self.val_set, SelfBlendedValidation):
            # an item is a real and its fake: two images
            return DataLoader(
                self.val_set,
                batch_size=max(1, batch_size // 2),
                num_workers=workers,
                collate_fn=collate_validation_pairs(len(self.val_set)),
            )
        return DataLoader(self.val_set, batch_size=batch_size, num_workers=workers)

    @torch.inference_mode()
    def predict_crops(self) -> np.ndarray:
        """Fake probability of every validation crop, in the order of its rows; nan for a crop that cannot be
        read."""
        self.model.eval()
        probabilities = np.full(len(self.val_rows), np.nan)
        loader = self._validation_loader()
        for images, _, indices, readable in tqdm(loader, desc="validation", unit="batch"):
            with torch.autocast(self.dist.device.type, dtype=torch.float16, enabled=self.fp16):
                logits = self.model(images.to(self.dist.device))
            scores = torch.sigmoid(logits.float()).flatten().cpu().numpy()
            probabilities[indices.numpy()[readable.numpy()]] = scores[readable.numpy()]
        return probabilities

    def validate(self) -> dict:
        """Video-level scores of the validation fold over the crops that can be read; the others are
        counted."""
        probabilities = self.predict_crops()
        read = ~np.isnan(probabilities)
        scores = video_scores(
            self.val_rows["video"].to_numpy()[read],
            self.val_rows["label"].to_numpy()[read],
            probabilities[read],
        )
        scores["unreadable_crops"] = int((~read).sum())
        if scores["unreadable_crops"]:
            log.warning("validation left out %d crops that could not be read", scores["unreadable_crops"])
        return scores

    def _save(self, path: Path, epoch: int) -> None:
        save_checkpoint(path, self.model, epoch, **self.best.checkpoint_fields())

    def _log(self, record: dict) -> None:
        text = self.options.log_dir / f"{self.name}.log"
        with text.open("a") as out:
            parts = [f"epoch {record['epoch']}"] + [
                f"{key} {value:.6f}"
                for key, value in record.items()
                if key != "epoch" and isinstance(value, float)
            ]
            out.write(" ".join(parts) + "\n")
        with (self.options.log_dir / f"{self.name}.jsonl").open("a") as out:
            out.write(json.dumps(record) + "\n")

    def run(self) -> float:
        output = self.options.output_dir
        try:
            for epoch in range(self.start_epoch, self.epochs):
                started = time.time()
                train_losses = self.train_epoch(epoch)
                if self.dist.main:
                    record = {
                        "epoch": epoch,
                        "train_loss": train_losses["loss"],
                        "seconds": time.time() - started,
                        "images_per_second": train_losses["images_per_second"],
                        "data_wait_fraction": train_losses["data_wait_fraction"],
                    }
                    if len(self.val_set) and (epoch + 1) % self.options.test_every == 0:
                        scores = self.validate()
                        record.update(scores)
                        log.info(
                            "epoch %d: fake_loss %.4f real_loss %.4f score %.4f auc %.4f",
                            epoch,
                            scores["fake_loss"],
                            scores["real_loss"],
                            scores["score"],
                            scores["auc"],
                        )
                        if self.best.take(scores):
                            self._save(output / f"{self.name}_best", epoch)
                    self._save(output / f"{self.name}_{epoch}", epoch)
                    last = output / f"{self.name}_last"
                    self._save(last, epoch)
                    with atomic_path(training_state_path(last)) as tmp:
                        torch.save(
                            {
                                "epoch": epoch,
                                "optimizer": self.optimizer.state_dict(),
                                "scheduler": self.scheduler.state_dict(),
                                "scaler": self.scaler.state_dict(),
                            },
                            tmp,
                        )
                    self._log(record)
                self.dist.barrier()
        finally:
            self.dist.close()
        return self.best.log_loss
