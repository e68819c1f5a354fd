"""Step 2: face crops of every N-th frame of every video -> DATA_ROOT/crops/<video id>/<frame>_<face
index>.png.

A REAL video is cropped with its own boxes, a FAKE with its original's (they are
frame-aligned), so a fake's crop and its original's crop show the same region.
Each box is grown by a third of its size on every side and clipped to the frame.
"""

from __future__ import annotations

import argparse
import sys

import cv2

from core.atomic import atomic_directory
from core.cli import ArgumentParser, at_least
from core.faces import crop_face
from core.shards import select_shard
from core.video import VideoReadError, iterate_frames
from preprocessing.boxes import LEGACY_SCALES, BoxesFormatError, read_boxes
from preprocessing.dataset import Dataset, VideoEntry
from preprocessing.steps import add_common_arguments, run_in_pool, start_step, write_image

STEP = "extract_crops"


def crop_video(
    dataset: Dataset, video: VideoEntry, every: int, legacy_boxes: str | None = None
) -> tuple[str, str | None]:
    """Write one video's crops; returns (video id, problem or None)."""
    source = video.original if video.is_fake else video.video_id
    if video.is_fake and (not source or source not in dataset.videos):
        return video.video_id, f"original {source or '(none given)'} is not in the dataset"
    boxes_file = dataset.boxes_file(source)
    if not boxes_file.is_file():
        return video.video_id, f"no face boxes for {source} (detect_original_faces has not processed it)"
    try:
        boxes = read_boxes(boxes_file, legacy_boxes)
    except (BoxesFormatError, ValueError) as error:
        return video.video_id, str(error)
    wanted = {
        frame: frame_boxes for frame, frame_boxes in boxes.items() if frame % every == 0 and frame_boxes
    }
    written = 0
    try:
        with atomic_directory(dataset.crops_dir(video.video_id)) as out:
            if wanted:
                for index, frame in iterate_frames(video.path, set(wanted)):
                    bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
                    for face_index, box in enumerate(wanted[index]):
                        crop = crop_face(bgr, box)
                        if crop is not None:
                            write_image(out / f"{index}_{face_index}.png", crop)
                            written += 1
    except (VideoReadError, OSError) as error:
        return video.video_id, str(error)
    return video.video_id, None if written else "no face in the sampled frames"


def _crop_job(job):
    return crop_video(*job)


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--every", type=at_least(1), default=10, help="crop every N-th frame (0, N, 2N, ...)")
    parser.add_argument(
        "--legacy-boxes",
        choices=sorted(LEGACY_SCALES),
        default=None,
        help="read box files that do not name their coordinates (written by the original solution's "
        "preprocessing: half; by an older version of this project: full); without it they are refused",
    )
    args, dataset, shard, report, _ = start_step(parser, STEP, argv)
    todo = []
    for video in select_shard(list(dataset.videos.values()), shard, key=lambda v: v.video_id):
        if dataset.crops_dir(video.video_id).is_dir():
            report.already_done(video.video_id)
        else:
            todo.append((dataset, video, args.every, args.legacy_boxes))
    run_in_pool(_crop_job, todo, len(todo), args.workers, report)
    print(report.write())
    return 0


if __name__ == "__main__":
    sys.exit(main())
