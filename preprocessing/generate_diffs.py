"""Step 4: where each FAKE crop differs from its original's -> DATA_ROOT/diffs/<fake id>/<frame>_<face
index>_diff.png.

The mask is the original solution's: 1 - SSIM of the BGR crops (scikit-image structural_similarity, a full map
per channel), times 255 cast to uint8, then OpenCV's BGR-to-grey conversion: bright where the fake was
manipulated, dark where it equals the original. Training keeps a fake's blackout region only where more than
20 of its pixels stay nonzero, so the cast's truncation (rather than rounding) matters.
"""

from __future__ import annotations

import argparse
import sys

import cv2
import numpy as np
from skimage.metrics import structural_similarity

from core.atomic import atomic_directory
from core.cli import ArgumentParser
from core.shards import select_shard
from preprocessing.dataset import Dataset, VideoEntry
from preprocessing.steps import add_common_arguments, run_in_pool, start_step, write_image

STEP = "generate_diffs"


def difference_mask(fake: np.ndarray, original: np.ndarray) -> np.ndarray:
    """uint8 map of 1 - SSIM between two same-size BGR images, as the original computed it."""
    _, similarity = structural_similarity(original, fake, channel_axis=2, data_range=255, full=True)
    # The original's (a * 255).astype(np.uint8): truncation toward zero, and where SSIM is negative (1 - SSIM
    # above 1) the value wraps modulo 256, as that cast does on x86; through int64 the wrap is defined on
    # every platform.
    channels = ((1.0 - similarity) * 255).astype(np.int64).astype(np.uint8)
    return cv2.cvtColor(channels, cv2.COLOR_BGR2GRAY)


def diff_video(dataset: Dataset, fake: VideoEntry) -> tuple[str, str | None]:
    original_dir = dataset.crops_dir(fake.original)
    pairs = [(png, original_dir / png.name) for png in sorted(dataset.crops_dir(fake.video_id).glob("*.png"))]
    written = 0
    try:
        with atomic_directory(dataset.diffs_dir(fake.video_id)) as out:
            for fake_png, original_png in pairs:
                fake_image, original_image = cv2.imread(str(fake_png)), cv2.imread(str(original_png))
                if fake_image is None or original_image is None or fake_image.shape != original_image.shape:
                    continue
                write_image(out / f"{fake_png.stem}_diff.png", difference_mask(fake_image, original_image))
                written += 1
    except OSError as error:
        return fake.video_id, str(error)
    return fake.video_id, None if written else f"no crop matches one of the original {fake.original}"


def _diff_job(job):
    return diff_video(*job)


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    args, dataset, shard, report, _ = start_step(parser, STEP, argv)
    todo = []
    fakes = [v for v in dataset.videos.values() if v.is_fake]
    for fake in select_shard(fakes, shard, key=lambda v: v.video_id):
        if dataset.diffs_dir(fake.video_id).is_dir():
            report.already_done(fake.video_id)
        elif not dataset.crops_dir(fake.video_id).is_dir():
            report.problem(fake.video_id, "no crops of the fake (extract_crops has not processed it)")
        elif not fake.original or not dataset.crops_dir(fake.original).is_dir():
            report.problem(fake.video_id, f"no crops of the original {fake.original or '(none given)'}")
        else:
            todo.append((dataset, fake))
    run_in_pool(_diff_job, todo, len(todo), args.workers, report)
    print(report.write())
    return 0


if __name__ == "__main__":
    sys.exit(main())
