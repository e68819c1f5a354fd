"""Step 5: one row per crop with its fold -> folds.csv (video,file,label,original,frame,fold).

The rows are the original solution's: crops of frames 0, 10, ..., 310 (below 320, every 10th), faces 0 and 1
only (the two largest), a REAL video only when at least one fake names it as its original, and every FAKE that
names its original. The crops left out are counted, by reason, in the step's report; --all-crops lists every
crop instead.

DFDC parts (folders ending in _<number>) are whole folds, as in the original solution:
with 16 splits, parts 3f..3f+2 form fold f (f < 15) and parts 45-49 fold 15 (see
dfdc_part_fold), and a fake lives in its original's part. Folders without a
part number are split by original video: an original and all its fakes get one
fold. Either way no original/fake pair is split across folds; this is checked.

Videos whose metadata "split" is "test" (a dataset's official test videos, e.g. Celeb-DF v2's
List_of_testing_videos.txt as convert_dataset.py marks them) get no row, so that no fold trains or picks
checkpoints on what the model is to be tested on; --include-test-split lists them too.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
import zlib
from collections import Counter
from pathlib import Path

from core.atomic import write_text_atomic
from core.cli import ArgumentParser, at_least
from preprocessing.dataset import Dataset, VideoEntry, load_dataset
from preprocessing.steps import StepReport

COLUMNS = ("video", "file", "label", "original", "frame", "fold")
CROP_NAME = re.compile(r"\d+_\d+\.png")  # <frame>_<face>.png, as extract_crops writes them


class FoldLeakError(AssertionError):
    pass


DFDC_PARTS = 50
# The original's rows: frames below 320, every 10th, and the first two faces of each (largest first).
ORIGINAL_FRAME_LIMIT = 320
ORIGINAL_FRAME_STEP = 10
ORIGINAL_FACES = 2


def dfdc_part_fold(part: int, n_splits: int) -> int:
    """The original solution's folds of the 50 DFDC parts: runs of 50 // n_splits consecutive parts, the last
    fold taking the rest (16 folds: parts 3f..3f+2 in fold f < 15, parts 45-49 in fold 15). Parts past 49 join
    the last."""
    per_fold = max(DFDC_PARTS // n_splits, 1)
    return min(part // per_fold, n_splits - 1)


def assign_fold(dataset: Dataset, video: VideoEntry, n_splits: int) -> int:
    anchor = dataset.videos.get(video.original, video) if video.is_fake else video
    if anchor.part_number is not None:
        return dfdc_part_fold(anchor.part_number, n_splits)
    return zlib.crc32(anchor.video_id.encode()) % n_splits


def left_out_reason(frame: int, face: int) -> str | None:
    """Why the original's rows had no place for this crop, or None where they had."""
    if frame >= ORIGINAL_FRAME_LIMIT:
        return f"crops of frames {ORIGINAL_FRAME_LIMIT} or later"
    if frame % ORIGINAL_FRAME_STEP:
        return f"crops of frames that are not a multiple of {ORIGINAL_FRAME_STEP}"
    if face >= ORIGINAL_FACES:
        return f"crops of faces after the {ORIGINAL_FACES} largest of their frame"
    return None


def unpaired_reason(video: VideoEntry, named_as_original: bool) -> str | None:
    """Why the original's rows had no place for any crop of this video (it pairs no fake with a real), or
    None where they had."""
    if not video.is_fake and not named_as_original:
        return "crops of REAL videos that no fake names as its original"
    if video.is_fake and not video.original:
        return "crops of FAKE videos that name no original"
    return None


def crops_in(crop_dir: Path, stray: list[Path] | None) -> list[Path]:
    """The `<frame>_<face>.png` crops of a folder in frame and face order; other files go to `stray`."""
    crops = []
    for path in crop_dir.iterdir():
        if CROP_NAME.fullmatch(path.name) and path.is_file():
            crops.append(path)
        elif stray is not None:
            stray.append(path)
    return sorted(crops, key=lambda p: tuple(int(v) for v in p.stem.split("_")))


