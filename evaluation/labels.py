"""Labels of scored videos, read from the datasets as they ship, and the predictions matched to them.

    a DFDC DATA_ROOT         <part>/metadata.json (also what preprocessing.convert_dataset writes): by file
    name
    a CSV                    filename,label[,source], 1 or FAKE = fake
    FaceForensics++          original_sequences/<source>/<c>/videos/*.mp4 real,
    manipulated_sequences/<method>/<c>/videos/*.mp4
                             fake: by the path under the root, grouped by method
    Celeb-DF v2              List_of_testing_videos.txt (its first column is 1 for REAL): by the path in the
    list, grouped
                             by subset folder

A prediction's file name is matched to a label by the path under the dataset root when it has folders (the
relative paths a recursive folder search gives clashing names: the labels' path must end with it), else by the
file name when one label has it, else by the name preprocessing.convert_dataset gave a FaceForensics++ fake
(`<Method>_A_B.mp4`).
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from preprocessing.dataset import load_dataset

LABEL_WORDS = {"0": 0.0, "1": 1.0, "real": 0.0, "fake": 1.0}
CELEBDF_TEST_LIST = "List_of_testing_videos.txt"
FFPP_FOLDERS = ("original_sequences", "manipulated_sequences")


class EvaluationError(Exception):
    pass


@dataclass
class Labels:
    """Each labelled video's key (its path under the dataset root, or its file name) -> 1.0 fake or 0.0 real;
    the group each belongs to (DFDC part, FF++ method, Celeb-DF subset, a CSV's source column); other names a
    video goes by (what the converter named it) -> its key."""

    labels: dict[str, float]
    groups: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def match(self, names: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
        """(prediction name -> label key, prediction name -> why it matches none: it matches several, or a
        label another prediction took). A name matching nothing is in neither: it is unlabelled."""
        by_file_name: dict[str, list[str]] = defaultdict(list)
        folders: set[str] = set()  # every folder name of the labels' paths
        for key in self.labels:
            by_file_name[PurePosixPath(key).name].append(key)
            folders.update(PurePosixPath(key).parts[:-1])
        matched: dict[str, str] = {}
        problems: dict[str, str] = {}
        taken: dict[str, str] = {}
        for name in sorted(names):
            candidates = self._candidates(name.replace("\\", "/"), by_file_name, folders)
            if len(candidates) > 1:
                problems[name] = (
                    f"matches {len(candidates)} labelled videos ({', '.join(candidates[:3])}): name them by "
                    "their path"
                )
            elif candidates and candidates[0] in taken:
                problems[name] = f"{candidates[0]} is already matched by {taken[candidates[0]]}"
            elif candidates:
                matched[name] = taken[candidates[0]] = candidates[0]
        return matched, problems

    def _candidates(self, name: str, by_file_name: dict[str, list[str]], folders: set[str]) -> list[str]:
        if name in self.labels:
            return [name]
        if "/" in name:
            ending = [key for key in self.labels if key.endswith("/" + name)]
            if ending:
                return sorted(ending)
            if folders & set(PurePosixPath(name).parts[:-1]):
                # a path in the dataset's own folders that no label has (another method's fake): not its file
                # name's
                return []
        file_name = PurePosixPath(name).name
        found = by_file_name.get(file_name) or (
            [self.aliases[file_name]] if file_name in self.aliases else []
        )
        # the same video at several compressions (FF++'s c23 and c40 side by side) is one label and one group
        if len({(self.labels[key], self.groups.get(key)) for key in found}) == 1:
            return sorted(found)[:1]
        return sorted(found)


def read_labels(source: Path) -> Labels:
    """The labels at `source`: a Celeb-DF v2 root or its test list, a FaceForensics++ root, a DFDC DATA_ROOT
    or a CSV."""
    if source.is_dir() and (source / CELEBDF_TEST_LIST).is_file():
        return read_celebdf_list(source / CELEBDF_TEST_LIST)
    if source.is_file() and source.name == CELEBDF_TEST_LIST:
        return read_celebdf_list(source)
    if source.is_dir() and any((source / folder).is_dir() for folder in FFPP_FOLDERS):
        return read_ffpp(source)
    if source.is_dir():
        return read_data_root(source)
    if not source.is_file():
        raise EvaluationError(f"labels not found: {source}")
    labels, groups = read_rows(source, "label", parse_label)
    return Labels(labels, groups)


def read_data_root(root: Path) -> Labels:
    """A DFDC-layout DATA_ROOT: labels by file name, grouped by part. Metadata entries that cannot be used are
    reported on stderr, not dropped silently."""
    dataset = load_dataset(root)
    for video_id, reason in sorted(dataset.problems.items()):
        print(f"warning: labels: {video_id}: {reason}", file=sys.stderr)
    videos = dataset.videos.values()
    return Labels(
        {video.path.name: float(video.label) for video in videos},
        {video.path.name: video.part for video in videos},
    )


def read_ffpp(root: Path) -> Labels:
    """FaceForensics++ in its own layout, every compression found: originals real (group 'original', or
    'original (actors)' for the DeepFakeDetection actors), each method's videos fake (group: the method).
    Masks are left out."""
    labels: dict[str, float] = {}
    groups: dict[str, str] = {}
    aliases: dict[str, str] = {}
    for video in sorted(root.glob("original_sequences/*/*/videos/*.mp4")):
        key = video.relative_to(root).as_posix()
        source = video.parents[2].name
        labels[key], groups[key] = 0.0, "original" if source == "youtube" else f"original ({source})"
    for video in sorted(root.glob("manipulated_sequences/*/*/videos/*.mp4")):
        if video.parents[1].name == "masks":  # the manipulated regions, beside the compressions
            continue
        key = video.relative_to(root).as_posix()
        method = video.parents[2].name
        labels[key], groups[key] = 1.0, method
        aliases.setdefault(f"{method}_{video.name}", key)  # preprocessing.convert_dataset's name for it
    if not labels:
        raise EvaluationError(
            f"no videos in {root}/{{original,manipulated}}_sequences/*/<compression>/videos/"
        )
    return Labels(labels, groups, aliases)


def read_celebdf_list(path: Path) -> Labels:
    """Celeb-DF v2's test list: lines '1 YouTube-real/00170.mp4', where 1 is REAL and 0 FAKE (the opposite of
    this project's labels); grouped by subset folder."""
    labels: dict[str, float] = {}
    groups: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2 or fields[0] not in ("0", "1"):
            raise EvaluationError(
                f"{path}:{number}: expected '<1 real | 0 fake> <subset>/<video>', got {line.strip()!r}"
            )
        key = fields[1]
        if key in labels:
            raise EvaluationError(f"{path}:{number}: {key!r} appears twice")
        labels[key] = 1.0 - float(fields[0])
        groups[key] = str(PurePosixPath(key).parent)
    if not labels:
        raise EvaluationError(f"{path} lists no videos")
    return Labels(labels, groups)


def read_rows(path: Path, column: str, parse) -> tuple[dict[str, float], dict[str, str]]:
    """filename -> parse(value) of `column`, and filename -> the optional `source` column; any short row,
    duplicate file name or value `parse` refuses is an EvaluationError naming the line."""
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
    """A predictions CSV's scores by file name (its `label` column: the DFDC submission format's name for the
    score)."""
    return read_rows(path, "label", parse_probability)[0]
