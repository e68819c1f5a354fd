"""The winning solution's kernel_utils API, with its signatures, as thin adapters over this project's reading,
detection and cropping, so that a script written against the original runs unchanged.

Its behaviour is the original's: 0.5x detection with the original's resampling and no contrast retry, every
face of every frame up to 4 x frames_per_video - 1 faces, a third of each box added on every side, truncating
isotropic resize and centre padding, ImageNet normalisation, `strategy` per model and the mean over models;
0.5 when anything fails. The project's own API (VideoPredictor, score_videos) has other names.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import torch
from torchvision.transforms import Normalize

from core.faces import FaceDetector, crop_face
from core.images import IMAGENET_MEAN, IMAGENET_STD, face_to_model_input, normalize_batch
from core.video import VideoReadError, read_frames_at, read_sampled_frames
from inference.predictor import NEUTRAL_SCORE

ORIGINAL_DETECTION_SCALE = 0.5
ORIGINAL_THRESHOLDS = (0.7, 0.8, 0.8)
COMPRESSION_QUALITY = 90  # predict_on_video(apply_compression=True): JPEG quality of each resized face

# The original module's normalisation, under its names: ImageNet's mean and std, and torchvision's transform
# of them.
mean = list(IMAGENET_MEAN)
std = list(IMAGENET_STD)
normalize_transform = Normalize(mean, std)


def _container_frame_count(path) -> int:
    """The frame count the container states, as the original read it (0 when it cannot be opened)."""
    capture = cv2.VideoCapture(str(path))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    capture.release()
    return max(count, 0)


class VideoReader:
    """Reads frames of a video as the original's VideoReader: each method returns (frames as one uint8 RGB
    array, their indices), or None when nothing could be read.

    Where the original's reader met an index twice (read_frames on a video shorter than the frames asked for,
    a repeated random draw) it stopped reading there; here a repeated index is read once and reading goes on,
    as its documentation promised. A frame that fails to decode is skipped, where the original stopped.
    """

    def __init__(self, verbose: bool = True, insets: tuple[float, float] = (0, 0)):
        self.verbose = verbose
        self.insets = insets

    def read_frames(self, path, num_frames: int, jitter: int = 0, seed: int | None = None):
        """(frames as one uint8 RGB array, their indices), or None when the video cannot be read."""
        try:
            sampled = read_sampled_frames(path, num_frames, jitter, seed)
        except VideoReadError as error:
            if self.verbose:
                print(f"Error reading {path}: {error}")
            return None
        frames = [self._inset(frame) for frame in sampled.frames]
        return np.stack(frames), list(sampled.indices)

    def read_random_frames(self, path, num_frames: int, seed: int | None = None):
        """`num_frames` positions drawn at random, with repeats, as the original drew them (NumPy's legacy
        generator seeded with `seed`: the same positions), read in order."""
        frame_count = _container_frame_count(path)
        if frame_count <= 0:
            return None
        drawn = np.random.RandomState(seed).choice(np.arange(0, frame_count), num_frames)
        return self.read_frames_at_indices(path, sorted(drawn.tolist()))

    def read_frames_at_indices(self, path, frame_idxs: Sequence[int]):
        """The frames at these positions (sorted low to high), each read once."""
        try:
            frames = read_frames_at(path, sorted({int(index) for index in frame_idxs}))
        except VideoReadError as error:
            if self.verbose:
                print(f"Error reading {path}: {error}")
            return None
        return np.stack([self._inset(frame) for frame in frames.values()]), list(frames)

    def read_middle_frame(self, path):
        """The frame at half the frame count the container states."""
        return self.read_frame_at_index(path, _container_frame_count(path) // 2)

    def read_frame_at_index(self, path, frame_idx: int):
        """One frame: an array of shape (1, H, W, 3) and [frame_idx]."""
        result = self.read_frames_at_indices(path, [frame_idx])
        if result is None or result[1] != [frame_idx]:
            return None
        return result

    def _inset(self, frame: np.ndarray) -> np.ndarray:
        width_inset, height_inset = int(frame.shape[1] * self.insets[0]), int(frame.shape[0] * self.insets[1])
        if width_inset > 0:
            frame = frame[:, width_inset:-width_inset]
        if height_inset > 0:
            frame = frame[height_inset:-height_inset]
        return frame


class FaceExtractor:
    """Finds and crops the faces of the frames `video_read_fn(path)` returns, as the original's
    FaceExtractor."""

    def __init__(self, video_read_fn: Callable, detector: FaceDetector | None = None):
        self.video_read_fn = video_read_fn
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.detector = detector or FaceDetector(
            device, ORIGINAL_THRESHOLDS, scale=ORIGINAL_DETECTION_SCALE, contrast_retry=False
        )

    def process_videos(self, input_dir, filenames: Sequence[str], video_idxs: Sequence[int]) -> list[dict]:
        """One dict per frame in which a face was found, as the original (a frame without one has no entry):
        video_idx, frame_idx, frame_w, frame_h, faces (RGB crops, largest first), scores."""
        results = []
        for video_idx in video_idxs:
            read = self.video_read_fn(os.path.join(input_dir, filenames[video_idx]))
            if read is None:
                continue
            frames, indices = read
            for frame, frame_idx, faces in zip(
                frames, indices, self.detector.detect(list(frames)), strict=True
            ):
                crops = [
                    (crop, face.score) for face in faces if (crop := crop_face(frame, face.box)) is not None
                ]
                if not faces:
                    continue
                results.append(
                    {
                        "video_idx": video_idx,
                        "frame_idx": frame_idx,
                        "frame_w": frame.shape[1],
                        "frame_h": frame.shape[0],
                        "faces": [crop for crop, _ in crops],
                        "scores": [score for _, score in crops],
                    }
                )
        return results

    def process_video(self, video_path) -> list[dict]:
        return self.process_videos(os.path.dirname(video_path), [os.path.basename(video_path)], [0])


def compress_face(face: np.ndarray, quality: int = COMPRESSION_QUALITY) -> np.ndarray:
    """A JPEG round trip of the array as it is, as the original's albumentations image_compression made it."""
    ok, encoded = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED) if ok else face


