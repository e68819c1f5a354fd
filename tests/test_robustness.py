"""The DeeperForensics-1.0 perturbations, each checked for its defining property on a real frame, and the
robustness evaluation end to end on real videos."""

import csv
import json

import cv2
import numpy as np
import pytest

from core.video import iterate_frames, read_sampled_frames, write_video
from inference.results import VideoResult
from robustness.evaluation import CLEAN, Condition, summarise
from robustness.perturbations import (
    BLOCK_GREY,
    LEVELS,
    block_wise,
    color_contrast,
    color_saturation,
    compress_video,
    gaussian_blur,
    gaussian_noise,
    pixelation,
)
from tests.commands import run_main
from tests.conftest import shared_video

FFPP = "ffpp/original_sequences/youtube/c23/videos/{}.mp4"


@pytest.fixture(scope="module")
def frame():
    return read_sampled_frames(shared_video("dfdc_real/lynaeydofd.mp4"), 1).frames[0]  # 1920x1080


def saturation(image):
    return cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_RGB2HSV)[..., 1]


def test_saturation_is_scaled_and_zero_is_grey(frame):
    grey = color_saturation(frame, 0.0)
    assert np.abs(grey.astype(int) - grey[..., :1]).max() <= 1  # R = G = B
    for factor in LEVELS["color_saturation"][:-1]:
        before, after = saturation(frame), saturation(color_saturation(frame, factor))
        colourful = before > 0.2
        assert np.median(after[colourful] / before[colourful]) == pytest.approx(factor, abs=0.02)


@pytest.mark.parametrize("factor", LEVELS["color_contrast"])
def test_contrast_shrinks_the_spread_around_the_mean(frame, factor):
    out = color_contrast(frame, factor).astype(np.float64)
    assert out.mean() == pytest.approx(frame.mean(), abs=0.6)
    assert out.std() == pytest.approx(factor * frame.std(), rel=0.02)


