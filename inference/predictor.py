"""Score one video: sample frames, find faces, classify every face with every model, combine."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.faces import Face, FaceDetector, crop_face
from core.images import face_to_model_input, normalize_batch
from core.openvino_runtime import OpenVINOClassifier
from core.video import SampledFrames, VideoReadError, read_sampled_frames
from inference.explain import HeatMapExplainer
from inference.loading import InputSpec, input_specs
from inference.results import VideoResult
from inference.strategy import STRATEGIES
from inference.tracks import VIDEO_SCORES, kept_faces, link_tracks, score_video

NEUTRAL_SCORE = 0.5  # what a video gets when it cannot be scored: the log-loss-minimising guess


def default_batch_size(device: torch.device) -> int:
    """Faces per forward pass: large batches feed a GPU. On a CPU, a few faces share each load of the late
    layers' weights while the early layers' activations stay small (benchmarks/README.md, "Figures behind the
    code's choices")."""
    return 32 if device.type == "cuda" else 4


def default_parallel_batches(device: torch.device) -> int:
    """Batches classified side by side: on a CPU with 2 or more threads, two, each on half of the threads,
    because depthwise convolutions and the element-wise work between the convolutions gain little from a
    second thread (benchmarks/README.md, "Figures behind the code's choices")."""
    return 2 if device.type == "cpu" and torch.get_num_threads() >= 2 else 1


def even_parts(count: int, parts: int) -> list[range]:
    """0..count-1 cut into at most `parts` consecutive ranges whose lengths differ by one at most (none
    empty)."""
    bounds = np.linspace(0, count, min(parts, count) + 1).round().astype(int).tolist()
    return [range(start, stop) for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]


@dataclass
class PreparedVideo:
    result: VideoResult  # decode and detection filled in, or a fallback reason
    # per input size: model-ready faces, aligned with result.faces
    inputs: dict[int, list[np.ndarray]] = field(default_factory=dict)


@dataclass(frozen=True)
class PredictorSettings:
    """How a VideoPredictor samples, batches and scores a video; None picks what suits the device."""

    num_frames: int = 32  # frames sampled per video, evenly spaced
    input_size: int | None = None  # face size for every model; None: each checkpoint's own
    batch_size: int | None = None  # faces per forward pass; None: default_batch_size, 1 on OpenVINO
    strategy: str | Callable[[Sequence[float]], float] = "confident"  # one model's face scores to a score
    jitter: int = 0  # frames each sampled position may move by, at random
    seed: int | None = None  # seeds the jitter; None: another draw on every read
    pad_batches: bool | None = None  # pad the last batch to a full one; None: on a GPU only
    max_faces_per_frame: int | None = None  # a frame keeps its largest faces; 0 or None: every face
    parallel_batches: int | None = None  # batches classified side by side; None: default_parallel_batches
    video_score: str = "every-face"  # how track scores make the video's score (VIDEO_SCORES)
    explain_faces: str = "every-face"  # heat maps of every face, or ("kept") of each track's extremes

    def __post_init__(self):
        if self.video_score not in VIDEO_SCORES:
            raise ValueError(f"video_score must be one of {', '.join(VIDEO_SCORES)}")
        if self.explain_faces not in ("every-face", "kept"):
            raise ValueError("explain_faces must be every-face or kept")


class VideoPredictor:
    def __init__(
        self,
        models: dict[str, nn.Module],
        detector: FaceDetector,
        device: torch.device,
        settings: PredictorSettings = PredictorSettings(),
        explainer: HeatMapExplainer | None = None,
    ):
        if not models:
            raise ValueError("at least one model is needed")
        self.models = models
        self.detector = detector
        self.device = device
        self.settings = settings
        self.specs = input_specs(models, settings.input_size)
        self.sizes = sorted({spec.size for spec in self.specs.values()})
        on_openvino = all(isinstance(model, OpenVINOClassifier) for model in models.values())
        # OpenVINO's latency mode takes one face at a time on every core (see
        # core.openvino_runtime.compiled_module)
        self.batch_size = settings.batch_size or (1 if on_openvino else default_batch_size(device))
        strategy = settings.strategy
        self.strategy = STRATEGIES[strategy] if isinstance(strategy, str) else strategy
        self.max_faces_per_frame = settings.max_faces_per_frame or None
        self.explainer = explainer
        first = next(iter(models.values()))
        self.dtype = first.dtype if hasattr(first, "dtype") else first.fc.weight.dtype
        # cuDNN plans every convolution anew for each batch shape it has not seen (benchmarks/README.md gives
        # the cost), so on a GPU the last faces of a video are padded to a full batch: one shape for the whole
        # run. On a CPU a padding face would cost as much as a real one.
        self.pad_batches = device.type == "cuda" if settings.pad_batches is None else settings.pad_batches
        parallel_batches = settings.parallel_batches
        if parallel_batches is None:
            parallel_batches = 1 if on_openvino else default_parallel_batches(device)
        self.parallel_batches = max(parallel_batches, 1)
        # Made here, in the thread that owns the predictor, with its thread count: a read-ahead thread limited
        # to one thread must not hand every lane one thread, and two read-ahead threads must not make two
        # pools.
        self._lane_pool = self._start_lanes() if self.parallel_batches > 1 else None

    def read(self, path: str | os.PathLike) -> SampledFrames:
        return read_sampled_frames(path, self.settings.num_frames, self.settings.jitter, self.settings.seed)

    def find_faces(self, sampled: SampledFrames) -> tuple[list[dict], list[np.ndarray], int]:
        """Detected faces (with their frame index), their model-ready square crops, and how many faces were
        skipped.

        A frame with more than `max_faces_per_frame` faces keeps its largest ones:
        the people a video is about are the ones filling the frame.
        """
        faces, inputs, skipped = [], {size: [] for size in self.sizes}, 0
        detections = self.detect(sampled.frames)
        for frame, frame_index, frame_faces in zip(sampled.frames, sampled.indices, detections, strict=False):
            if self.max_faces_per_frame is not None and len(frame_faces) > self.max_faces_per_frame:
                largest = sorted(range(len(frame_faces)), key=lambda i: -frame_faces[i].area)[
                    : self.max_faces_per_frame
                ]
                skipped += len(frame_faces) - len(largest)
                frame_faces = [frame_faces[i] for i in sorted(largest)]
            for face in frame_faces:
                crop = crop_face(frame, face.box)
                if crop is None:
                    continue
                faces.append({"frame": frame_index, **face.to_json()})
                for size, ready in inputs.items():
                    ready.append(face_to_model_input(crop, size))
        for face, track in zip(faces, link_tracks(faces, sampled.indices), strict=True):
            face["track"] = track
        return faces, inputs, skipped

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        """Faces of each frame; with batches side by side, each lane detects on its share of the frames, which
        is faster than detecting on every thread at once (benchmarks/README.md, "Figures behind the code's
        choices")."""
        shares = [frames[part.start : part.stop] for part in even_parts(len(frames), self.parallel_batches)]
        return [faces for share in self._in_lanes(self.detector.detect, shares) for faces in share]

    def batches(self, count: int) -> list[range]:
        """Positions of the faces of each forward pass: `batch_size` at a time, or, when batches run side by
        side, a multiple of `parallel_batches` batches of sizes as equal as possible, so that no lane waits
        for another."""
        if self.parallel_batches == 1 or self.pad_batches:
            return [
                range(start, min(start + self.batch_size, count))
                for start in range(0, count, self.batch_size)
            ]
        rounds = -(-count // (self.batch_size * self.parallel_batches))
        return even_parts(count, rounds * self.parallel_batches)

    @torch.inference_mode()
    def classify_batch(
        self, job: tuple[Sequence[np.ndarray], InputSpec, list[str]]
    ) -> dict[str, list[float]]:
        """Fake probability of each face of one batch under each of the named models, which share one input
        spec."""
        inputs, spec, names = job
        chunk, count = list(inputs), len(inputs)
        if self.pad_batches:
            chunk += [np.zeros_like(chunk[0])] * (self.batch_size - count)
        batch = normalize_batch(chunk, self.device, self.dtype, spec.mean, spec.std)
        return {
            name: torch.sigmoid(self.models[name](batch)[:count].float()).flatten().cpu().tolist()
            for name in names
        }

    def classify(self, inputs: dict[int, Sequence[np.ndarray]]) -> dict[str, list[float]]:
        """Fake probability of every face under every model; `inputs` holds the faces at each model's input
        size."""
        groups: dict[InputSpec, list[str]] = {}
        for name, spec in self.specs.items():
            groups.setdefault(spec, []).append(name)
        jobs = [
            ([inputs[spec.size][i] for i in positions], spec, names)
            for spec, names in groups.items()
            for positions in self.batches(len(inputs[spec.size]))
        ]
        per_batch = self._in_lanes(self.classify_batch, jobs)
        return {
            name: [
                score
                for (_, _, names), scores in zip(jobs, per_batch, strict=True)
                if name in names
                for score in scores[name]
            ]
            for name in self.models
        }

    def _in_lanes(self, function: Callable, items: Sequence) -> list:
        """`function` of each item, in order: side by side in the lanes, or here when there is one lane or one
        item."""
        if self._lane_pool is None or len(items) < 2:
            return [function(item) for item in items]
        return list(self._lane_pool.map(function, items))

    def _start_lanes(self) -> ThreadPoolExecutor:
        """Threads that each run one batch at a time on their share of this thread's CPU threads."""
        threads = torch.get_num_threads()
        share = max(threads // self.parallel_batches, 1)
        all_started = threading.Barrier(self.parallel_batches)

        def limit_threads() -> None:
            # torch sets a thread's count from the process-wide one the first time the thread runs an
            # operator; once that has happened, a count set here holds for this thread only (OpenMP and MKL
            # keep it per thread)
            torch.get_num_threads()
            torch.set_num_threads(share)
            all_started.wait()  # keeps this thread busy, so that each call runs in a thread of its own

        pool = ThreadPoolExecutor(self.parallel_batches, "lane")
        for started in [pool.submit(limit_threads) for _ in range(self.parallel_batches)]:
            started.result()
        torch.set_num_threads(threads)  # back for this thread and as the process-wide count
        return pool

    def lane_thread_counts(self) -> list[int]:
        """The CPU threads each lane runs its operators on (one entry per lane; empty without lanes)."""
        if self._lane_pool is None:
            return []
        return list(self._lane_pool.map(lambda _: torch.get_num_threads(), range(self.parallel_batches)))

    def prepare(self, path: str | os.PathLike) -> PreparedVideo:
        """Decode, detect and crop: the part of scoring that needs no classifier.

        Never raises for a bad video (only KeyboardInterrupt and the like pass): it comes back with a fallback
        reason. A file that cannot be decoded is a lasting reason; any other error (out of memory, a decoder
        or detector crash) is marked transient, so that a rerun tries the video again.
        """
        started = time.perf_counter()
        result = VideoResult(NEUTRAL_SCORE, path=str(Path(path).resolve()))
        try:
            sampled = self.read(path)
        except VideoReadError as error:
            result.fallback = str(error)
            return PreparedVideo(result)
        except Exception as error:
            return PreparedVideo(failed(result, "decoding", error))
        decoded = time.perf_counter()
        result.frames_read, result.frame_count, result.note = (
            len(sampled.frames),
            sampled.frame_count,
            sampled.note,
        )
        result.fps = round(sampled.fps, 3)
        result.decoding = asdict(sampled.decoding)
        try:
            result.faces, inputs, result.faces_skipped = self.find_faces(sampled)
        except Exception as error:
            return PreparedVideo(failed(result, "face detection", error))
        result.seconds = {
            "decode": round(decoded - started, 3),
            "detect": round(time.perf_counter() - decoded, 3),
        }
        if not result.faces:
            result.fallback = f"no face found in {len(sampled.frames)} sampled frames"
        return PreparedVideo(result, inputs)

    def score(self, prepared: PreparedVideo) -> VideoResult:
        """Classify the prepared faces with every model and combine the scores into the video's score."""
        result = prepared.result
        if result.fallback:
            return result
        started = time.perf_counter()
        result.scores = {
            name: [round(s, 6) for s in values] for name, values in self.classify(prepared.inputs).items()
        }
        result.seconds["classify"] = round(time.perf_counter() - started, 3)
        result.model_scores, result.score, result.tracks = score_video(
            result.faces, result.scores, self.strategy, self.settings.video_score
        )
        if self.explainer is not None:
            self.explain(prepared, result)
        return result

    def explain(self, prepared: PreparedVideo, result: VideoResult) -> None:
        """The heat maps of the scored faces. Failing here (a backward pass is memory-hungry) costs the maps,
        never the scores: the note says why, and a rerun with --explain tries the video again, as it lacks the
        maps."""
        started = time.perf_counter()
        try:
            result.heatmaps = self.explainer.explain(
                prepared.inputs,
                None if self.settings.explain_faces == "every-face" else kept_faces(result.tracks),
            )
        except Exception as error:
            result.heatmaps = {}
            reason = f"heat maps failed: {type(error).__name__}: {error}"
            result.note = f"{result.note}; {reason}" if result.note else reason
        result.seconds["explain"] = round(time.perf_counter() - started, 3)

    def predict(self, path: str | os.PathLike) -> VideoResult:
        """Score one video; a bad video gets the neutral score and a reason, never an exception."""
        prepared = self.prepare(path)
        try:
            return self.score(prepared)
        except Exception as error:
            return failed(prepared.result, "classification", error)


def failed(result: VideoResult, stage: str, error: Exception) -> VideoResult:
    """The result of a video whose `stage` raised: the neutral score, the reason, and a retry on the next
    run."""
    result.score, result.scores, result.model_scores = NEUTRAL_SCORE, {}, {}
    result.fallback = f"{stage} failed: {type(error).__name__}: {error}"
    result.transient = True
    return result


def score_videos(predictor: VideoPredictor, videos: Sequence[str | os.PathLike]) -> list[float]:
    """Fake probability of each video, in the order given (0.5 for a video that cannot be scored)."""
    return [predictor.predict(video).score for video in videos]
