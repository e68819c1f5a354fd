"""Splitting work between processes and machines: --shard I/N, or torchrun's RANK and WORLD_SIZE."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path


def parse_shard(text: str | None) -> tuple[int, int]:
    if text is None:
        return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    try:
        index, count = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard must look like I/N, got {text!r}") from None
    if not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"--shard {text}: need 0 <= I < N")
    return index, count


def select_shard(items: Sequence, shard: tuple[int, int], key=lambda item: item) -> list:
    """A disjoint, stable share of `items`: every N-th in sorted order, starting at I."""
    index, count = shard
    return sorted(items, key=key)[index::count]


def shard_output(output: Path, shard: tuple[int, int]) -> Path:
    """Where shard I of N writes its CSV: <output stem>.shard-I-of-N<suffix> (its diagnostics JSON beside
    it)."""
    index, count = shard
    return output.with_name(f"{output.stem}.shard-{index}-of-{count}{output.suffix}")
