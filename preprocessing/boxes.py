"""The face-box files of step 1 (DATA_ROOT/boxes/<video id>.json): written with their coordinate system named,
read back only when it is known.

    {"coordinates": "full resolution", "frames": {"<frame index>": [[x1, y1, x2, y2], ...] or null}}

The original solution's preprocessing wrote the frames mapping alone, in the coordinates of frames halved for
detection (its extract_crops doubled them); an older version of this project wrote the same layout in
full-resolution pixels. A file without the "coordinates" field is therefore ambiguous: it is refused, unless
the user says which it is (extract_crops --legacy-boxes half|full).
"""

from __future__ import annotations

import json
from pathlib import Path

from core.atomic import write_json_atomic

FULL_RESOLUTION = "full resolution"
# factor that takes a legacy file's boxes to full-resolution pixels
LEGACY_SCALES = {"half": 2.0, "full": 1.0}


class BoxesFormatError(ValueError):
    pass


def write_boxes(path: Path, frames: dict[str, list | None]) -> None:
    write_json_atomic(path, {"coordinates": FULL_RESOLUTION, "frames": frames}, indent=None)


def read_boxes(path: Path, legacy: str | None = None) -> dict[int, list[list[float]] | None]:
    """Frame index -> boxes in full-resolution pixels (or None where no face was found)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise BoxesFormatError(f"{path} is not a JSON object")
    if "coordinates" in data:
        if data["coordinates"] != FULL_RESOLUTION or not isinstance(data.get("frames"), dict):
            raise BoxesFormatError(f"{path}: unknown coordinates {data['coordinates']!r}")
        return {int(frame): boxes for frame, boxes in data["frames"].items()}
    if legacy is None:
        raise BoxesFormatError(
            f"{path} does not say its coordinates: written by the original solution's preprocessing (boxes "
            "of frames halved for detection) or an older version of this one (full resolution); rerun "
            "detect_original_faces on an "
            "empty boxes/ folder, or pass --legacy-boxes half (the original's) or --legacy-boxes full"
        )
    factor = LEGACY_SCALES[legacy]
    return {
        int(frame): [[value * factor for value in box] for box in boxes] if boxes else None
        for frame, boxes in data.items()
    }
