"""Shared fixtures: the real videos of ../shared/data, a detector, small real checkpoints and a random B7."""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from core.video import SampledFrames, read_sampled_frames, write_video

# what every entry point sets (core.offline) before importing it
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
# converted OpenVINO models of the tests' throwaway checkpoints go to a folder of the run, not the user's
# cache
os.environ["DFDC_CACHE_DIR"] = tempfile.mkdtemp(prefix="dfdc-test-cache-")
# a run's converted models take hundreds of MB: removed when the run ends, so that runs do not fill /tmp
atexit.register(shutil.rmtree, os.environ["DFDC_CACHE_DIR"], ignore_errors=True)

REPO = Path(__file__).resolve().parent.parent
# A test that uses one of these waits for a whole pipeline (preprocess_data.sh, a training run) or a B7 in its
# setup: it is marked slow, and its time limit covers that setup on a busy 2-core machine.
SLOW_FIXTURES = {"data_root", "trained_checkpoint", "random_b7", "random_b7_openvino"}
# preprocess_data.sh may take its own limit (run_pipeline: 1200 s), then the training run
SLOW_FIXTURE_TIMEOUT = 1800


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)
            own = item.get_closest_marker("timeout")
            if own is None or own.args[0] < SLOW_FIXTURE_TIMEOUT:
                # first: the one pytest-timeout reads
                item.add_marker(pytest.mark.timeout(SLOW_FIXTURE_TIMEOUT), append=False)


DATA_DIR = Path(os.environ.get("DFDC_TEST_DATA", REPO.parent / "shared" / "data"))


def shared_video(relative: str) -> Path:
    path = DATA_DIR / relative
    if not path.is_file():
        pytest.skip(f"test data not found: {path} (set DFDC_TEST_DATA to the shared data folder)")
    return path


REAL_VIDEOS = {
    "dfdc_portrait_1080x1920": "dfdc/dfdc_train_part_0/brtujopkby.mp4",
    "dfdc_1920x1080": "dfdc/dfdc_train_part_10/widuwuoiur.mp4",
    "dfdc_portrait_720x1280": "dfdc/dfdc_train_part_10/yhffcuhhjy.mp4",
    "dfdc_real_1920x1080": "dfdc_real/lynaeydofd.mp4",
    "ffpp_original_004": "ffpp/original_sequences/youtube/c23/videos/004.mp4",
    "ffpp_original_519": "ffpp/original_sequences/youtube/c23/videos/519.mp4",
    "ffpp_original_634": "ffpp/original_sequences/youtube/c23/videos/634.mp4",
    "ffpp_deepfakes_519_515": "ffpp/manipulated_sequences/Deepfakes/c23/videos/519_515.mp4",
    "ffpp_faceswap_634_660": "ffpp/manipulated_sequences/FaceSwap/c23/videos/634_660.mp4",
    "ffpp_neuraltextures_004_982": "ffpp/manipulated_sequences/NeuralTextures/c23/videos/004_982.mp4",
    "ffpp_face2face_750_743": "ffpp/manipulated_sequences/Face2Face/c23/videos/750_743.mp4",
}


@pytest.fixture(scope="session")
def detector():
    from core.faces import FaceDetector

    return FaceDetector("cpu")


@dataclass
class SampledFaces:
    sampled: SampledFrames
    faces: list[list]  # the detector's Face list of each frame


@pytest.fixture(scope="session")
def faces_634(detector) -> SampledFaces:
    """4 sampled frames of the FF++ original 634 (one person, 480p) and the faces `detector` finds in them:
    decoded and detected once per run for the tests that need real faces (the first frame is also what
    sampling 1 frame gives)."""
    sampled = read_sampled_frames(shared_video(REAL_VIDEOS["ffpp_original_634"]), 4)
    return SampledFaces(sampled, detector.detect(sampled.frames))


