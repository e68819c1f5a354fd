"""Score predictions against labels at the video level, the way the DFDC was judged.

    python evaluate.py --predictions submission.csv --labels DATA_ROOT            # labels from its metadata.json files
    python evaluate.py --predictions submission.csv --labels labels.csv --json    # labels as filename,label (1 = fake)

Prints log loss (the DFDC metric, predictions clipped to [1e-15, 1 - 1e-15]), balanced log loss (mean of the
fake and real losses), ROC AUC, average precision, accuracy at 0.5 and counts, and writes a ROC-curve PNG.
Videos present on one side only are listed, never silently dropped from the report.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import matplotlib
import numpy as np

from core.atomic import atomic_path, write_json_atomic
from core.cli import ArgumentParser
from core.metrics import average_precision, fake_real_log_loss, log_loss, roc_auc, roc_curve
from preprocessing.dataset import load_dataset

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


class EvaluationError(Exception):
    pass


def read_csv_column(path: Path, column: str) -> dict[str, float]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "filename" not in reader.fieldnames or column not in reader.fieldnames:
            raise EvaluationError(f"{path} needs the columns filename,{column}")
        values = {}
        for row in reader:
            try:
                values[row["filename"]] = float(row[column])
            except ValueError as error:
                raise EvaluationError(f"{path}: bad {column} for {row['filename']}: {row[column]!r}") from error
        return values


def read_labels(source: Path) -> dict[str, float]:
    """filename -> 1 (fake) or 0 (real), from a DATA_ROOT's metadata or a filename,label CSV."""
    if source.is_dir():
        dataset = load_dataset(source)
        return {video.path.name: float(video.label) for video in dataset.videos.values()}
    if not source.is_file():
        raise EvaluationError(f"labels not found: {source}")
    return read_csv_column(source, "label")


def evaluate(predictions: dict[str, float], labels: dict[str, float]) -> dict:
    common = sorted(set(predictions) & set(labels))
    y = np.array([labels[name] for name in common])
    p = np.array([predictions[name] for name in common])
    fake_loss, real_loss, balanced = fake_real_log_loss(y, p)
    return {
        "log_loss": log_loss(y, p),
        "balanced_log_loss": balanced,
        "fake_log_loss": fake_loss,
        "real_log_loss": real_loss,
        "auc": roc_auc(y, p),
        "average_precision": average_precision(y, p),
        "accuracy": float(np.mean((p > 0.5) == (y == 1))) if len(common) else float("nan"),
        "videos": len(common), "fakes": int((y == 1).sum()), "reals": int((y == 0).sum()),
        "missing_predictions": sorted(set(labels) - set(predictions)),
        "unlabelled_predictions": sorted(set(predictions) - set(labels)),
    }


def plot_roc(predictions: dict[str, float], labels: dict[str, float], auc: float, output: Path) -> None:
    common = sorted(set(predictions) & set(labels))
    fpr, tpr = roc_curve(np.array([labels[n] for n in common]), np.array([predictions[n] for n in common]))
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.plot(fpr, tpr, label=f"AUC {auc:.3f}")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey")
    axes.set_xlabel("false positive rate (reals called fake)")
    axes.set_ylabel("true positive rate (fakes caught)")
    axes.legend(loc="lower right")
    with atomic_path(output) as tmp:
        figure.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(figure)


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--predictions", required=True, help="CSV of filename,label as predict_folder.py writes it")
    parser.add_argument("--labels", required=True, help="a DATA_ROOT with metadata.json files, or a filename,label CSV (1 = fake)")
    parser.add_argument("--roc", default=None, help="ROC-curve PNG to write (default: beside the predictions, <stem>.roc.png)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--output", default=None, help="also write the report as JSON to this file (atomically)")
    args = parser.parse_args(argv)
    predictions_path = Path(args.predictions)
    try:
        if not predictions_path.is_file():
            raise EvaluationError(f"predictions not found: {predictions_path}")
        predictions = read_csv_column(predictions_path, "label")
        labels = read_labels(Path(args.labels))
    except (EvaluationError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report = evaluate(predictions, labels)
    if not report["videos"]:
        print("error: no video has both a prediction and a label", file=sys.stderr)
        return 2
    roc_path = Path(args.roc) if args.roc else predictions_path.with_name(predictions_path.stem + ".roc.png")
    if report["fakes"] and report["reals"]:
        plot_roc(predictions, labels, report["auc"], roc_path)
        report["roc_png"] = str(roc_path)
    if args.output:
        write_json_atomic(args.output, report)
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"videos {report['videos']} (fakes {report['fakes']}, reals {report['reals']})")
    for key in ("log_loss", "balanced_log_loss", "fake_log_loss", "real_log_loss", "auc", "average_precision", "accuracy"):
        print(f"{key:18s} {report[key]:.4f}")
    for key in ("missing_predictions", "unlabelled_predictions"):
        if report[key]:
            print(f"{key.replace('_', ' ')} ({len(report[key])}): {', '.join(report[key][:10])}{' …' if len(report[key]) > 10 else ''}")
    if "roc_png" in report:
        print(f"ROC curve: {report['roc_png']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
