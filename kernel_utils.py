"""The inference API in one import.

The winning solution's own API, with its signatures (see inference/original_api.py), so its scripts run
unchanged:

    from kernel_utils import VideoReader, FaceExtractor, confident_strategy, predict_on_video_set
    video_reader = VideoReader()
    face_extractor = FaceExtractor(lambda path: video_reader.read_frames(path, num_frames=32))
    predictions = predict_on_video_set(face_extractor=face_extractor, input_size=380, models=models,
                                       strategy=confident_strategy, frames_per_video=32, videos=names,
                                       num_workers=6, test_dir=folder)

and this project's, under names of its own:

    from kernel_utils import VideoPredictor, FaceDetector, load_classifier, score_videos
    models = {
        "b7": load_classifier("weights/final_111_DeepFakeClassifier_tf_efficientnet_b7_ns_0_36", device)
    }
    labels = score_videos(VideoPredictor(models, FaceDetector(device), device), ["a.mp4", "b.mp4"])
"""

from __future__ import annotations

from core.faces import Face, FaceDetector, crop_face, detection_scale, margin_box
from core.images import face_to_model_input, isotropically_resize_image, normalize_batch, put_to_center
from core.video import SampledFrames, VideoReadError, read_sampled_frames, sample_frame_indices
from inference.loading import load_classifier
from inference.original_api import (
    FaceExtractor,
    VideoReader,
    mean,
    normalize_transform,
    predict_on_video,
    predict_on_video_set,
    std,
)
from inference.predictor import NEUTRAL_SCORE, PredictorSettings, VideoPredictor, score_videos
from inference.results import VideoResult
from inference.strategy import confident_strategy, mean_strategy

strategy = confident_strategy  # the original module's name for the strategy it used

__all__ = [
    "NEUTRAL_SCORE",
    "PredictorSettings",
    "Face",
    "FaceDetector",
    "FaceExtractor",
    "SampledFrames",
    "VideoPredictor",
    "VideoReadError",
    "VideoReader",
    "VideoResult",
    "confident_strategy",
    "crop_face",
    "detection_scale",
    "face_to_model_input",
    "isotropically_resize_image",
    "load_classifier",
    "margin_box",
    "mean",
    "mean_strategy",
    "normalize_batch",
    "normalize_transform",
    "predict_on_video",
    "predict_on_video_set",
    "put_to_center",
    "read_sampled_frames",
    "sample_frame_indices",
    "score_videos",
    "std",
    "strategy",
]
