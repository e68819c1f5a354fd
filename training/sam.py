"""Sharpness-aware minimisation (Foret et al., ICLR 2021) around the trainer's own SGD, as self-blended images
trains.

Each step takes two forward and backward passes: the first gradient g moves the weights uphill to w + rho * g
/ |g|, the second gradient, taken there, is the one SGD applies to the original weights w. Minimising the loss
at the worst point of a small neighbourhood prefers flat minima, which the SBI paper uses against overfitting
to its synthetic fakes.

The optimizer itself stays a plain torch SGD, so its state, the schedule, the gradient scaler, resuming and
DDP work as for any config; this class only moves the weights away and back between the two passes.
"""

from __future__ import annotations

import torch


class SharpnessAwareStep:
    def __init__(self, parameters, rho: float = 0.05):
        if rho <= 0:
            raise ValueError(f"SAM's rho must be positive, got {rho}")
        self.parameters = [p for p in parameters if p.requires_grad]
        self.rho = rho
        self.moves: list[tuple[torch.Tensor, torch.Tensor]] = []

    @torch.no_grad()
    def climb(self, grad_scale: float = 1.0) -> bool:
        """Move every parameter by rho along the normalised gradient of the first pass (`grad_scale`: the
        gradient scaler's factor, by which fp16 gradients are still multiplied). False, and nothing moved,
        when the gradient is not finite (an fp16 overflow: the scaler will skip this step anyway)."""
        grads = [p for p in self.parameters if p.grad is not None]
        if not grads:
            return False
        norm = (
            torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad.float()) for p in grads]))
            / grad_scale
        )
        if not torch.isfinite(norm):
            return False
        factor = self.rho / (norm + 1e-12) / grad_scale
        for parameter in grads:
            move = parameter.grad * factor.to(parameter.grad.dtype)
            parameter.add_(move)
            self.moves.append((parameter, move))
        return True

    @torch.no_grad()
    def descend_back(self) -> None:
        """Put the weights back where they were before climb(); the second pass's gradients stay for SGD's
        step."""
        for parameter, move in self.moves:
            parameter.sub_(move)
        self.moves.clear()