@pytest.fixture(scope="session")
def faceless_video(tmp_path_factory) -> Path:
    """A smooth moving gradient: decodable, but with nothing a face detector should take for a face."""
    ramp = np.linspace(0, 255, 320, dtype=np.float32)
    frames = [
        np.dstack([np.roll(ramp, 8 * i)[None, :].repeat(240, 0)] * 3).astype(np.uint8) for i in range(40)
    ]
    return write_video(tmp_path_factory.mktemp("faceless") / "no_face.mp4", frames)


@pytest.fixture(scope="session")
def small_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised EfficientNet-B0 classifier saved in the released checkpoint format."""
    from core.checkpoints import save_checkpoint
    from training.zoo.classifiers import DeepFakeClassifier

    torch.manual_seed(0)
    model = DeepFakeClassifier("tf_efficientnet_b0_ns")
    path = tmp_path_factory.mktemp("weights") / "test_DeepFakeClassifier_tf_efficientnet_b0_ns_0_1"
    save_checkpoint(path, model, epoch=1, bce_best=np.float64(0.25))
    return path


@pytest.fixture(scope="session")
def random_b7(tmp_path_factory) -> Path:
    """A randomly initialised EfficientNet-B7 classifier saved under the first released checkpoint's name: the
    released architecture and file format at full size, for the tests that must run a B7 (building and saving
    one takes seconds)."""
    from core.checkpoints import save_checkpoint
    from inference.released_weights import RELEASED_MODELS
    from training.zoo.classifiers import DeepFakeClassifier

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("b7") / RELEASED_MODELS[0]
    save_checkpoint(path, DeepFakeClassifier("tf_efficientnet_b7_ns"), 36, np.float64(0.2))
    return path


@dataclass
class ConvertedB7:
    model: torch.nn.Module  # the OpenVINO-compiled classifier
    log: list[str]  # what loading it logged: one "converting ..." line


@pytest.fixture(scope="session")
def random_b7_openvino(random_b7) -> ConvertedB7:
    """random_b7 loaded with OpenVINO: converted once, into this run's cache ($DFDC_CACHE_DIR, set above),
    where every later load of the same file, in this process or in a script the tests start, finds it (a B7
    takes a minute to convert)."""
    from inference.loading import load_classifier

    records: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: records.append(record.getMessage())
    logger = logging.getLogger("dfdc.predict")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        model = load_classifier(random_b7, torch.device("cpu"), backend="openvino")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return ConvertedB7(model, records)


# preprocess_data.sh detects faces in every frame of an original, so data_root's originals and their fakes are
# shortened lossless copies of the shared videos: their first FRAMES_KEPT frames, which still give each video
# several crops (one every 10th frame). 519 and its fake keep frames past 310, where the original's
# generate_folds stops listing crops, so that test_preprocessing still checks that cut-off. The DFDC fakes of
# parts 0 and 10 are never detected (their originals are missing) and stay links to the full videos.
FRAMES_KEPT = 60
FRAMES_KEPT_PAST_THE_FOLDS_CUT_OFF = {"519.mp4": 331, "519_515.mp4": 331}


def shortened_copy(source: Path, target: Path, frames: int) -> Path:
    """The first `frames` frames of `source`, encoded losslessly (H.264 at qp 0, from the decoded YUV frames)
    at its frame rate: every reader decodes exactly the pixels of the original's first frames."""
    import av

    target.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(source)) as original, av.open(str(target), "w") as copy:
        stream = original.streams.video[0]
        encoded = copy.add_stream("libx264", rate=stream.average_rate)
        encoded.width, encoded.height, encoded.pix_fmt = stream.width, stream.height, stream.format.name
        encoded.options = {"qp": "0", "preset": "ultrafast"}
        written = 0
        for frame in original.decode(stream):
            if written == frames:
                break
            frame.pts, frame.time_base = written, 1 / stream.average_rate
            copy.mux(encoded.encode(frame))
            written += 1
        copy.mux(encoded.encode())
    assert written == frames, f"{source} has fewer than {frames} frames"
    return target


