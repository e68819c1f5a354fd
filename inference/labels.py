"""The files a run is judged by: labels (a filename,label CSV, or a DATA_ROOT's metadata.json files) and predictions
(the filename,label CSV predict_folder.py writes), read strictly: a bad line is an error naming it, never skipped."""
from __future__ import annotations

import csv
import sys
from pathlib import Path

from preprocessing.dataset import load_dataset

LABEL_WORDS = {"0": 0.0, "1": 1.0, "real": 0.0, "fake": 1.0}


class EvaluationError(Exception):
    """A labels, predictions or diagnostics file that cannot be used."""


def read_rows(path: Path, column: str, parse) -> tuple[dict[str, float], dict[str, str]]:
    """filename -> parse(value) of `column`, and filename -> the optional `source` column; any short row, duplicate
    file name or value `parse` refuses is an EvaluationError naming the line."""
    values: dict[str, float] = {}
    sources: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header or "filename" not in header or column not in header:
            raise EvaluationError(f"{path} needs the columns filename,{column}")
        name_at, value_at = header.index("filename"), header.index(column)
        source_at = header.index("source") if "source" in header else None
        for row in reader:
            line = f"{path}:{reader.line_num}"
            if not row:
                continue
            if len(row) != len(header):
                raise EvaluationError(f"{line}: {len(row)} fields where the header has {len(header)}")
            name = row[name_at]
            if name in values:
                raise EvaluationError(f"{line}: {name!r} appears twice")
            try:
                values[name] = parse(row[value_at])
            except ValueError as error:
                raise EvaluationError(f"{line}: {error}") from None
            if source_at is not None and row[source_at]:
                sources[name] = row[source_at]
    return values, sources


def parse_label(text: str) -> float:
    word = text.strip().lower()
    if word in LABEL_WORDS:
        return LABEL_WORDS[word]
    try:
        value = float(word)  # 0.0 and 1.0 are labels too
    except ValueError:
        value = None
    if value not in (0.0, 1.0):
        raise ValueError(f"label {text!r} is none of 0, 1, REAL, FAKE")
    return value


def parse_probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"prediction {text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise ValueError(f"prediction {text!r} is outside [0, 1]")
    return value


def read_predictions(path: Path) -> dict[str, float]:
    return read_rows(path, "label", parse_probability)[0]


def read_labels(source: Path) -> tuple[dict[str, float], dict[str, str]]:
    """filename -> 1 (fake) or 0 (real), and filename -> its source folder, from a DATA_ROOT's metadata or a
    filename,label[,source] CSV. Metadata entries that cannot be used are reported on stderr, not dropped silently."""
    if source.is_dir():
        dataset = load_dataset(source)
        for video_id, reason in sorted(dataset.problems.items()):
            print(f"warning: labels: {video_id}: {reason}", file=sys.stderr)
        videos = dataset.videos.values()
        return {video.path.name: float(video.label) for video in videos}, {video.path.name: video.part for video in videos}
    if not source.is_file():
        raise EvaluationError(f"labels not found: {source}")
    return read_rows(source, "label", parse_label)
