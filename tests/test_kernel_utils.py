import json
import subprocess
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
import torch

import kernel_utils
from core.video import SampledFrames, read_sampled_frames
from tests.conftest import REPO, shared_video


def test_score_videos_keeps_the_order_and_falls_back(tmp_path, small_checkpoint):
    device = torch.device("cpu")
    models = {"b0": kernel_utils.load_classifier(small_checkpoint, device)}
    predictor = kernel_utils.VideoPredictor(
        models,
        kernel_utils.FaceDetector(device),
        device,
        kernel_utils.PredictorSettings(num_frames=4, input_size=128),
    )
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    labels = kernel_utils.score_videos(
        predictor, [shared_video("ffpp/original_sequences/youtube/c23/videos/634.mp4"), empty]
    )
    assert len(labels) == 2 and 0 <= labels[0] <= 1 and labels[1] == kernel_utils.NEUTRAL_SCORE
    assert labels[0] != kernel_utils.NEUTRAL_SCORE


def test_predict_submission_needs_two_arguments():
    done = subprocess.run(
        ["bash", "predict_submission.sh", "only_one"], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 2 and "usage:" in done.stderr


@pytest.mark.skipif(
    not (REPO / ".venv" / "bin" / "python").exists(), reason="predict_submission.sh uses the repo's .venv"
)
def test_predict_submission_names_the_missing_weights(tmp_path):
    done = subprocess.run(
        [
            "bash",
            "predict_submission.sh",
            str(tmp_path),
            str(tmp_path / "out.csv"),
            "--weights-dir",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 2
    assert (
        "weights file not found" in done.stderr
        and "final_111_DeepFakeClassifier_tf_efficientnet_b7_ns_0_36" in done.stderr
    )


def test_predict_submission_scores_with_all_seven_released_names(tmp_path, random_b7, random_b7_openvino):
    """The README's second quick-start command, with one randomly initialised B7 standing in under all seven
    released names; its OpenVINO model comes from the run's cache, where random_b7_openvino put it."""
    from inference.released_weights import RELEASED_MODELS

    weights = tmp_path / "weights"
    weights.mkdir()
    for name in RELEASED_MODELS:
        (weights / name).symlink_to(random_b7)
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "004.mp4").symlink_to(shared_video("ffpp/original_sequences/youtube/c23/videos/004.mp4"))
    output = tmp_path / "submission.csv"
    # run from the caller's folder: relative paths, the options' too, are the caller's
    done = subprocess.run(
        [
            "bash",
            str(REPO / "predict_submission.sh"),
            "videos",
            "submission.csv",
            "--weights-dir",
            "weights",
            "--frames",
            "2",
            "--device",
            "cpu",
            "--report",
            "report",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "converting" not in done.stderr  # the cache is shared between processes
    assert (tmp_path / "report" / "index.html").is_file()
    rows = output.read_text().splitlines()
    assert rows[0] == "filename,label" and len(rows) == 2 and rows[1].startswith("004.mp4,")
    video = json.loads((tmp_path / "submission.diagnostics.json").read_text())["videos"]["004.mp4"]
    assert sorted(video["model_scores"]) == sorted(RELEASED_MODELS)
    assert float(rows[1].split(",")[1]) == pytest.approx(
        np.mean(list(video["model_scores"].values())), abs=1e-4
    )


def test_padded_and_side_by_side_batches_leave_every_face_score_unchanged(small_checkpoint):
    """On a GPU the last faces of a video are padded to a full batch (one cuDNN plan per run); on a CPU
    batches run side by side in threads. Neither may shift, mix or change the faces' scores."""
    device = torch.device("cpu")
    model = kernel_utils.load_classifier(small_checkpoint, device, input_size=128)
    detector = kernel_utils.FaceDetector(device)
    arrangements = {
        "plain": {"pad_batches": False, "parallel_batches": 1},
        "padded": {"pad_batches": True, "parallel_batches": 1},
        "side by side": {"pad_batches": False, "parallel_batches": 2},
    }
    predictors = {
        name: kernel_utils.VideoPredictor(
            {"b0": model},
            detector,
            device,
            kernel_utils.PredictorSettings(num_frames=6, input_size=128, batch_size=4, **batching),
        )
        for name, batching in arrangements.items()
    }
    inputs = (
        predictors["plain"]
        .prepare(shared_video("ffpp/original_sequences/youtube/c23/videos/634.mp4"))
        .inputs[128]
    )
    assert len(inputs) % 4 != 0 and len(predictors["side by side"].batches(len(inputs))) == 2
    # a random B0 scores every face almost alike: a steeper head centred on these faces spreads the scores
    # apart
    with torch.no_grad():
        model.fc.weight.mul_(1e6)
        model.fc.bias.zero_()
        scores = np.array(predictors["plain"].classify({128: inputs})["b0"])
        model.fc.bias.sub_(float(np.log(scores / (1 - scores)).mean()))
    plain = np.array(predictors["plain"].classify({128: inputs})["b0"])
    assert np.ptp(plain) > 0.2, plain
    for name in ("padded", "side by side"):
        other = np.array(predictors[name].classify({128: inputs})["b0"])
        assert len(other) == len(inputs)
        np.testing.assert_allclose(other, plain, atol=1e-4, err_msg=name)


@pytest.mark.parametrize(
    "count, sizes",
    [
        (0, []),
        (1, [1]),
        (3, [2, 1]),
        (8, [4, 4]),
        (9, [2, 2, 3, 2]),
        (32, [4] * 8),
        (33, [3, 4, 3, 3, 3, 4, 3, 3, 4, 3]),
    ],
)
def test_side_by_side_batches_are_balanced_over_the_lanes(small_checkpoint, count, sizes):
    device = torch.device("cpu")
    model = kernel_utils.load_classifier(small_checkpoint, device, input_size=128)
    predictor = kernel_utils.VideoPredictor(
        {"b0": model}, None, device, kernel_utils.PredictorSettings(batch_size=4, parallel_batches=2)
    )
    batches = predictor.batches(count)
    assert [len(batch) for batch in batches] == sizes
    assert [i for batch in batches for i in batch] == list(range(count))
    one_lane = kernel_utils.VideoPredictor(
        {"b0": model}, None, device, kernel_utils.PredictorSettings(batch_size=4, parallel_batches=1)
    )
    assert [len(batch) for batch in one_lane.batches(9)] == [4, 4, 1]


@pytest.mark.parametrize("threads", [2, 8])  # this machine's count, and a larger one set by hand
def test_each_lane_runs_on_its_share_of_the_threads_whichever_thread_first_uses_it(small_checkpoint, threads):
    """The lanes are made with the predictor, in its owner's thread: a read-ahead thread limited to one thread
    that is the first to detect must not hand every lane one thread, nor may two such threads make two sets of
    lanes."""
    device = torch.device("cpu")
    model = kernel_utils.load_classifier(small_checkpoint, device, input_size=128)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        predictor = kernel_utils.VideoPredictor(
            {"b0": model}, None, device, kernel_utils.PredictorSettings(parallel_batches=2)
        )
        assert predictor.lane_thread_counts() == [threads // 2] * 2
        assert torch.get_num_threads() == threads
        pool = predictor._lane_pool
        with ThreadPoolExecutor(2, initializer=torch.set_num_threads, initargs=(1,)) as read_ahead:
            seen = list(
                read_ahead.map(lambda _: (torch.get_num_threads(), predictor.lane_thread_counts()), range(4))
            )
        assert seen == [(1, [threads // 2] * 2)] * 4
        assert predictor._lane_pool is pool
    finally:
        torch.set_num_threads(before)


def test_crowded_frames_keep_their_largest_faces(detector, small_checkpoint):
    """Three people side by side at three sizes; a limit of two keeps the two largest faces of each frame."""
    device = torch.device("cpu")
    videos = ["519.mp4", "634.mp4", "004.mp4"]
    clips = [
        read_sampled_frames(shared_video(f"ffpp/original_sequences/youtube/c23/videos/{name}"), 4).frames
        for name in videos
    ]
    height = 480
    frames = []
    for people in zip(*clips, strict=True):
        tiles = []
        for person, scale in zip(people, (1.0, 0.75, 0.55), strict=True):
            tile_height = round(height * scale)
            tile = cv2.resize(
                person,
                (round(person.shape[1] * tile_height / person.shape[0]), tile_height),
                interpolation=cv2.INTER_AREA,
            )
            tiles.append(np.pad(tile, ((0, height - tile_height), (0, 0), (0, 0))))
        frames.append(np.hstack(tiles))
    sampled = SampledFrames(frames, list(range(len(frames))), len(frames))
    models = {"b0": kernel_utils.load_classifier(small_checkpoint, device)}
    every, every_inputs, none_skipped = kernel_utils.VideoPredictor(
        models, detector, device, kernel_utils.PredictorSettings(input_size=128)
    ).find_faces(sampled)
    two, two_inputs, skipped = kernel_utils.VideoPredictor(
        models, detector, device, kernel_utils.PredictorSettings(input_size=128, max_faces_per_frame=2)
    ).find_faces(sampled)

    def area(face):
        x1, y1, x2, y2 = face["box"]
        return (x2 - x1) * (y2 - y1)

    assert none_skipped == 0 and len(every) == len(every_inputs[128])
    crowded = 0
    for index in range(len(frames)):
        found = [face for face in every if face["frame"] == index]
        kept = [face for face in two if face["frame"] == index]
        assert len(kept) == min(len(found), 2)
        # largest first, as facenet-pytorch
        assert [area(face) for face in found] == sorted(map(area, found), reverse=True)
        assert sorted(map(area, kept)) == sorted(map(area, found))[-len(kept) :]
        crowded += len(found) >= 3
    assert crowded >= 3, "the detector should see all three people in most frames"
    assert skipped == len(every) - len(two) > 0 and len(two_inputs[128]) == len(two)


def test_detection_shared_between_lanes_finds_the_same_faces(detector, small_checkpoint):
    device = torch.device("cpu")
    model = kernel_utils.load_classifier(small_checkpoint, device, input_size=128)
    frames = read_sampled_frames(shared_video("dfdc/dfdc_train_part_10/yhffcuhhjy.mp4"), 7).frames
    shared = kernel_utils.VideoPredictor(
        {"b0": model}, detector, device, kernel_utils.PredictorSettings(parallel_batches=2)
    ).detect(frames)
    alone = detector.detect(frames)
    assert len(shared) == len(alone) == 7 and sum(map(len, alone)) >= 7
    for lanes_faces, faces in zip(shared, alone, strict=True):
        assert len(lanes_faces) == len(faces)
        for a, b in zip(lanes_faces, faces, strict=True):
            np.testing.assert_allclose(a.box, b.box, atol=1e-3)
            np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-3)


def cv2_frames(path, indices):
    """The frames at these positions, grabbed in one pass with OpenCV and turned RGB, as the original's reader
    did."""
    capture = cv2.VideoCapture(str(path))
    frames = {}
    for index in range(max(indices) + 1):
        capture.grab()
        if index in indices:
            frames[index] = cv2.cvtColor(capture.retrieve()[1], cv2.COLOR_BGR2RGB)
    capture.release()
    return frames


def test_the_originals_other_readers_read_the_frames_it_read(faceless_video):
    """read_random_frames, read_frames_at_indices, read_middle_frame and read_frame_at_index of the original's
    VideoReader: its positions (np.random.seed(seed); sorted(np.random.choice(np.arange(0, n), k))), RGB
    frames."""
    from kernel_utils import VideoReader

    reader = VideoReader()
    np.random.seed(7)
    drawn = sorted(np.random.choice(np.arange(0, 40), 6))
    frames, indices = reader.read_random_frames(str(faceless_video), 6, seed=7)
    assert indices == sorted(set(int(i) for i in drawn)) and len(frames) == len(indices)
    expected = cv2_frames(faceless_video, [2, 5, 9, 20, 39])
    for positions in ([9, 2, 5], [20], [39]):
        frames, indices = reader.read_frames_at_indices(str(faceless_video), positions)
        assert indices == sorted(positions)
        assert all(
            np.array_equal(frame, expected[index]) for frame, index in zip(frames, indices, strict=True)
        )
    frames, indices = reader.read_middle_frame(str(faceless_video))
    assert indices == [20] and frames.shape == (1, 240, 320, 3) and np.array_equal(frames[0], expected[20])
    frames, indices = reader.read_frame_at_index(str(faceless_video), 9)
    assert indices == [9] and np.array_equal(frames[0], expected[9])
    assert reader.read_frame_at_index(str(faceless_video), 40) is None  # past the end
    assert reader.read_middle_frame("no_such_video.mp4") is None


def test_the_originals_normalisation_is_exported_under_its_names():
    from kernel_utils import mean, normalize_transform, std

    assert mean == [0.485, 0.456, 0.406] and std == [0.229, 0.224, 0.225]
    image = torch.rand(3, 4, 5)
    expected = (image - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    assert torch.allclose(normalize_transform(image), expected)


def test_the_originals_face_extractor_gives_no_entry_for_a_frame_without_faces(faceless_video):
    from kernel_utils import FaceExtractor, VideoReader

    reader = VideoReader()
    extractor = FaceExtractor(lambda path: reader.read_frames(path, num_frames=4))
    assert extractor.process_video(str(faceless_video)) == []
    face_video = shared_video("ffpp/original_sequences/youtube/c23/videos/634.mp4")
    entries = extractor.process_video(str(face_video))
    assert len(entries) == 4 and all(entry["faces"] for entry in entries)