def shortened_ffpp(target: Path) -> Path:
    """The shared FF++ folder's layout, with a shortened copy of each of its videos."""
    source = DATA_DIR / "ffpp"
    for video in sorted(source.rglob("*.mp4")):
        frames = FRAMES_KEPT_PAST_THE_FOLDS_CUT_OFF.get(video.name, FRAMES_KEPT)
        shortened_copy(video, target / video.relative_to(source), frames)
    return target


def build_data_root(root: Path) -> Path:
    """A DATA_ROOT from the shared FF++ pairs (shortened, via the converter) and DFDC parts, plus a corrupt
    video and broken metadata."""
    from preprocessing.convert_dataset import main as convert_main

    shared_video("ffpp/original_sequences/youtube/c23/videos/004.mp4")  # skips when the shared data is absent
    ffpp = shortened_ffpp(root.parent / f"{root.name}_ffpp")
    assert convert_main(["ffpp", "--src", str(ffpp), "--root-dir", str(root)]) == 0
    for part in ("dfdc_train_part_0", "dfdc_train_part_10"):
        (root / part).mkdir()
        for item in (DATA_DIR / "dfdc" / part).iterdir():
            (root / part / item.name).symlink_to(item)
    part_1 = root / "dfdc_train_part_1"
    part_1.mkdir()
    metadata = json.loads((DATA_DIR / "dfdc" / "dfdc_train_part_1" / "metadata.json").read_text())
    shortened_copy(shared_video("dfdc_real/lynaeydofd.mp4"), part_1 / "lynaeydofd.mp4", FRAMES_KEPT)
    (part_1 / "corrupt.mp4").write_bytes(
        shared_video("ffpp/original_sequences/youtube/c23/videos/634.mp4").read_bytes()[:60_000]
    )
    metadata["lynaeydofd.mp4"] = {"label": "REAL", "split": "train", "original": None}
    metadata["corrupt.mp4"] = {"label": "REAL", "split": "train", "original": None}
    (part_1 / "metadata.json").write_text(json.dumps(metadata))
    (root / "broken_part").mkdir()
    (root / "broken_part" / "metadata.json").write_text("{not json")
    return root


def run_pipeline(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "preprocess_data.sh", str(root), "--device", "cpu", "--workers", "2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1200,
    )


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """That DATA_ROOT after preprocess_data.sh: shared by the preprocessing and training tests."""
    root = build_data_root(tmp_path_factory.mktemp("data_root"))
    done = run_pipeline(root)
    assert done.returncode == 0, done.stderr[-3000:]
    return root


@pytest.fixture(scope="session")
def trained_checkpoint(data_root, tmp_path_factory) -> Path:
    """A ResNet-18 at 64 px (configs/tiny.json) trained for four short epochs on the real crops of data_root:
    unlike a randomly initialised model, whose scores barely differ between faces, it scores faces apart."""
    from training.config import load_config
    from training.trainer import Trainer, TrainOptions

    out = tmp_path_factory.mktemp("trained")
    config = load_config(REPO / "configs" / "tiny.json")
    # data_root's crops fill 5 batches of 16 (its videos are short): 4 epochs are 20 steps, near the 24 that 2
    # epochs of 12 batches were on full-length videos. Measured on the three parity videos
    # (tests/test_original_parity.py, which needs more than 0.02), the spread of its scores is 0.035-0.048; 24
    # steps on full-length videos gave 0.037-0.075, 2 epochs of these 5 batches 0.005 on one video.
    config["batches_per_epoch"] = 5
    config["optimizer"]["schedule"].update({"epochs": 4, "params": {"max_iter": 20}})
    torch.manual_seed(0)
    options = TrainOptions(
        config=config,
        data_dir=data_root,
        folds_csv=data_root / "folds.csv",
        fold=99,
        prefix="parity_",
        output_dir=out,
        log_dir=out / "logs",
        workers=0,
        device="cpu",
        validate=False,  # every crop trains
    )
    Trainer(options).run()
    return out / "parity_DeepFakeClassifier_resnet18_99_3"
