"""Score predictions against labels at the video level, the way the DFDC was judged.

    # labels from its metadata.json files
    python evaluate.py --predictions submission.csv --labels DATA_ROOT
    # labels as filename,label (1 = fake)
    python evaluate.py --predictions submission.csv --labels labels.csv --json
    # its own layout, per method
    python evaluate.py --predictions ffpp.csv --labels /data/FaceForensics++
    # its List_of_testing_videos.txt, per subset
    python evaluate.py --predictions celebdf.csv --labels /data/Celeb-DF-v2

Prints log loss (the DFDC metric, predictions clipped to [1e-15, 1 - 1e-15]), balanced log loss (mean of the
fake and real losses), ROC AUC, equal error rate, average precision, accuracy and balanced accuracy at 0.5 and
counts, the same per source folder (DFDC part, FF++ method, Celeb-DF subset), the per-face AUC when the
diagnostics JSON of the run is there, and writes a ROC-curve PNG. Videos present on one side only are listed,
never silently dropped from the report. How predictions find their labels: evaluation/labels.py,
docs/evaluation.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from core.atomic import atomic_path, write_json_atomic
from core.cli import ArgumentParser
from core.metrics import (
    average_precision,
    balanced_accuracy,
    equal_error_rate,
    fake_real_log_loss,
    log_loss,
    roc_auc,
    roc_curve,
)
from evaluation.labels import EvaluationError, Labels, read_labels, read_predictions
from inference.results import DiagnosticsError, VideoResult, load_diagnostics
from inference.strategy import face_means

FF_LAYOUT = ("manipulated_sequences", "original_sequences")


def matched_to(labels: Labels, predictions: dict[str, float], diagnostics: dict[str, VideoResult] | None):
    """The predictions and diagnostics keyed like the labels (see Labels.match); names matching several
    labelled videos are left out and returned with the reason. A name matching none keeps its name: it is
    reported unlabelled."""
    matched, ambiguous = labels.match(predictions)

    def rekey(items: dict) -> dict:
        return {matched.get(name, name): value for name, value in items.items() if name not in ambiguous}

    return rekey(predictions), (rekey(diagnostics) if diagnostics is not None else None), ambiguous


def source_folder(path: Path) -> str:
    """The folder that says where a video comes from: the FF++ method (or 'original') in FF++'s own layout,
    else the video's folder (a DFDC part, a Celeb-DF subset, a converted FF++ folder)."""
    parts = path.parts
    for marker in FF_LAYOUT:
        if marker in parts and parts.index(marker) + 1 < len(parts) - 1:
            return "original" if marker == "original_sequences" else parts[parts.index(marker) + 1]
    return path.parent.name


def read_diagnostics(path: Path) -> dict[str, VideoResult]:
    try:
        return load_diagnostics(path)[1]
    except DiagnosticsError as error:
        raise EvaluationError(str(error)) from None


