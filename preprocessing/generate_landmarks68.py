"""dlib's 68-point landmarks of every REAL crop -> DATA_ROOT/landmarks68/<video id>/<frame>_<face index>.npy.

The mask of self-blended images (configs/sbi_b4.json, docs/sbi.md) is the convex hull of these points. Each
file is an int16 array of shape (68, 2): (x, y) in the crop's pixels, in the iBUG 300-W order. dlib's frontal
detector looks for the face in the crop; of several, the one nearest the crop's centre (the crop is cut around
it) is kept. A crop whose shorter side is under --upsample-below pixels is searched at twice its size too,
since dlib's detector misses faces under about 80 pixels. A crop with no face found gets no file; the training
mode uses only crops that have one. Run after extract_crops; resumable like the other steps.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from core.atomic import atomic_directory
from core.cli import ArgumentParser, at_least
from core.dlib_landmarks import face_landmarks_68, unavailable_reason
from core.shards import select_shard
from preprocessing.steps import add_common_arguments, run_in_pool, start_step

STEP = "generate_landmarks68"
FOLDER = "landmarks68"


def crop_landmarks68(crop: np.ndarray, upsample_below: int) -> np.ndarray | None:
    """The 68 points of the face nearest the crop's centre, or None when dlib finds none."""
    faces = face_landmarks_68(crop, upsample=0)
    if not faces and min(crop.shape[:2]) < upsample_below:
        faces = face_landmarks_68(crop, upsample=1)
    if not faces:
        return None
    centre = np.array([crop.shape[1], crop.shape[0]]) / 2
    return min(faces, key=lambda points: float(np.linalg.norm(points.mean(axis=0) - centre)))


def video_landmarks68(job: tuple[Path, Path, int]) -> tuple[str, str | None]:
    """Landmarks of one video's crops, written as one folder (or not at all)."""
    crops_dir, out_dir, upsample_below = job
    crops = sorted(crops_dir.glob("*.png"))
    found = 0
    with atomic_directory(out_dir) as tmp:
        for png in crops:
            image = cv2.imread(str(png), cv2.IMREAD_COLOR)
            if image is None:
                continue
            points = crop_landmarks68(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), upsample_below)
            if points is not None:
                np.save(tmp / f"{png.stem}.npy", points.astype(np.int16))
                found += 1
    if crops and not found:
        return crops_dir.name, f"dlib found no face in any of {len(crops)} crops"
    return crops_dir.name, None


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument(
        "--upsample-below",
        type=at_least(0),
        default=200,
        help="crops whose shorter side is under this many pixels are searched again at twice their size "
        "when no face is found (0: never)",
    )
    reason = unavailable_reason()
    args, dataset, shard, report, _ = start_step(parser, STEP, argv)
    if reason:
        parser.exit(2, f"error: {reason}\n")
    todo = []
    for video in select_shard(dataset.reals, shard, key=lambda v: v.video_id):
        out_dir = dataset.root / FOLDER / video.video_id
        if out_dir.is_dir():
            report.already_done(video.video_id)
        elif not dataset.crops_dir(video.video_id).is_dir():
            report.problem(video.video_id, "no crops (extract_crops has not processed it)")
        else:
            todo.append((dataset.crops_dir(video.video_id), out_dir, args.upsample_below))
    run_in_pool(video_landmarks68, todo, len(todo), args.workers, report)
    print(report.write())
    return 0


if __name__ == "__main__":
    sys.exit(main())
