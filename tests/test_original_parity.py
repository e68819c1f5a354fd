"""The project's scoring, set up as the original solution, against the original's inference path written out
from its documented steps (kernel_utils.py and predict_folder.py of the winning solution), on real videos and
a trained model."""

import cv2
import numpy as np
import pytest
import torch
from facenet_pytorch import MTCNN
from PIL import Image

from core.faces import FaceDetector
from inference.loading import load_classifier, read_classifier
from inference.predictor import PredictorSettings, VideoPredictor
from inference.strategy import confident_strategy
from tests.commands import predict_argv, run_predict
from tests.conftest import shared_video

VIDEOS = [
    "dfdc/dfdc_train_part_10/widuwuoiur.mp4",
    "ffpp/manipulated_sequences/Deepfakes/c23/videos/519_515.mp4",
    "ffpp/original_sequences/youtube/c23/videos/634.mp4",
]
FRAMES = 8
INPUT_SIZE = 64  # the trained test model's size; the original's steps take it as a parameter
MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def original_frames(path, count):
    """VideoReader.read_frames: np.linspace(0, n - 1, count, dtype=int), grabbed in one pass, RGB."""
    capture = cv2.VideoCapture(str(path))
    wanted = np.linspace(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) - 1, count, endpoint=True, dtype=int)
    frames = []
    for index in range(wanted[0], wanted[-1] + 1):
        capture.grab()
        if index in wanted:
            frames.append(cv2.cvtColor(capture.retrieve()[1], cv2.COLOR_BGR2RGB))
    return frames


