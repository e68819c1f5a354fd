"""--video-score frame-max: each frame's most fake face, averaged over the frames (how the SBI paper scores a
video)."""

import numpy as np
import pytest
import torch

from inference.loading import load_classifier
from inference.predictor import PredictorSettings, VideoPredictor
from inference.strategy import confident_strategy
from inference.tracks import VIDEO_SCORES, score_video
from tests.conftest import shared_video


def test_frame_max_takes_each_frames_most_fake_face_then_the_mean_over_frames():
    faces = [
        {"frame": frame, "box": [x, 0, x + 40, 40], "track": track}
        for frame in (0, 10, 20)
        for track, x in enumerate((0, 200))
    ]
    scores = {"a": [0.1, 0.9, 0.2, 0.4, 0.3, 0.3], "b": [0.5, 0.1, 0.6, 0.7, 0.2, 0.1]}
    model_scores, score, tracks = score_video(faces, scores, confident_strategy, "frame-max")
    assert model_scores == pytest.approx({"a": (0.9 + 0.4 + 0.3) / 3, "b": (0.5 + 0.7 + 0.2) / 3})
    assert score == pytest.approx(np.mean(list(model_scores.values())))
    assert len(tracks) == 2  # tracks are still made for the report
    assert "frame-max" in VIDEO_SCORES


def test_frame_max_on_a_real_video_with_several_people(detector, small_checkpoint):
    """FF++ 004's last frames show other people beside the anchor: frame-max differs from the mean over every
    face."""
    model = load_classifier(small_checkpoint, torch.device("cpu"), input_size=64, backend="torch")
    predictor = VideoPredictor(
        {"m": model},
        detector,
        torch.device("cpu"),
        PredictorSettings(num_frames=10, parallel_batches=1, video_score="frame-max"),
    )
    result = predictor.predict(shared_video("ffpp/original_sequences/youtube/c23/videos/004.mp4"))
    frames = np.array([face["frame"] for face in result.faces])
    scores = np.array(result.scores["m"])
    assert len(frames) > len(set(frames))  # some frames have several faces
    expected = np.mean([scores[frames == frame].max() for frame in sorted(set(frames))])
    assert result.score == pytest.approx(expected)
    assert result.score > np.mean(scores)
