"""Step 3: 5-point MTCNN landmarks of every REAL crop -> DATA_ROOT/landmarks/<video id>/<frame>_<face
index>.npy.

Each file is an int16 array of shape (5, 2): (x, y) of the left eye, right eye,
nose, left and right mouth corner, in the crop's pixel coordinates. A crop in
which MTCNN finds no face gets no file. Fakes share their original's
landmarks (same frames, same crop boxes).

As the original solution: MTCNN (thresholds 0.65/0.75/0.75) on each crop at its own size, with no second
search on a contrast-stretched crop, the largest face's points rounded half to even. Which crops get a file
decides which blackout the training runs on them (along the landmarks, or over the half face).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from core.atomic import atomic_directory
from core.cli import ArgumentParser
from core.faces import FaceDetector
from core.shards import select_shard
from preprocessing.steps import add_common_arguments, start_step

STEP = "generate_landmarks"
THRESHOLDS = (0.65, 0.75, 0.75)


class VideoCrops(Dataset):
    """All crops of one video per item, read in worker processes."""

    def __init__(self, crop_dirs: list[Path]):
        self.crop_dirs = crop_dirs

    def __len__(self) -> int:
        return len(self.crop_dirs)

    def __getitem__(self, index: int) -> tuple[Path, list[tuple[str, np.ndarray]]]:
        crops = []
        for png in sorted(self.crop_dirs[index].glob("*.png")):
            image = cv2.imread(str(png))
            if image is not None:
                crops.append((png.stem, cv2.cvtColor(image, cv2.COLOR_BGR2RGB)))
        return self.crop_dirs[index], crops


def crop_landmarks(detector: FaceDetector, crop: np.ndarray) -> np.ndarray | None:
    """Landmarks of the largest face in the crop (MTCNN's first, as the original took them), in crop pixels,
    found on the crop at its own size."""
    faces = detector.detect([crop], scale=1.0)[0]
    return faces[0].landmarks if faces else None


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, device=True)
    args, dataset, shard, report, device = start_step(parser, STEP, argv)
    todo = []
    for video in select_shard(dataset.reals, shard, key=lambda v: v.video_id):
        if dataset.landmarks_dir(video.video_id).is_dir():
            report.already_done(video.video_id)
        elif not dataset.crops_dir(video.video_id).is_dir():
            report.problem(video.video_id, "no crops (extract_crops has not processed it)")
        else:
            todo.append(dataset.crops_dir(video.video_id))
    detector = FaceDetector(device, THRESHOLDS, contrast_retry=False)
    loader = DataLoader(
        VideoCrops(todo), batch_size=None, num_workers=args.workers, collate_fn=lambda item: item
    )
    for crop_dir, crops in tqdm(loader, total=len(todo), desc=STEP, unit="video"):
        found = 0
        with atomic_directory(dataset.landmarks_dir(crop_dir.name)) as out:
            for name, crop in crops:
                landmarks = crop_landmarks(detector, crop)
                if landmarks is not None:
                    np.save(out / f"{name}.npy", np.round(landmarks).astype(np.int16))
                    found += 1
        if crops and not found:
            report.problem(crop_dir.name, f"no landmarks found in any of {len(crops)} crops")
        else:
            report.success(crop_dir.name)
    print(report.write())
    return 0


if __name__ == "__main__":
    sys.exit(main())
