"""Lay out FaceForensics++ or Celeb-DF v2 as a DFDC-style DATA_ROOT, so the same pipeline preprocesses and
trains on it.

Videos are linked (or copied with --copy) into part folders with a metadata.json each:

  ffpp:    original_sequences/youtube/<c>/videos/A.mp4        -> ffpp_original/A.mp4             REAL
           manipulated_sequences/<Method>/<c>/videos/A_B.mp4  -> ffpp_<Method>/<Method>_A_B.mp4  FAKE,
           original A.mp4 (A_B puts the face of video B onto target video A and is frame-aligned with A)
  celebdf: Celeb-real/idX_NNNN.mp4                            -> celebdf_real/idX_NNNN.mp4       REAL
           YouTube-real/NNNNN.mp4                             -> celebdf_youtube/NNNNN.mp4       REAL
           Celeb-synthesis/idX_idY_NNNN.mp4                   -> celebdf_synthesis/...           FAKE,
           original idX_NNNN.mp4

Fake names carry the method in FF++ because the same A_B pair exists for every method.

Every video is "split": "train", except Celeb-DF v2's official test videos (List_of_testing_videos.txt in its
root, when present): "test", which generate_folds.py leaves out of folds.csv, so that training neither learns
from nor picks checkpoints on the videos the dataset's results are reported on.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from core.atomic import write_json_atomic
from core.cli import ArgumentParser

FAKE, REAL = "FAKE", "REAL"
CELEBDF_TEST_LIST = "List_of_testing_videos.txt"  # lines of "<1 real | 0 fake> <folder>/<name>.mp4"


def ffpp_entries(src: Path, compression: str) -> list[tuple[str, Path, str, str, str | None]]:
    """(part, source video, new file name, label, original file name) for FaceForensics++."""
    entries = [
        ("ffpp_original", video, video.name, REAL, None)
        for video in sorted((src / "original_sequences" / "youtube" / compression / "videos").glob("*.mp4"))
    ]
    for method_dir in sorted((src / "manipulated_sequences").glob("*")):
        for video in sorted((method_dir / compression / "videos").glob("*.mp4")):
            target = video.stem.split("_")[0]
            entries.append(
                (f"ffpp_{method_dir.name}", video, f"{method_dir.name}_{video.name}", FAKE, f"{target}.mp4")
            )
    return entries


def celebdf_entries(src: Path) -> list[tuple[str, Path, str, str, str | None]]:
    entries = [("celebdf_real", v, v.name, REAL, None) for v in sorted((src / "Celeb-real").glob("*.mp4"))]
    entries += [
        ("celebdf_youtube", v, v.name, REAL, None) for v in sorted((src / "YouTube-real").glob("*.mp4"))
    ]
    for video in sorted((src / "Celeb-synthesis").glob("*.mp4")):
        source_id, _, number = video.stem.split("_")
        entries.append(("celebdf_synthesis", video, video.name, FAKE, f"{source_id}_{number}.mp4"))
    return entries


def celebdf_test_videos(src: Path) -> set[Path] | None:
    """The videos of Celeb-DF v2's official test list, as paths under `src`; None where it has no list."""
    listing = src / CELEBDF_TEST_LIST
    if not listing.is_file():
        return None
    return {src / line.split()[-1] for line in listing.read_text().splitlines() if line.strip()}


def convert(entries, root: Path, copy: bool = False, test_videos: set[Path] = frozenset()) -> dict[str, int]:
    """Link or copy the videos and write each part's metadata.json (split "test" for `test_videos`, else
    "train"); existing correct files are kept."""
    metadata: dict[str, dict] = {}
    for part, video, name, label, original in entries:
        target = root / part / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if copy:
            if not target.is_file() or target.stat().st_size != video.stat().st_size:
                shutil.copyfile(video, target)
        elif not (target.is_symlink() and Path(os.readlink(target)) == video.resolve()):
            target.unlink(missing_ok=True)
            target.symlink_to(video.resolve())
        split = "test" if video in test_videos else "train"
        metadata.setdefault(part, {})[name] = {"label": label, "split": split, "original": original}
    for part, videos in metadata.items():
        write_json_atomic(root / part / "metadata.json", videos)
    return {part: len(videos) for part, videos in metadata.items()}


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=("ffpp", "celebdf"), help="layout of --src")
    parser.add_argument("--src", required=True, help="the dataset's own root folder")
    parser.add_argument("--root-dir", required=True, help="DATA_ROOT to create or extend")
    parser.add_argument("--compression", default="c23", help="FF++ quality folder: raw, c23 or c40")
    parser.add_argument("--copy", action="store_true", help="copy the videos instead of linking them")
    args = parser.parse_args(argv)
    src = Path(args.src)
    if not src.is_dir():
        print(f"error: source folder not found: {src}", file=sys.stderr)
        return 2
    entries = ffpp_entries(src, args.compression) if args.dataset == "ffpp" else celebdf_entries(src)
    if not entries:
        print(f"error: no {args.dataset} videos found under {src}", file=sys.stderr)
        return 2
    test_videos = celebdf_test_videos(src) if args.dataset == "celebdf" else None
    counts = convert(entries, Path(args.root_dir), args.copy, test_videos or frozenset())
    print("converted: " + ", ".join(f"{part} {count}" for part, count in sorted(counts.items())))
    if args.dataset == "celebdf":
        if test_videos is None:
            print(f"note: no {CELEBDF_TEST_LIST} in {src}: every video is marked split train")
        else:
            found = test_videos & {video for _, video, *_ in entries}
            missing = (
                f" ({len(test_videos) - len(found)} listed but not found)"
                if len(found) < len(test_videos)
                else ""
            )
            print(
                f'{len(found)} videos of {CELEBDF_TEST_LIST} marked split "test"{missing}: generate_folds.py '
                "leaves them out of folds.csv"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