def predict_on_video(
    face_extractor: FaceExtractor,
    video_path,
    batch_size: int,
    input_size: int,
    models: Sequence[torch.nn.Module],
    strategy: Callable = np.mean,
    apply_compression: bool = False,
) -> float:
    """Fake probability of one video: `strategy` over each model's face scores, averaged over the models; 0.5
    on failure."""
    try:
        faces = [face for frame in face_extractor.process_video(video_path) for face in frame["faces"]]
        faces = faces[: batch_size * 4 - 1]  # the original's buffer of 4 faces per frame, one slot unused
        if faces:
            inputs = [face_to_model_input(face, input_size) for face in faces]
            if apply_compression:
                inputs = [compress_face(face) for face in inputs]
            predictions = []
            with torch.no_grad():
                for model in models:
                    parameter = next(model.parameters())
                    batch = normalize_batch(inputs, parameter.device, parameter.dtype)
                    scores = torch.sigmoid(model(batch).float().flatten()).cpu().numpy()
                    predictions.append(strategy(scores))
            return float(np.mean(predictions))
    except Exception as error:  # the original scores a video it cannot handle 0.5 and goes on
        print(f"Prediction error on video {video_path}: {error}")
    return NEUTRAL_SCORE


def predict_on_video_set(
    face_extractor: FaceExtractor,
    videos: Sequence[str],
    input_size: int,
    num_workers: int,
    test_dir,
    frames_per_video: int,
    models: Sequence[torch.nn.Module],
    strategy: Callable = np.mean,
    apply_compression: bool = False,
) -> list[float]:
    """predict_on_video for each file name in `videos` (inside `test_dir`), `num_workers` at a time, in
    order."""

    def process_file(index: int) -> float:
        return predict_on_video(
            face_extractor,
            os.path.join(test_dir, videos[index]),
            batch_size=frames_per_video,
            input_size=input_size,
            models=models,
            strategy=strategy,
            apply_compression=apply_compression,
        )

    with ThreadPoolExecutor(max_workers=max(num_workers, 1)) as pool:
        return list(pool.map(process_file, range(len(videos))))
