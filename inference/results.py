"""A video's result, as the predictor makes it and the diagnostics JSON keeps it, and the one loader of that
JSON.

A *score* is what the models say (the fake probability); a *label* is ground truth. The CSV alone keeps the
column name `label` (see inference.folder.write_outputs).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

# the version of the diagnostics JSON (the file and each line of the progress log); files of another version
# are refused by load_diagnostics, and a rerun scores their videos afresh. 1: the unversioned files before it.
SCHEMA_VERSION = 2
DERIVED = ("faces_found", "frames_with_faces")  # written for the reader, computed from `faces`


class DiagnosticsError(Exception):
    """A diagnostics file that cannot be read as one of this version (the message is one line)."""


@dataclass
class VideoResult:
    score: float
    frames_read: int = 0
    frame_count: int = 0
    fps: float = 0.0  # as the container states it (0: unknown), for times in the report
    # which decoder read it, its errors and frames decoded (core.decoding.DecodeReport)
    decoding: dict = field(default_factory=dict)
    faces: list[dict] = field(default_factory=list)  # one entry per classified face: frame index + detection
    scores: dict[str, list[float]] = field(default_factory=dict)  # per model, aligned with `faces`
    model_scores: dict[str, float] = field(default_factory=dict)  # per model, the video's score
    fallback: str | None = None  # why the video got the neutral score
    # the fallback came from an unexpected error (out of memory, a decoder crash): retried by a rerun
    transient: bool = False
    note: str | None = None
    faces_skipped: int = 0  # smallest faces of crowded frames, beyond the per-frame limit
    # one per person: frames, faces, per-model and overall score
    tracks: list[dict] = field(default_factory=list)
    # per model, with --explain: see inference.explain
    heatmaps: dict[str, dict] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    path: str = ""  # the video's resolved path
    # which file it was: resolved path, size and modification time (inference.folder.video_key)
    video_key: str = ""

    @property
    def faces_found(self) -> int:
        return len(self.faces)

    @property
    def frames_with_faces(self) -> int:
        return len({face["frame"] for face in self.faces})

    def to_json(self) -> dict:
        return {
            "score": self.score,
            "frames_read": self.frames_read,
            "frame_count": self.frame_count,
            "fps": self.fps,
            "decoding": self.decoding,
            "faces_found": self.faces_found,
            "frames_with_faces": self.frames_with_faces,
            "faces_skipped": self.faces_skipped,
            "faces": self.faces,
            "tracks": self.tracks,
            "heatmaps": self.heatmaps,
            "scores": self.scores,
            "model_scores": self.model_scores,
            "fallback": self.fallback,
            "transient": self.transient,
            "note": self.note,
            "seconds": self.seconds,
            "path": self.path,
            "video_key": self.video_key,
        }

    @classmethod
    def from_json(cls, data: dict) -> VideoResult:
        """The record to_json wrote (raises TypeError for another shape)."""
        return cls(**{key: value for key, value in data.items() if key not in DERIVED})


def load_diagnostics(path: str | os.PathLike) -> tuple[dict, dict[str, VideoResult]]:
    """(the run's settings, each video's record by name) of a diagnostics JSON as predict_folder.py writes it.

    Raises DiagnosticsError, in one line, for a file that is missing, not JSON, of no or another schema
    version, or not of this shape.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DiagnosticsError(f"diagnostics file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DiagnosticsError(f"{path} is not JSON: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("videos"), dict):
        raise DiagnosticsError(
            f'{path} is not a predict_folder.py diagnostics file: it has no "videos" object'
        )
    version = data.get("schema")
    if version != SCHEMA_VERSION:
        found = "no schema version" if version is None else f"schema version {version!r}"
        raise DiagnosticsError(
            f"{path} has {found}, this version reads schema version {SCHEMA_VERSION}: "
            "rerun the scoring (predict_folder.py) to write it afresh"
        )
    settings = {key: value for key, value in data.items() if key not in ("schema", "videos")}
    try:
        records = {name: VideoResult.from_json(record) for name, record in data["videos"].items()}
    except (TypeError, AttributeError) as error:
        raise DiagnosticsError(f"{path} is not a predict_folder.py diagnostics file: {error}") from None
    return settings, records


def diagnostics_json(settings: dict, records: dict[str, VideoResult]) -> dict:
    """What load_diagnostics reads: the schema version, `settings` and every record, sorted by name."""
    return {
        "schema": SCHEMA_VERSION,
        **settings,
        "videos": {name: records[name].to_json() for name in sorted(records)},
    }
