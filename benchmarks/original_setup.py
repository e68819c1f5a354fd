"""The original DFDC-winning solution's inference setup, rebuilt to time it beside this project's on one
machine.

What the original code does with a video, patched only to run on the CPU:
each sampled frame becomes a PIL image, is resized with PIL by the same
resolution rule, and goes alone through facenet-pytorch's MTCNN (thresholds
0.7, 0.8, 0.8); each face is cut out with a third of its box as margin, resized
and padded to a square; all faces of the video pass through the classifier
together, as loaded (batch norms separate, float32), after a per-face
normalisation of a permuted NHWC buffer; glibc's default allocator. On CUDA the
classifier runs in half precision, as the original's did.

The machine this project is measured on drifts in speed by up to 1.5x within
the hour, so an absolute time says little unless the reference is timed in the
same runs: `benchmark_inference.py --setup original` uses this.
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch
from PIL import Image

from core.faces import crop_face, detection_scale
from core.images import IMAGENET_MEAN, IMAGENET_STD, face_to_model_input
from core.video import read_sampled_frames


class OriginalSetup:
    """Scores videos the way the original solution's inference code does; reports the same timings as
    VideoPredictor."""

    def __init__(
        self, model: torch.nn.Module, device: torch.device, num_frames: int = 32, input_size: int = 380
    ):
        from facenet_pytorch import MTCNN

        self.detector = MTCNN(margin=0, thresholds=[0.7, 0.8, 0.8], device=device)
        self.model = model.eval().to(device)
        self.fp16 = device.type == "cuda"
        if self.fp16:
            self.model.half()
        self.device = device
        self.num_frames = num_frames
        self.input_size = input_size
        self.mean = torch.tensor(IMAGENET_MEAN, device=device).view(3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=device).view(3, 1, 1)

    def find_faces(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        inputs = []
        for frame in frames:
            height, width = frame.shape[:2]
            scale = detection_scale(width, height)
            image = Image.fromarray(frame)
            if scale != 1.0:
                image = image.resize([max(int(side * scale), 1) for side in image.size])
            boxes, _ = self.detector.detect(image, landmarks=False)
            for box in [] if boxes is None else boxes / scale:
                crop = crop_face(frame, box)
                if crop is not None:
                    inputs.append(face_to_model_input(crop, self.input_size))
        return inputs

    def classify(self, inputs: list[np.ndarray]) -> list[float]:
        batch = torch.tensor(np.stack(inputs), device=self.device).float().permute(0, 3, 1, 2)
        for index in range(len(batch)):
            batch[index] = (batch[index] / 255.0 - self.mean) / self.std
        with torch.no_grad():
            return (
                torch.sigmoid(self.model(batch.half() if self.fp16 else batch).float().flatten())
                .cpu()
                .tolist()
            )

    def predict(self, path: str | os.PathLike) -> tuple[dict[str, float], int, int]:
        """(seconds spent decoding, detecting and classifying; frames read; faces found) for one video."""
        started = time.perf_counter()
        frames = read_sampled_frames(path, self.num_frames).frames
        decoded = time.perf_counter()
        inputs = self.find_faces(frames)
        detected = time.perf_counter()
        if inputs:
            self.classify(inputs)
        seconds = {
            "decode": decoded - started,
            "detect": detected - decoded,
            "classify": time.perf_counter() - detected,
        }
        return seconds, len(frames), len(inputs)
