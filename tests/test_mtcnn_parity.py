"""The project's MTCNN cascade against facenet-pytorch's MTCNN.detect, which the original solution used, on
real frames."""

import numpy as np
import pytest
from facenet_pytorch import MTCNN

from core.faces import INFERENCE_THRESHOLDS, detection_scale, resize_for_detection
from core.mtcnn import MTCNNCascade
from core.video import read_sampled_frames
from tests.conftest import REAL_VIDEOS, shared_video

pytestmark = pytest.mark.slow  # 11 videos through both cascades


def iou(a, b) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def reference():
    return MTCNN(thresholds=list(INFERENCE_THRESHOLDS), device="cpu")


@pytest.fixture(scope="module")
def ours():
    return MTCNNCascade(INFERENCE_THRESHOLDS)


@pytest.mark.parametrize("video", sorted(REAL_VIDEOS))
def test_the_same_faces_as_facenet_pytorch_on_every_sampled_frame(ours, reference, video):
    """Measured on the 11 shared videos, 8 frames each: every count equal, IoU >= 0.99999, corners within 1e-4
    px, probabilities within 5e-7: the same arithmetic, up to float rounding."""
    sampled = read_sampled_frames(shared_video(REAL_VIDEOS[video]), 8)
    height, width = sampled.frames[0].shape[:2]
    frames = np.stack(
        [resize_for_detection(frame, detection_scale(width, height)) for frame in sampled.frames]
    )
    boxes, points = ours(frames)
    found = 0
    for frame, our_boxes, our_points in zip(frames, boxes, points, strict=True):
        their_boxes, their_probabilities, their_points = reference.detect(frame, landmarks=True)
        if their_boxes is None:
            assert len(our_boxes) == 0
            continue
        their_boxes, their_points = (
            np.asarray(their_boxes, dtype=np.float64),
            np.asarray(their_points, dtype=np.float64),
        )
        assert len(our_boxes) == len(their_boxes)
        # largest first
        order = np.argsort(
            -(our_boxes[:, 2] - our_boxes[:, 0]) * (our_boxes[:, 3] - our_boxes[:, 1]), kind="stable"
        )
        for ours_box, ours_points, theirs_box, probability, theirs_points in zip(
            our_boxes[order], our_points[order], their_boxes, their_probabilities, their_points, strict=True
        ):
            assert iou(ours_box[:4], theirs_box) > 0.999
            np.testing.assert_allclose(ours_box[:4], theirs_box, atol=0.01)
            np.testing.assert_allclose(ours_points, theirs_points, atol=0.01)
            assert abs(ours_box[4] - probability) < 1e-4
            found += 1
    assert found >= 8, "every shared video shows a face"
