"""Faces linked into one track per person, on real clips, and the per-person video score."""

import cv2
import numpy as np
import pytest
import torch

from core.video import SampledFrames, read_sampled_frames
from inference.loading import load_classifier
from inference.predictor import PredictorSettings, VideoPredictor
from inference.strategy import confident_strategy, mean_strategy
from inference.tracks import link_tracks, per_person_score, score_tracks
from tests.conftest import shared_video


@pytest.fixture(scope="module")
def predictor(detector, small_checkpoint):
    model = load_classifier(small_checkpoint, torch.device("cpu"), input_size=128, backend="torch")
    return VideoPredictor({"m": model}, detector, torch.device("cpu"), PredictorSettings(parallel_batches=1))


def frames_of(video, count):
    return read_sampled_frames(shared_video(video), count).frames


def test_two_people_side_by_side_get_two_tracks(predictor):
    left, right = (
        frames_of("ffpp/original_sequences/youtube/c23/videos/519.mp4", 8),
        frames_of("ffpp/original_sequences/youtube/c23/videos/634.mp4", 8),
    )
    height = left[0].shape[0]
    width = round(right[0].shape[1] * height / right[0].shape[0])
    frames = [
        np.hstack([a, cv2.resize(b, (width, height), interpolation=cv2.INTER_AREA)])
        for a, b in zip(left, right, strict=True)
    ]
    faces, _, _ = predictor.find_faces(SampledFrames(frames, list(range(0, 80, 10)), 80))
    split = left[0].shape[1]
    sides = {
        track: {face["box"][0] < split for face in faces if face["track"] == track}
        for track in {face["track"] for face in faces}
    }
    assert len(sides) == 2 and sorted(len([f for f in faces if f["track"] == t]) for t in sides) == [8, 8]
    # each track stays on its side
    assert sorted(next(iter(side)) for side in sides.values()) == [False, True]


def test_a_person_who_leaves_for_two_frames_keeps_one_track(predictor):
    frames = frames_of("ffpp/original_sequences/youtube/c23/videos/004.mp4", 10)
    for gone in (4, 5):
        frames[gone] = np.full_like(frames[gone], 90)  # nobody there
    faces, _, _ = predictor.find_faces(SampledFrames(frames, list(range(0, 100, 10)), 100))
    # the news anchor on the right
    anchor = [face for face in faces if face["box"][0] > 600 and face["box"][2] - face["box"][0] > 100]
    assert [face["frame"] for face in anchor] == [0, 10, 20, 30, 60, 70, 80, 90]
    assert {face["track"] for face in anchor} == {0}
    # the other people of the last frames are others
    assert all(face["track"] != 0 for face in faces if face not in anchor)
    far_apart = link_tracks(
        [{"frame": 0, "box": [10, 10, 50, 50]}, {"frame": 90, "box": [12, 10, 52, 50]}],
        list(range(0, 100, 10)),
    )
    assert far_apart == [0, 1]  # 8 sampled frames without the face: someone else


def test_per_person_score_is_not_averaged_away():
    real = {"frame": 0, "box": [0, 0, 40, 40]}
    fake = {"frame": 0, "box": [200, 0, 240, 40]}
    faces = [{**face, "frame": frame} for frame in range(6) for face in (real, fake)]
    for face, track in zip(faces, link_tracks(faces, list(range(6))), strict=True):
        face["track"] = track
    scores = {"m": [0.05, 0.95] * 6}
    tracks = score_tracks(faces, scores, mean_strategy)
    assert [track["faces"] for track in tracks] == [6, 6]
    assert [track["score"] for track in tracks] == pytest.approx([0.05, 0.95])
    every_face = mean_strategy(scores["m"])
    assert every_face == pytest.approx(0.5) and per_person_score(tracks, every_face) == pytest.approx(0.95)
    assert per_person_score([], 0.4) == 0.4
    assert score_tracks(faces, scores, confident_strategy)[1]["score"] == pytest.approx(0.95)
