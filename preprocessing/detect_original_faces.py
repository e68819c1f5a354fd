"""Step 1: MTCNN face boxes on every frame of every REAL video -> DATA_ROOT/boxes/<video id>.json.

The JSON maps each frame index (as a string) to a list of boxes [x1, y1, x2, y2]
in full-resolution pixels, or to null where no face was found (see preprocessing/boxes.py). Fakes are
frame-aligned with their originals and reuse these boxes in extract_crops.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

import numpy as np
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from tqdm import tqdm

from core.cli import ArgumentParser, at_least
from core.faces import FaceDetector, detection_scale, resize_for_detection
from core.shards import select_shard
from core.video import VideoReadError, iterate_frames
from preprocessing.boxes import write_boxes
from preprocessing.dataset import Dataset, VideoEntry
from preprocessing.steps import StepReport, add_common_arguments, start_step

STEP = "detect_original_faces"
THRESHOLDS = (0.85, 0.95, 0.95)
CHUNK_FRAMES = 64  # frames a worker hands over at a time: bounds memory for long videos


class FrameChunks(IterableDataset):
    """Decodes videos in worker processes and yields (video id, frame indices, chunk, scale, is_last, error),
    the frames already resized for detection. A frame that fails to decode is left out, so the indices are the
    frames' real positions in the video, as extract_crops counts them, not their order among those that decoded."""

    def __init__(self, videos: list[VideoEntry]):
        self.videos = videos

    def __iter__(self) -> Iterator[tuple[str, list[int], np.ndarray | None, float, bool, str | None]]:
        info = get_worker_info()
        mine = self.videos if info is None else self.videos[info.id :: info.num_workers]
        for video in mine:
            yield from self._chunks(video)

    @staticmethod
    def _chunks(video: VideoEntry):
        chunk: list[np.ndarray] = []
        indices: list[int] = []
        scale = None
        try:
            for index, frame in iterate_frames(video.path):
                if scale is None:
                    scale = detection_scale(frame.shape[1], frame.shape[0])
                chunk.append(resize_for_detection(frame, scale))
                indices.append(index)
                if len(chunk) == CHUNK_FRAMES:
                    yield video.video_id, indices, np.stack(chunk), scale, False, None
                    chunk, indices = [], []
        except (VideoReadError, OSError) as error:
            yield video.video_id, [], None, 1.0, True, str(error)
            return
        if scale is None:
            yield video.video_id, [], None, 1.0, True, "video has no decodable frames"
            return
        yield video.video_id, indices, np.stack(chunk) if chunk else None, scale, True, None


def detect_faces(dataset: Dataset, detector: FaceDetector, workers: int, shard: tuple[int, int], report: StepReport) -> None:
    todo = []
    for video in select_shard(dataset.reals, shard, key=lambda v: v.video_id):
        if dataset.boxes_file(video.video_id).is_file():
            report.already_done(video.video_id)
        else:
            todo.append(video)
    loader = DataLoader(FrameChunks(todo), batch_size=None, num_workers=workers, collate_fn=lambda item: item)
    boxes: dict[str, dict[str, list | None]] = {}
    with tqdm(total=len(todo), desc=STEP, unit="video") as bar:
        for video_id, indices, frames, scale, is_last, error in loader:
            found = boxes.setdefault(video_id, {})
            if frames is not None:
                for index, faces in zip(indices, detector.detect_resized(list(frames), scale), strict=True):
                    found[str(index)] = [[round(v, 2) for v in face.box] for face in faces] or None
            if not is_last:
                continue
            frame_boxes = boxes.pop(video_id)
            bar.update()
            if error:
                report.problem(video_id, error)
                continue
            write_boxes(dataset.boxes_file(video_id), frame_boxes)
            if not any(frame_boxes.values()):
                report.problem(video_id, "no face found in any frame")
            else:
                report.success(video_id)


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, device=True)
    parser.add_argument("--batch-size", type=at_least(1), default=32, help="frames per detector call")
    args, dataset, shard, report, device = start_step(parser, STEP, argv)
    if shard[0] == 0:
        for video_id, reason in dataset.problems.items():
            report.problem(video_id, reason, counts_as_failure=False)
    detect_faces(dataset, FaceDetector(device, THRESHOLDS, batch_size=args.batch_size), args.workers, shard, report)
    print(report.write())
    return 0


if __name__ == "__main__":
    sys.exit(main())
