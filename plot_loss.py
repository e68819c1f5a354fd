"""Plot a training run's validation losses per epoch to pick checkpoints, without a display.

Reads the `fake_loss X` / `real_loss Y` values of each `epoch N ...` line that
train_classifier.py writes to logs/<run>.log, plots the weighted loss
(w * fake_loss + real_loss) / 2 with w = --fake-weight, marks the best epochs and
writes a PNG.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from core.cli import ArgumentParser, at_least

LINE = re.compile(r"^epoch (\d+)\b.*?\bfake_loss ([\d.eE+-]+|nan)\b.*?\breal_loss ([\d.eE+-]+|nan)\b")


def read_losses(path: Path) -> list[tuple[int, float, float]]:
    """(epoch, fake_loss, real_loss) for every validated epoch; a later line for an epoch (after a resume)
    wins."""
    losses: dict[int, tuple[float, float]] = {}
    for line in path.read_text().splitlines():
        match = LINE.search(line)
        if match:
            losses[int(match.group(1))] = (float(match.group(2)), float(match.group(3)))
    return [(epoch, fake, real) for epoch, (fake, real) in sorted(losses.items())]


def why_no_losses(path: Path) -> str:
    """What to say of a log without validation losses: a run that trained but never validated points at the
    cause."""
    epochs = sum(1 for line in path.read_text().splitlines() if line.startswith("epoch "))
    if epochs:
        return (
            f"{path} logs {epochs} trained epochs but no validation losses: the run never validated (it ran "
            "with --no-validation, or --test-every was larger than its epochs); validate on a fold with rows "
            "to plot the loss"
        )
    return (
        f"no 'epoch N ... fake_loss X ... real_loss Y' lines in {path}: not a train_classifier.py log, or no "
        "epoch finished yet"
    )


def weighted(fake: float, real: float, fake_weight: float) -> float:
    return (fake_weight * fake + real) / 2


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--log-file",
        required=True,
        help="a training log, e.g. logs/b7_111_DeepFakeClassifier_tf_efficientnet_b7_ns_0.log",
    )
    parser.add_argument(
        "--fake-weight", type=float, default=1.4, help="weight w of the fake loss in (w * fake + real) / 2"
    )
    parser.add_argument(
        "--best", type=at_least(1), default=3, help="how many of the lowest epochs to mark and print"
    )
    parser.add_argument("--output", default=None, help="PNG to write (default: the log file with .png)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    path = Path(args.log_file)
    if not path.is_file():
        print(f"error: log file not found: {path}", file=sys.stderr)
        return 2
    losses = read_losses(path)
    if not losses:
        print(f"error: {why_no_losses(path)}", file=sys.stderr)
        return 2
    import matplotlib

    matplotlib.use("Agg")  # no display needed for a PNG
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = [e for e, _, _ in losses]
    scores = [weighted(f, r, args.fake_weight) for _, f, r in losses]
    best = sorted(range(len(scores)), key=lambda i: scores[i])[: args.best]
    figure, axes = plt.subplots(figsize=(8, 4.5))
    axes.plot(epochs, [f for _, f, _ in losses], label="fake_loss", alpha=0.5)
    axes.plot(epochs, [r for _, _, r in losses], label="real_loss", alpha=0.5)
    axes.plot(epochs, scores, label=f"({args.fake_weight:g}·fake + real) / 2", linewidth=2)
    axes.scatter(
        [epochs[i] for i in best], [scores[i] for i in best], color="red", zorder=3, label=f"best {len(best)}"
    )
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("validation log loss")
    axes.set_title(path.stem)
    axes.legend()
    axes.grid(alpha=0.3)
    output = Path(args.output) if args.output else path.with_suffix(".png")
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=100, bbox_inches="tight")
    for i in best:
        print(f"epoch {epochs[i]}: weighted loss {scores[i]:.4f}")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
