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

Every video is "split": "train", except the dataset's official test videos: "test", which
generate_folds.py leaves out of folds.csv, so that training neither learns from nor picks checkpoints on the
videos the dataset's results are reported on. --test-split names the list: Celeb-DF v2's
List_of_testing_videos.txt (by default the one in --src), or FF++'s test.json, a list of ["A", "B"] pairs
(dataset/splits/test.json of the FaceForensics repository, not part of the video download; by default
--src/splits/test.json where it exists), whose videos are the originals A and B and every fake of either.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from core.atomic import write_json_atomic
from core.cli import ArgumentParser

FAKE, REAL = "FAKE", "REAL"
# where each dataset's official test list is looked for when --test-split is not given
DEFAULT_TEST_SPLIT = {"celebdf": "List_of_testing_videos.txt", "ffpp": "splits/test.json"}


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


def celebdf_test_videos(src: Path, listing: Path) -> set[Path]:
    """The source videos named by Celeb-DF v2's test list (lines of "<1 real | 0 fake> <folder>/<name>")."""
    return {src / line.split()[-1] for line in listing.read_text().splitlines() if line.strip()}


def ffpp_test_ids(pairs_file: Path) -> set[str]:
    """The original videos' ids in FF++'s test pairs."""
    return {str(video_id) for pair in json.loads(pairs_file.read_text()) for video_id in pair}


def official_test_videos(dataset: str, src: Path, entries, listing: Path) -> tuple[set[Path], str]:
    """(the converted videos that the dataset's test list names, a line saying how many); raises OSError or
    ValueError where the list cannot be read."""
    if dataset == "celebdf":
        listed = celebdf_test_videos(src, listing)
        chosen = listed & {video for _, video, *_ in entries}
        return chosen, f"{len(chosen)} of the {len(listed)} videos in {listing.name}"
    ids = ffpp_test_ids(listing)
    chosen = {video for _, video, name, _, original in entries if Path(original or name).stem in ids}
    return chosen, f"{len(chosen)} videos ({listing.name}'s {len(ids)} originals and their fakes)"


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
    parser.add_argument(
        "--test-split",
        default=None,
        help="the official test list, whose videos are marked split test and left out of folds.csv: "
        "Celeb-DF's List_of_testing_videos.txt (default: the one in --src) or FF++'s test.json of [A, B] "
        "pairs (default: --src/splits/test.json, where it exists)",
    )
    args = parser.parse_args(argv)
    src = Path(args.src)
    if not src.is_dir():
        print(f"error: source folder not found: {src}", file=sys.stderr)
        return 2
    entries = ffpp_entries(src, args.compression) if args.dataset == "ffpp" else celebdf_entries(src)
    if not entries:
        print(f"error: no {args.dataset} videos found under {src}", file=sys.stderr)
        return 2
    listing = Path(args.test_split) if args.test_split else src / DEFAULT_TEST_SPLIT[args.dataset]
    if args.test_split and not listing.is_file():
        print(f"error: test split list not found: {listing}", file=sys.stderr)
        return 2
    test_videos, outcome = set(), f"note: no test split list ({listing}): every video is marked split train"
    if listing.is_file():
        try:
            test_videos, how_many = official_test_videos(args.dataset, src, entries, listing)
        except (OSError, ValueError, TypeError) as error:
            print(f"error: cannot read the test split list {listing}: {error}", file=sys.stderr)
            return 2
        outcome = f'{how_many} marked split "test": generate_folds.py leaves them out of folds.csv'
    counts = convert(entries, Path(args.root_dir), args.copy, test_videos)
    print("converted: " + ", ".join(f"{part} {count}" for part, count in sorted(counts.items())))
    print(outcome)
    return 0


if __name__ == "__main__":
    sys.exit(main())
