"""Which epoch's weights the trainer keeps as its `_best` checkpoint."""

from __future__ import annotations

import math
from dataclasses import dataclass

BY_LOG_LOSS = "validation_log_loss"
BY_AUC = "validation_auc"


@dataclass
class BestEpoch:
    """The rule, and the validation scores of the epoch it has chosen so far.

    By log loss (the DFDC solution's rule, for fakes from the dataset): the lowest log loss wins.
    By AUC (for self-blended fakes, as the SBI paper's released code, which keeps the weights of the highest
    validation AUCs and replaces one on an equal AUC): the highest AUC wins, and an equal AUC at a later epoch
    wins too. The validation set is small, so its AUC often stays level over many epochs; the later of them
    has trained longer at a lower rate.
    """

    by: str = BY_LOG_LOSS
    log_loss: float = math.inf
    auc: float = -math.inf

    @classmethod
    def for_fakes(cls, fakes: str) -> BestEpoch:
        return cls(BY_AUC if fakes == "sbi" else BY_LOG_LOSS)

    def improves(self, scores: dict) -> bool:
        if self.by == BY_LOG_LOSS:
            return scores["score"] < self.log_loss
        return _comparable_auc(scores) >= self.auc

    def take(self, scores: dict) -> bool:
        """Keep the epoch of `scores` if it beats the one chosen so far; True if it does."""
        if not self.improves(scores):
            return False
        self.log_loss, self.auc = scores["score"], _comparable_auc(scores)
        return True

    def checkpoint_fields(self) -> dict:
        """What a checkpoint records of the choice. The log-loss rule writes the original format alone
        (`bce_best`); the AUC rule says what chose the epoch and its AUC too."""
        if self.by == BY_LOG_LOSS:
            return {"bce_best": self.log_loss}
        return {"bce_best": self.log_loss, "chosen_by": BY_AUC, "auc_best": self.auc}

    def restore(self, checkpoint: dict) -> None:
        """The choice so far, from a checkpoint written by checkpoint_fields (for resuming)."""
        self.log_loss = float(checkpoint.get("bce_best", math.inf))
        if self.by == BY_AUC:
            self.auc = float(checkpoint.get("auc_best", -math.inf))


def _comparable_auc(scores: dict) -> float:
    # an AUC of one class only (nan) never beats a real one
    return -math.inf if math.isnan(scores["auc"]) else float(scores["auc"])
