"""The training loss: binary cross-entropy on the fakes and on the reals of a batch, computed apart and
averaged."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def fake_real_bce(
    logits: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """(loss, fake loss, real loss). Equal weight for both classes whatever their count in the batch: the loss
    is (fake loss + real loss) / 2, and, as in the original recipe, a class absent from the batch counts as 0
    (a batch of one class weighs half). Labels may be smoothed: > 0.5 is fake."""
    logits = logits.float().flatten()
    labels = labels.float().flatten()
    per_sample = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    fake = labels > 0.5
    fake_loss = per_sample[fake].mean() if fake.any() else None
    real_loss = per_sample[~fake].mean() if (~fake).any() else None
    total = sum(loss for loss in (fake_loss, real_loss) if loss is not None)
    return total / 2, fake_loss, real_loss
