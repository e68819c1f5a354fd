"""The inference API in one import, under the names users of the original DFDC solution know.

    from kernel_utils import VideoPredictor, FaceDetector, load_classifier, predict_on_video_set
    models = {"b7": load_classifier("weights/final_111_DeepFakeClassifier_tf_efficientnet_b7_ns_0_36", device)}
    predictor = VideoPredictor(models, FaceDetector(device), device)
    labels = predict_on_video_set(predictor, ["a.mp4", "b.mp4"])
"""
from __future__ import annotations

import os
from collections.abc import Sequence

from core.faces import Face, FaceDetector, crop_face, detection_scale, margin_box
from core.images import face_to_model_input, isotropically_resize_image, normalize_batch, put_to_center
from core.video import SampledFrames, VideoReadError, read_sampled_frames, sample_frame_indices
from inference.predictor import NEUTRAL_LABEL, VideoPredictor, VideoResult, load_classifier
from inference.strategy import confident_strategy, mean_strategy

__all__ = [
    "NEUTRAL_LABEL", "Face", "FaceDetector", "SampledFrames", "VideoPredictor", "VideoReadError", "VideoResult",
    "confident_strategy", "crop_face", "detection_scale", "face_to_model_input", "isotropically_resize_image",
    "load_classifier", "margin_box", "mean_strategy", "normalize_batch", "predict_on_video", "predict_on_video_set",
    "put_to_center", "read_sampled_frames", "sample_frame_indices",
]


def predict_on_video(predictor: VideoPredictor, video_path: str | os.PathLike) -> float:
    """Fake probability of one video (0.5 when it cannot be read or shows no face)."""
    return predictor.predict(video_path).label


def predict_on_video_set(predictor: VideoPredictor, videos: Sequence[str | os.PathLike]) -> list[float]:
    """Fake probability of each video, in the order given."""
    return [predict_on_video(predictor, video) for video in videos]