def original_faces(frames, detector):
    """FaceExtractor.process_videos: each frame halved with PIL, MTCNN.detect, boxes int(b * 2), a third of
    each side added."""
    faces = []
    for frame in frames:
        image = Image.fromarray(frame)
        boxes, _ = detector.detect(image.resize(size=[side // 2 for side in image.size]))
        for box in [] if boxes is None else boxes:
            x1, y1, x2, y2 = (int(value * 2) for value in box)
            pad_h, pad_w = (y2 - y1) // 3, (x2 - x1) // 3
            faces.append(frame[max(y1 - pad_h, 0) : y2 + pad_h, max(x1 - pad_w, 0) : x2 + pad_w])
    return faces


def original_input(face, size):
    """isotropically_resize_image (sizes truncated by int()) and put_to_center."""
    height, width = face.shape[:2]
    if width > height:
        new_width, new_height = size, height * size / width
    else:
        new_width, new_height = width * size / height, size
    interpolation = cv2.INTER_CUBIC if size / max(width, height) > 1 else cv2.INTER_AREA
    resized = cv2.resize(face, (int(new_width), int(new_height)), interpolation=interpolation)[:size, :size]
    square = np.zeros((size, size, 3), dtype=np.uint8)
    top, left = (size - resized.shape[0]) // 2, (size - resized.shape[1]) // 2
    square[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
    return square


@torch.no_grad()
def original_scores(faces, model, size):
    """predict_on_video: the faces as one float batch, /255, ImageNet-normalised, sigmoid of the model."""
    batch = (
        torch.tensor(np.stack([original_input(face, size) for face in faces])).float().permute(0, 3, 1, 2)
        / 255.0
    )
    batch = (batch - torch.tensor(MEAN).view(1, 3, 1, 1).float()) / torch.tensor(STD).view(1, 3, 1, 1).float()
    return torch.sigmoid(model(batch).squeeze(1)).numpy()


@pytest.fixture(scope="module")
def models(trained_checkpoint):
    original = read_classifier(
        trained_checkpoint
    ).eval()  # as the original's script: the plain model, strict load
    ours = load_classifier(trained_checkpoint, torch.device("cpu"), input_size=INPUT_SIZE)
    return original, ours


@pytest.mark.parametrize("video", VIDEOS)
def test_the_original_path_and_this_one_score_the_same_faces_alike(models, video):
    """With --detection-scale 0.5 --no-contrast-retry --max-faces-per-frame 0: the same faces, scored
    alike."""
    original_model, our_model = models
    path = shared_video(video)
    reference_faces = original_faces(
        original_frames(path, FRAMES), MTCNN(margin=0, thresholds=[0.7, 0.8, 0.8], device="cpu")
    )
    reference = original_scores(reference_faces, original_model, INPUT_SIZE)

    # --detection-scale 0.5 --no-contrast-retry
    detector = FaceDetector("cpu", scale=0.5, contrast_retry=False)
    predictor = VideoPredictor(
        {"m": our_model},
        detector,
        torch.device("cpu"),
        PredictorSettings(
            num_frames=FRAMES, input_size=INPUT_SIZE, max_faces_per_frame=0, strategy="confident"
        ),
    )
    result = predictor.predict(path)
    scores = np.array(result.scores["m"])
    assert result.fallback is None and len(scores) == len(reference) >= FRAMES
    assert np.ptp(reference) > 0.02, (
        "the trained model must score faces apart, or this comparison proves nothing"
    )
    np.testing.assert_allclose(scores, reference, atol=0.01)  # measured: within 6e-7 on these three videos
    assert result.score == pytest.approx(np.mean([confident_strategy(reference)]), abs=0.01)


ORIGINAL_STYLE_SCRIPT = """
import os, re, sys
import pandas as pd
import torch
from kernel_utils import VideoReader, FaceExtractor, confident_strategy, predict_on_video_set
from training.zoo.classifiers import DeepFakeClassifier

weights_dir, model_name, test_dir, output, encoder, input_size = sys.argv[1:7]
models = []
for path in [os.path.join(weights_dir, model_name)]:
    model = DeepFakeClassifier(encoder=encoder)
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    state_dict = checkpoint.get("state_dict", checkpoint)
    model.load_state_dict({re.sub("^module.", "", k): v for k, v in state_dict.items()}, strict=True)
    model.eval()
    del checkpoint
    models.append(model)
frames_per_video = 8
video_reader = VideoReader()
video_read_fn = lambda x: video_reader.read_frames(x, num_frames=frames_per_video)
face_extractor = FaceExtractor(video_read_fn)
test_videos = sorted([x for x in os.listdir(test_dir) if x[-4:] == ".mp4"])
predictions = predict_on_video_set(face_extractor=face_extractor, input_size=int(input_size), models=models,
                                   strategy=confident_strategy, frames_per_video=frames_per_video, videos=test_videos,
                                   num_workers=2, test_dir=test_dir)
pd.DataFrame({"filename": test_videos, "label": predictions}).to_csv(output, index=False)
"""


def test_a_script_written_against_the_original_api_gets_this_projects_scores(tmp_path, trained_checkpoint):
    """The original's predict_folder.py, as its documented calls have it, against kernel_utils: the same video
    scores as predict_folder.py with the original's settings."""
    import shutil
    import subprocess
    import sys

    import pandas as pd

    from tests.conftest import REPO

    videos = tmp_path / "videos"
    videos.mkdir()
    for video in VIDEOS:
        shutil.copy(shared_video(video), videos / video.rsplit("/", 1)[-1])
    (videos / "broken.mp4").write_bytes(b"not a video")
    script = tmp_path / "original_style.py"
    script.write_text(ORIGINAL_STYLE_SCRIPT)
    theirs = subprocess.run(
        [
            sys.executable,
            str(script),
            str(trained_checkpoint.parent),
            trained_checkpoint.name,
            str(videos),
            str(tmp_path / "original.csv"),
            "resnet18",
            str(INPUT_SIZE),
        ],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert theirs.returncode == 0, theirs.stderr[-3000:]
    ours = run_predict(
        *predict_argv(trained_checkpoint, videos, tmp_path / "ours.csv"),
        "--frames",
        FRAMES,
        "--detection-scale",
        0.5,
        "--no-contrast-retry",
        "--max-faces-per-frame",
        0,
    )
    assert ours.returncode == 0, ours.stderr[-3000:]
    original = pd.read_csv(tmp_path / "original.csv").set_index("filename")["label"]
    project = pd.read_csv(tmp_path / "ours.csv").set_index("filename")["label"]
    assert list(original.index) == list(project.index) and len(original) == 4
    assert original["broken.mp4"] == project["broken.mp4"] == 0.5
    np.testing.assert_allclose(original.to_numpy(), project.to_numpy(), atol=0.01)
    assert original.drop("broken.mp4").nunique() == 3  # three videos, three different scores
