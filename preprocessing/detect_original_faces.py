"""Step 1: MTCNN face boxes on every frame of every REAL video -> DATA_ROOT/boxes/<video id>.json.

The JSON maps each frame index (as a string) to a list of boxes [x1, y1, x2, y2]
in full-resolution pixels, or to null where no face was found (see preprocessing/boxes.py). Fakes are
frame-aligned with their originals and reuse these boxes in extract_crops.

By default detection runs as in the original solution: every frame halved with PIL, MTCNN with thresholds
0.85/0.95/0.95, boxes doubled and kept unrounded. --detection-scale auto resizes by resolution instead (as
scoring does): small videos need it, since halving a 320x240 clip brings its faces near MTCNN's 20 px minimum.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

import numpy as np
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from tqdm import tqdm

from core.cli import ArgumentParser, at_least, detection_scale_option
from core.faces import FaceDetector, detection_scale, resize_as_original, resize_for_detection
from core.shards import select_shard
from core.video import VideoReadError, iterate_frames
from preprocessing.boxes import write_boxes
from preprocessing.dataset import Dataset, VideoEntry
from preprocessing.steps import StepReport, add_common_arguments, start_step

STEP = "detect_original_faces"
THRESHOLDS = (0.85, 0.95, 0.95)
# the original halved every frame for detection (PIL's resize to side // 2) and doubled the boxes
ORIGINAL_SCALE = 0.5
CHUNK_FRAMES = 64  # frames a worker hands over at a time: bounds memory for long videos


class FrameChunks(IterableDataset):
    """Decodes videos in worker processes and yields (video id, frame indices, chunk, scale, is_last, error),
    the frames already resized for detection. A frame that fails to decode is left out, so the indices are the
    frames' real positions in the video, as extract_crops counts them, not their order among those that
    decoded.

    `scale`: a fixed factor, resampled with PIL as the original did, or None for the rule by resolution
    (OpenCV)."""

    def __init__(self, videos: list[VideoEntry], scale: float | None = ORIGINAL_SCALE):
        self.videos = videos
        self.scale = scale

    def __iter__(self) -> Iterator[tuple[str, list[int], np.ndarray | None, float, bool, str | None]]:
        info = get_worker_info()
        mine = self.videos if info is None else self.videos[info.id :: info.num_workers]
        for video in mine:
            yield from self._chunks(video)

    def _chunks(self, video: VideoEntry):
        chunk: list[np.ndarray] = []
        indices: list[int] = []
        scale = None
        try:
            for index, frame in iterate_frames(video.path):
                if scale is None:
                    scale = self.scale or detection_scale(frame.shape[1], frame.shape[0])
                chunk.append(
                    resize_as_original(frame, scale) if self.scale else resize_for_detection(frame, scale)
                )
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


def detect_faces(
    dataset: Dataset,
    detector: FaceDetector,
    workers: int,
    shard: tuple[int, int],
    report: StepReport,
    scale: float | None = ORIGINAL_SCALE,
) -> None:
    todo = []
    for video in select_shard(dataset.reals, shard, key=lambda v: v.video_id):
        if dataset.boxes_file(video.video_id).is_file():
            report.already_done(video.video_id)
        else:
            todo.append(video)
    loader = DataLoader(
        FrameChunks(todo, scale), batch_size=None, num_workers=workers, collate_fn=lambda item: item
    )
    boxes: dict[str, dict[str, list | None]] = {}
    with tqdm(total=len(todo), desc=STEP, unit="video") as bar:
        for video_id, indices, frames, scale, is_last, error in loader:
            found = boxes.setdefault(video_id, {})
            if frames is not None:
                for index, faces in zip(indices, detector.detect_resized(list(frames), scale), strict=True):
                    # unrounded, as the original kept them: extract_crops truncates the corners, and a rounded
                    # 201.996 would become 202 instead of 201
                    found[str(index)] = [list(face.box) for face in faces] or None
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
    parser.add_argument(
        "--detection-scale",
        type=detection_scale_option,
        default=str(ORIGINAL_SCALE),
        metavar="auto|FACTOR",
        help="resize factor of the frames for face detection, resampled with PIL (default 0.5: the original "
        "solution halved every video); auto: 2 for a wider side under 300 px, 1 up to 1000, 0.5 up to 1900, "
        "0.33 "
        "above, resampled with OpenCV, for videos whose faces halving would bring near MTCNN's 20 px minimum",
    )
    parser.add_argument(
        "--contrast-retry",
        action="store_true",
        help="search faceless dark frames again with their contrast stretched, as scoring does (the original "
        "did not)",
    )
    args, dataset, shard, report, device = start_step(parser, STEP, argv)
    if shard[0] == 0:
        for video_id, reason in dataset.problems.items():
            report.problem(video_id, reason, counts_as_failure=False)
    detector = FaceDetector(
        device, THRESHOLDS, batch_size=args.batch_size, contrast_retry=args.contrast_retry
    )
    detect_faces(dataset, detector, args.workers, shard, report, args.detection_scale)
    print(report.write())
    return 0


if __name__ == "__main__":
    sys.exit(main())
