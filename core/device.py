"""Turn the `--device auto|cpu|cuda` option into a torch device."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


class DeviceUnavailableError(RuntimeError):
    pass


def resolve_device(name: str = "auto") -> torch.device:
    # here, not at the top: scripts build their --help and check their input without loading torch
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceUnavailableError("--device cuda was asked for, but no CUDA device is available")
    if name not in DEVICE_CHOICES and not name.startswith("cuda:"):
        raise DeviceUnavailableError(f"unknown device {name!r}; use one of {', '.join(DEVICE_CHOICES)}")
    return torch.device(name)