@pytest.mark.parametrize("count", LEVELS["block_wise"])
def test_block_wise_adds_grey_8x8_blocks_per_256_px(frame, count):
    base = np.where(frame == BLOCK_GREY, BLOCK_GREY - 1, frame).astype(np.uint8)  # no grey-128 pixel before
    out = block_wise(base, count, np.random.default_rng(0))
    blocks = count * (1080 // 256)
    grey = (out == BLOCK_GREY).all(axis=2)
    assert np.array_equal(out[~grey], base[~grey])
    assert 0.8 * blocks * 64 <= grey.sum() <= blocks * 64  # blocks may overlap
    components, labels, stats, _ = cv2.connectedComponentsWithStats(grey.astype(np.uint8), connectivity=4)
    assert (stats[1:, cv2.CC_STAT_WIDTH] >= 8).all() and (stats[1:, cv2.CC_STAT_HEIGHT] >= 8).all()
    assert np.array_equal(block_wise(base, count, np.random.default_rng(0)), out)  # the seed fixes the places


@pytest.mark.parametrize("variance", LEVELS["gaussian_noise"])
def test_noise_has_the_levels_variance(frame, variance):
    if variance <= 0.01:  # a real frame's mid tones, far enough from 0 and 1 that clipping does not bite
        image = frame
        keep = (frame > 90) & (frame < 165)
    else:  # sigma 0.22: measured on mid grey, 2.2 sigma from either end
        image = np.full((512, 512, 3), 128, dtype=np.uint8)
        keep = np.ones(image.shape, dtype=bool)
    out = gaussian_noise(image, variance, np.random.default_rng(1))
    measured = ((out.astype(np.float64) - image) / 255)[keep].var()
    assert measured == pytest.approx(variance, rel=0.1)


@pytest.mark.parametrize("kernel", LEVELS["gaussian_blur"])
def test_blur_has_the_levels_kernel_and_sigma(frame, kernel):
    impulse = np.zeros((61, 61, 3), dtype=np.float32)  # float: the kernel's tails are not rounded away
    impulse[30, 30] = 1.0
    response = gaussian_blur(impulse, kernel)[..., 0].astype(np.float64)
    rows = np.flatnonzero(response.sum(axis=1))
    assert rows[-1] - rows[0] + 1 <= kernel  # support of the kernel
    profile = response[30] / response[30].sum()
    sigma = np.sqrt((profile * (np.arange(61) - 30) ** 2).sum())
    # a Gaussian of sigma kernel / 6, cut at +-3 sigma
    assert sigma == pytest.approx(0.986 * kernel / 6, rel=0.02)
    assert np.array_equal(gaussian_blur(frame, kernel), cv2.GaussianBlur(frame, (kernel, kernel), kernel / 6))


@pytest.mark.parametrize("factor", LEVELS["pixelation"])
def test_pixelation_makes_blocks_of_the_factors_size(frame, factor):
    image = frame[: 1080 // (factor * 6) * factor * 6, : 1920 // (factor * 6) * factor * 6]
    out = pixelation(image, factor)
    height, width = out.shape[:2]
    blocks = out.reshape(height // factor, factor, width // factor, factor, 3)
    assert (blocks == blocks[:, :1, :, :1]).all()  # every factor x factor block is one colour
    assert (blocks[:-1, 0, :, 0] != blocks[1:, 0, :, 0]).mean() > 0.3  # while neighbouring blocks differ


def psnr(a, b):
    return 10 * np.log10(255**2 / np.mean((a.astype(np.float64) - b) ** 2))


def test_compression_at_a_higher_crf_is_smaller_and_worse(tmp_path):
    source = write_video(
        tmp_path / "source.mp4", read_sampled_frames(shared_video(FFPP.format("519")), 30).frames
    )
    original = [frame for _, frame in iterate_frames(source)]
    sizes, quality = [], []
    for crf in LEVELS["video_compression"][::2]:
        out = compress_video(source, tmp_path / f"crf{crf}.mp4", crf)
        frames = [frame for _, frame in iterate_frames(out)]
        assert len(frames) == len(original) and frames[0].shape == original[0].shape
        sizes.append(out.stat().st_size)
        quality.append(np.mean([psnr(a, b) for a, b in zip(frames, original, strict=True)]))
    assert sizes == sorted(sizes, reverse=True) and quality == sorted(quality, reverse=True)
    assert quality[0] > 30 > quality[-1] - 5


def test_a_faceless_perturbed_video_is_counted_not_scored():
    """Summaries over fabricated per-video results (the aggregation alone)."""
    videos = [type("V", (), {"name": name, "stat": None})() for name in ("f.mp4", "r.mp4", "g.mp4")]
    labels = {"f.mp4": 1.0, "r.mp4": 0.0, "g.mp4": 0.0}

    def record(score, fallback=None, frames=4, with_faces=4):
        return VideoResult(
            score,
            frames_read=frames,
            faces=[{"frame": frame} for frame in range(with_faces)],
            fallback=fallback,
        )

    keys = {video.name: f"/v/{video.name}|1|1" for video in videos}
    results = {
        ("clean:0", keys["f.mp4"]): record(0.9),
        ("clean:0", keys["r.mp4"]): record(0.2),
        ("clean:0", keys["g.mp4"]): record(0.95),
        ("gaussian_blur:5", keys["f.mp4"]): record(0.7),
        ("gaussian_blur:5", keys["r.mp4"]): record(0.4, with_faces=3),
        ("gaussian_blur:5", keys["g.mp4"]): record(0.5, "no face found in 4 sampled frames", with_faces=0),
    }
    import robustness.evaluation as evaluation

    original = evaluation.video_key
    evaluation.video_key = lambda video: keys[video.name]
    try:
        clean, blurred = summarise(
            results, videos, labels, [Condition(CLEAN, 0), Condition("gaussian_blur", 5)]
        )
    finally:
        evaluation.video_key = original
    assert clean["auc"] == 0.5 and clean["scored"] == 3
    # the faceless real video is left out of the AUC ...
    assert blurred["scored"] == 2 and blurred["auc"] == 1.0
    assert blurred["auc_with_fallbacks"] == 1.0 and blurred["videos_without_face"] == 1  # ... and counted
    assert blurred["videos_that_lost_their_face"] == 1 and blurred["frames_without_face"] == 5
    assert blurred["mean_abs_score_change"] == pytest.approx((0.2 + 0.2) / 2) and blurred[
        "max_abs_score_change"
    ] == pytest.approx(0.2)


@pytest.mark.slow
def test_evaluate_robustness_end_to_end_and_resumable(tmp_path, small_checkpoint):
    videos = tmp_path / "videos"
    videos.mkdir()
    sources = {
        "real_519.mp4": FFPP.format("519"),
        "real_634.mp4": FFPP.format("634"),
        "fake_519.mp4": "ffpp/manipulated_sequences/Deepfakes/c23/videos/519_515.mp4",
        "fake_634.mp4": "ffpp/manipulated_sequences/FaceSwap/c23/videos/634_660.mp4",
    }
    for name, source in sources.items():  # 40 frames each keeps the re-encoding short
        write_video(videos / name, read_sampled_frames(shared_video(source), 40).frames)
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "filename,label\n" + "".join(f"{name},{int(name.startswith('fake'))}\n" for name in sources)
    )
    out = tmp_path / "out"
    common = [
        "--weights-dir",
        small_checkpoint.parent,
        "--models",
        small_checkpoint.name,
        "--test-dir",
        videos,
        "--labels",
        labels,
        "--out",
        out,
        "--frames",
        3,
        "--input-size",
        128,
        "--device",
        "cpu",
        "--levels",
        1,
        5,
    ]

    def evaluate(*extra):
        done = run_main("evaluate_robustness", *common, *extra)
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    evaluate("--perturbations", "gaussian_blur")
    assert len((out / "results.jsonl").read_text().splitlines()) == 4 * 3  # clean, blur 1, blur 5
    evaluate("--perturbations", "gaussian_blur", "video_compression")
    # only the new conditions were scored
    assert len((out / "results.jsonl").read_text().splitlines()) == 4 * 5
    report = json.loads((out / "robustness.json").read_text())
    rows = report["conditions"]
    assert [(row["perturbation"], row["level"]) for row in rows] == [
        ("clean", 0),
        ("gaussian_blur", 1),
        ("gaussian_blur", 5),
        ("video_compression", 1),
        ("video_compression", 5),
    ]
    assert all(
        row["videos"] == row["scored"] == 4 and 0 <= row["auc"] <= 1 and row["frames_read"] == 12
        for row in rows
    )
    assert rows[0]["mean_abs_score_change"] == 0.0 and rows[2]["mean_abs_score_change"] > 0
    with open(out / "robustness.csv", newline="") as f:
        assert [row["perturbation"] for row in csv.DictReader(f)] == [row["perturbation"] for row in rows]
    for png in ("robustness_auc_table.png", "robustness_auc_by_level.png"):
        image = cv2.imread(str(out / png))
        assert image is not None and image.shape[1] > 400 and image.std() > 10
    assert not list((out / "work").glob("*.mp4"))  # re-encoded scratch files are removed after scoring