def face_scores(
    diagnostics: dict[str, VideoResult], labels: dict[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """(labels, scores) of every classified face of every labelled video: a face's score is its mean over the
    models."""
    y, p = [], []
    for name, record in diagnostics.items():
        if name not in labels or not record.scores:
            continue
        per_face = face_means(record.scores)
        y.extend([labels[name]] * len(per_face))
        p.extend(per_face.tolist())
    return np.array(y), np.array(p)


def metrics(y: np.ndarray, p: np.ndarray) -> dict:
    fake_loss, real_loss, balanced = fake_real_log_loss(y, p)
    return {
        "log_loss": log_loss(y, p),
        "balanced_log_loss": balanced,
        "fake_log_loss": fake_loss,
        "real_log_loss": real_loss,
        "auc": roc_auc(y, p),
        "eer": equal_error_rate(y, p),
        "average_precision": average_precision(y, p),
        "accuracy": float(np.mean((p > 0.5) == (y == 1))) if len(y) else float("nan"),
        "balanced_accuracy": balanced_accuracy(y, p),
        "videos": len(y),
        "fakes": int((y == 1).sum()),
        "reals": int((y == 0).sum()),
    }


def evaluate(
    predictions: dict[str, float],
    labels: dict[str, float],
    sources: dict[str, str] | None = None,
    diagnostics: dict[str, VideoResult] | None = None,
) -> dict:
    """The video-level report; with `sources`, the same per source folder (a folder of fakes only gets its AUC
    and EER against every real video); with `diagnostics`, the per-face AUC."""
    common = sorted(set(predictions) & set(labels))
    y = np.array([labels[name] for name in common])
    p = np.array([predictions[name] for name in common])
    report = metrics(y, p)
    report["missing_predictions"] = sorted(set(labels) - set(predictions))
    report["unlabelled_predictions"] = sorted(set(predictions) - set(labels))
    if sources:
        groups: dict[str, list[str]] = defaultdict(list)
        for name in common:
            groups[sources.get(name, "(unknown)")].append(name)
        reals = [name for name in common if labels[name] == 0]
        report["per_source"] = {}
        for source, names in sorted(groups.items()):
            entry = metrics(np.array([labels[n] for n in names]), np.array([predictions[n] for n in names]))
            if entry["reals"] == 0 and reals:
                against = names + reals
                y_against, p_against = (
                    np.array([labels[n] for n in against]),
                    np.array([predictions[n] for n in against]),
                )
                entry.update(
                    auc=roc_auc(y_against, p_against),
                    eer=equal_error_rate(y_against, p_against),
                    auc_against="all reals",
                )
            report["per_source"][source] = entry
    if diagnostics is not None:
        face_y, face_p = face_scores(diagnostics, labels)
        report["face_auc"] = roc_auc(face_y, face_p)
        report["faces"] = len(face_y)
    return report


def plot_roc(predictions: dict[str, float], labels: dict[str, float], auc: float, output: Path) -> None:
    import matplotlib.pyplot as plt

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


def sources_from_diagnostics(diagnostics: dict[str, VideoResult]) -> dict[str, str]:
    """Source folders from the paths a scoring run recorded."""
    return {name: source_folder(Path(record.path)) for name, record in diagnostics.items()}


def print_report(report: dict) -> None:
    print(f"videos {report['videos']} (fakes {report['fakes']}, reals {report['reals']})")
    for key in (
        "log_loss",
        "balanced_log_loss",
        "fake_log_loss",
        "real_log_loss",
        "auc",
        "eer",
        "average_precision",
        "accuracy",
        "balanced_accuracy",
    ):
        print(f"{key:18s} {report[key]:.4f}")
    if "face_auc" in report:
        print(f"{'face_auc':18s} {report['face_auc']:.4f} ({report['faces']} faces)")
    if report.get("per_source"):
        print(
            f"\n{'source':28s} {'videos':>6s} {'fakes':>5s} {'reals':>5s} {'logloss':>8s} "
            f"{'auc':>7s} {'eer':>7s} {'acc':>6s}"
        )
        for source, entry in report["per_source"].items():
            auc = f"{entry['auc']:.4f}" if not math.isnan(entry["auc"]) else "-"
            eer = f"{entry['eer']:.4f}" if not math.isnan(entry["eer"]) else "-"
            print(
                f"{source[:28]:28s} {entry['videos']:6d} {entry['fakes']:5d} {entry['reals']:5d} "
                f"{entry['log_loss']:8.4f} "
                f"{auc:>7s} {eer:>7s} {entry['accuracy']:6.3f}"
            )
        if any("auc_against" in entry for entry in report["per_source"].values()):
            print("(the AUC and EER of a source without reals are against every real video)")
    for name, reason in report.get("ambiguous_predictions", {}).items():
        print(f"left out: {name} {reason}")
    for key in ("missing_predictions", "unlabelled_predictions"):
        if report[key]:
            print(
                f"{key.replace('_', ' ')} ({len(report[key])}): {', '.join(report[key][:10])}"
                f"{' …' if len(report[key]) > 10 else ''}"
            )
    if "roc_png" in report:
        print(f"ROC curve: {report['roc_png']}")


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--predictions", required=True, help="CSV of filename,label as predict_folder.py writes it"
    )
    parser.add_argument(
        "--labels",
        required=True,
        help="a DATA_ROOT with metadata.json files; a FaceForensics++ root (original_sequences/, "
        "manipulated_sequences/: per method); a Celeb-DF v2 root or its List_of_testing_videos.txt "
        "(per subset); or a filename,label CSV (1 or FAKE = fake, 0 or REAL = real; an optional source "
        "column groups the per-source report)",
    )
    parser.add_argument(
        "--diagnostics",
        default=None,
        help="the run's diagnostics JSON, for the per-face AUC and, without other sources, the source "
        "folders (default: <predictions stem>.diagnostics.json when it exists)",
    )
    parser.add_argument(
        "--roc", default=None, help="ROC-curve PNG to write (default: beside the predictions, <stem>.roc.png)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--output", default=None, help="also write the report as JSON to this file (atomically)"
    )
    return parser.parse_args(argv)


def diagnostics_of(predictions_path: Path, given: str | None) -> Path | None:
    """The diagnostics JSON named on the command line, else the one beside the predictions if there is one."""
    if given:
        return Path(given)
    beside = predictions_path.with_name(predictions_path.stem + ".diagnostics.json")
    return beside if beside.is_file() else None


def main(argv=None) -> int:
    args = parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")  # no display needed for the ROC PNG
    predictions_path = Path(args.predictions)
    diagnostics_path = diagnostics_of(predictions_path, args.diagnostics)
    try:
        if not predictions_path.is_file():
            raise EvaluationError(f"predictions not found: {predictions_path}")
        predictions = read_predictions(predictions_path)
        labels = read_labels(Path(args.labels))
        diagnostics = read_diagnostics(diagnostics_path) if diagnostics_path else None
    except (EvaluationError, FileNotFoundError, UnicodeDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    predictions, diagnostics, ambiguous = matched_to(labels, predictions, diagnostics)
    sources = labels.groups or (sources_from_diagnostics(diagnostics) if diagnostics else {})
    report = evaluate(predictions, labels.labels, sources, diagnostics)
    report["ambiguous_predictions"] = ambiguous
    if not report["videos"]:
        print("error: no video has both a prediction and a label", file=sys.stderr)
        return 2
    roc_path = Path(args.roc) if args.roc else predictions_path.with_name(predictions_path.stem + ".roc.png")
    if report["fakes"] and report["reals"]:
        plot_roc(predictions, labels.labels, report["auc"], roc_path)
        report["roc_png"] = str(roc_path)
    if args.output:
        write_json_atomic(args.output, report)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
