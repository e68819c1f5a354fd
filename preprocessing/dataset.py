"""A DFDC-layout dataset: `DATA_ROOT/<part>/{*.mp4, metadata.json}`, and where each step writes under
DATA_ROOT.

metadata.json maps a file name to {"label": "REAL"|"FAKE", "original": name or null, "split": ..., ...}.
A video's id is its file name without the extension; ids are unique across the dataset.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

PART_NUMBER = re.compile(r"_(\d+)$")


@dataclass(frozen=True)
class VideoEntry:
    video_id: str
    path: Path
    label: int  # 1 fake, 0 real
    original: str | None  # id of the original video, for fakes
    part: str  # the folder it is in
    split: str = "train"  # metadata's "split": "test" marks a dataset's official test videos

    @property
    def is_fake(self) -> bool:
        return self.label == 1

    @property
    def part_number(self) -> int | None:
        match = PART_NUMBER.search(self.part)
        return int(match.group(1)) if match else None


@dataclass
class Dataset:
    root: Path
    videos: dict[str, VideoEntry]
    problems: dict[str, str]  # video id (or metadata file) -> why it cannot be used

    @property
    def reals(self) -> list[VideoEntry]:
        return [v for v in self.videos.values() if not v.is_fake]

    def boxes_file(self, video_id: str) -> Path:
        return self.root / "boxes" / f"{video_id}.json"

    def crops_dir(self, video_id: str) -> Path:
        return self.root / "crops" / video_id

    def landmarks_dir(self, video_id: str) -> Path:
        return self.root / "landmarks" / video_id

    def diffs_dir(self, video_id: str) -> Path:
        return self.root / "diffs" / video_id


def _stem(name: str) -> str:
    return Path(name).stem


def load_dataset(root: str | Path) -> Dataset:
    """Every video listed by a metadata.json one folder below `root` and present on disk.

    Listed videos that are absent, malformed entries and unreadable metadata files
    are not errors: they come back in `problems`, for the caller's report.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data root not found: {root}")
    videos: dict[str, VideoEntry] = {}
    problems: dict[str, str] = {}
    metadata_files = sorted(root.glob("*/metadata.json"))
    if not metadata_files:
        raise FileNotFoundError(f"no <part>/metadata.json under {root}")
    for metadata_file in metadata_files:
        part = metadata_file.parent.name
        try:
            metadata = json.loads(metadata_file.read_text())
            if not isinstance(metadata, dict):
                raise ValueError("top level is not an object")
        except (OSError, ValueError) as error:
            problems[f"{part}/metadata.json"] = f"malformed metadata.json: {error}"
            continue
        for name, info in sorted(metadata.items()):
            video_id = _stem(name)
            label = info.get("label") if isinstance(info, dict) else None
            if label not in ("REAL", "FAKE"):
                problems[video_id] = f"metadata entry in {part} has no REAL/FAKE label"
                continue
            path = metadata_file.parent / name
            if not path.is_file():
                problems[video_id] = f"listed in {part}/metadata.json but missing on disk"
                continue
            if video_id in videos:
                problems[video_id] = f"video id also present in {videos[video_id].part}; keeping that one"
                continue
            original = info.get("original") if label == "FAKE" else None
            if original is not None and not isinstance(original, str):
                problems[video_id] = (
                    f"{metadata_file}: the 'original' of {name} is not a file name: {original!r}"
                )
                continue
            videos[video_id] = VideoEntry(
                video_id,
                path,
                int(label == "FAKE"),
                _stem(original) if original else None,
                part,
                str(info.get("split") or "train"),
            )
    return Dataset(root, videos, problems)