def fold_rows(
    dataset: Dataset,
    n_splits: int,
    stray: list[Path] | None = None,
    all_crops: bool = False,
    left_out: Counter | None = None,
    include_test_split: bool = False,
    test_videos: list[str] | None = None,
) -> list[dict]:
    """One row per crop; files in a crops folder that are not `<frame>_<face>.png` are left out (and added to
    `stray`).

    Unless `all_crops`, only the original's rows (see the module's doc); the crops left out are counted in
    `left_out` by reason. Videos of the "test" split get no row unless `include_test_split`; their ids go to
    `test_videos`."""
    named_originals = {
        video.original for video in dataset.videos.values() if video.is_fake and video.original
    }
    rows = []
    for video_id in sorted(dataset.videos):
        video = dataset.videos[video_id]
        crop_dir = dataset.crops_dir(video_id)
        if not crop_dir.is_dir():
            continue
        if video.split == "test" and not include_test_split:
            if test_videos is not None:
                test_videos.append(video_id)
            continue
        fold = assign_fold(dataset, video, n_splits)
        unpaired = None if all_crops else unpaired_reason(video, video_id in named_originals)
        for png in crops_in(crop_dir, stray):
            frame, face = (int(v) for v in png.stem.split("_"))
            reason = None if all_crops else unpaired or left_out_reason(frame, face)
            if reason:
                if left_out is not None:
                    left_out[reason] += 1
                continue
            rows.append(
                {
                    "video": video_id,
                    "file": png.relative_to(dataset.root).as_posix(),
                    "label": video.label,
                    "original": video.original or "",
                    "frame": frame,
                    "fold": fold,
                }
            )
    check_no_leak(rows)
    return rows


def fold_summary(rows: list[dict]) -> list[str]:
    """ "fold 3: 12 videos (4 real, 8 fake)", one line per fold that has rows, in fold order."""
    videos: dict[int, dict[str, int]] = {}
    for row in rows:
        videos.setdefault(row["fold"], {})[row["video"]] = row["label"]
    lines = []
    for fold in sorted(videos):
        labels = list(videos[fold].values())
        lines.append(f"fold {fold}: {len(labels)} videos ({labels.count(0)} real, {labels.count(1)} fake)")
    return lines


def check_no_leak(rows: list[dict]) -> None:
    """Every fake shares the fold of its original (where the original has crops)."""
    folds = {row["video"]: row["fold"] for row in rows}
    for row in rows:
        if row["original"] and row["original"] in folds and folds[row["original"]] != row["fold"]:
            raise FoldLeakError(
                f"{row['video']} is in fold {row['fold']} but its original {row['original']} in fold "
                f"{folds[row['original']]}"
            )


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root-dir", required=True, help="DATA_ROOT, after extract_crops")
    parser.add_argument(
        "--out", default="folds.csv", help="CSV to write; a relative path is taken inside --root-dir"
    )
    parser.add_argument("--n-splits", type=at_least(2), default=16, help="number of folds")
    parser.add_argument(
        "--all-crops",
        action="store_true",
        help="a row for every crop of every video, instead of the original solution's rows (frames below "
        "320, every 10th, faces 0 and 1, reals only where a fake names them as its original)",
    )
    parser.add_argument(
        "--include-test-split",
        action="store_true",
        help='rows for the videos whose metadata "split" is "test" too (a dataset\'s official test videos, '
        "left out by default so that no fold trains on them)",
    )
    return parser.parse_args(argv)


def write_rows(out: Path, rows: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(out, buffer.getvalue())


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        dataset = load_dataset(args.root_dir)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    stray: list[Path] = []
    left_out: Counter = Counter()
    test_videos: list[str] = []
    rows = fold_rows(
        dataset, args.n_splits, stray, args.all_crops, left_out, args.include_test_split, test_videos
    )
    report = StepReport(dataset.root, "generate_folds", (0, 1))
    report.problems = {}  # this step reads every crop afresh: only this run's findings
    report.extra = {
        "folds": fold_summary(rows),
        "crops_left_out": dict(sorted(left_out.items())),
        "test_split_videos_left_out": len(test_videos),
    }
    for path in stray:
        report.problem(
            str(path.relative_to(dataset.root)), "not a <frame>_<face>.png crop; left out of folds.csv"
        )
    for path in sorted(stray)[:10]:
        print(f"warning: skipped {path} (not a <frame>_<face>.png crop)", file=sys.stderr)
    out = Path(args.out) if Path(args.out).is_absolute() else dataset.root / args.out
    write_rows(out, rows)
    videos = {row["video"] for row in rows}
    print(
        f"generate_folds: {len(rows)} crops of {len(videos)} videos in {len({r['fold'] for r in rows})} "
        f"folds -> {out}"
    )
    for line in report.extra["folds"]:
        print(f"  {line}")
    if left_out:
        reasons = "; ".join(f"{count} {reason}" for reason, count in sorted(left_out.items()))
        print(
            f"generate_folds: {sum(left_out.values())} crops left out, as the original solution's rows leave "
            f"them out ({reasons}); --all-crops keeps them"
        )
    if test_videos:
        print(
            f'generate_folds: {len(test_videos)} videos of the "test" split left out (so says their '
            "metadata); --include-test-split lists them"
        )
    report.done = len(videos)
    report.write()
    if stray:
        print(f"generate_folds: {len(stray)} stray files in crops/ left out; listed in {report.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
