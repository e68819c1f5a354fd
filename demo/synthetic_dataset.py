"""Make a small DFDC-layout dataset of synthetic clips from the face photos that ship inside installed
packages.

    python -m demo.synthetic_dataset --out DATA_ROOT --parts 2 --reals-per-part 8 --seed 0

Sources: scikit-image's `data.astronaut()` and matplotlib's sample `grace_hopper.jpg`.
A REAL clip films one photo with a moving virtual camera: pan, zoom, a small rotation,
a brightness and contrast drift, and a horizontal flip for half of the clips. A FAKE
clip is self-blended: the face region (a soft mask around MTCNN's five landmarks) is
replaced by a copy of the same photo with jittered colour, scale and sharpness, at a
random blend strength, and then filmed with exactly its original's camera path, so
fake and original are frame-aligned as in DFDC.

Writes DATA_ROOT/dfdc_train_part_<N>/{<id>.mp4, metadata.json} (OpenCV's mp4v codec),
with `original` set for every fake. The output depends only on the options and the seed:
each part has its own random stream, and a part already on disk is skipped (each is
written to a temporary folder and renamed when complete).

Detecting such blends is a stand-in task that shows the training path learns; it says
nothing about how well a model detects real deepfakes.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from core.atomic import atomic_directory
from core.cli import ArgumentParser, at_least
from core.faces import FaceDetector
from core.video import write_video


@dataclass
class SourcePhoto:
    name: str
    image: np.ndarray  # RGB uint8
    landmarks: np.ndarray  # (5, 2): eyes, nose, mouth corners


@dataclass
class CameraPath:
    """Start and end of a smooth camera move over one photo; frames in between are eased."""

    centre: np.ndarray  # (2, 2): start and end point of the photo at the frame centre
    view_width: np.ndarray  # (2,): photo pixels across the frame width
    angle: np.ndarray  # (2,): degrees
    brightness: np.ndarray  # (2,): grey levels added
    contrast: np.ndarray  # (2,): gain around mid-grey
    flip: bool


def load_source_photos(detector: FaceDetector) -> list[SourcePhoto]:
    import matplotlib.cbook
    import matplotlib.image
    from skimage import data

    photos = {
        "astronaut": data.astronaut(),
        "grace_hopper": matplotlib.image.imread(matplotlib.cbook.get_sample_data("grace_hopper.jpg")),
    }
    sources = []
    for name, image in photos.items():
        image = np.ascontiguousarray(image[..., :3]).astype(np.uint8)
        faces = detector.detect([image], scale=1.0)[0]
        if not faces:
            raise RuntimeError(f"no face found in the {name} photo")
        sources.append(SourcePhoto(name, image, faces[0].landmarks.astype(np.float64)))
    return sources


def random_camera_path(rng: np.random.Generator, photo: SourcePhoto) -> CameraPath:
    face_centre = photo.landmarks.mean(axis=0)
    eye_distance = float(np.linalg.norm(photo.landmarks[1] - photo.landmarks[0]))
    return CameraPath(
        centre=face_centre + rng.uniform(-0.6, 0.6, size=(2, 2)) * eye_distance,
        view_width=rng.uniform(5.0, 8.0, size=2) * eye_distance,
        angle=rng.uniform(-8, 8, size=2),
        brightness=rng.uniform(-25, 25, size=2),
        contrast=rng.uniform(0.85, 1.15, size=2),
        flip=bool(rng.random() < 0.5),
    )


def between(pair: np.ndarray, t: float):
    return pair[0] + (pair[1] - pair[0]) * t


def film(photo: np.ndarray, path: CameraPath, frames: int, width: int, height: int) -> list[np.ndarray]:
    """The frames of `photo` seen along `path`, RGB uint8."""
    clip = []
    for index in range(frames):
        t = 0.5 - 0.5 * np.cos(np.pi * index / max(frames - 1, 1))  # eased: starts and stops smoothly
        centre = between(path.centre, t)
        zoom = width / float(between(path.view_width, t))
        matrix = cv2.getRotationMatrix2D(
            (float(centre[0]), float(centre[1])), float(between(path.angle, t)), zoom
        )
        matrix[:, 2] += (width / 2 - centre[0], height / 2 - centre[1])
        frame = cv2.warpAffine(
            photo, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
        )
        frame = (
            (frame.astype(np.float32) - 128) * float(between(path.contrast, t))
            + 128
            + float(between(path.brightness, t))
        )
        frame = np.clip(frame, 0, 255).astype(np.uint8)
        clip.append(frame[:, ::-1] if path.flip else frame)
    return clip


def face_mask(rng: np.random.Generator, landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A soft float mask in [0, 1] over the inner face: the landmarks' hull grown to brows and chin, then
    blurred."""
    eye_distance = float(np.linalg.norm(landmarks[1] - landmarks[0]))
    eyes_to_mouth = (landmarks[3] + landmarks[4]) / 2 - (landmarks[0] + landmarks[1]) / 2
    outline = np.concatenate(
        [landmarks, landmarks[:2] - 0.45 * eyes_to_mouth, landmarks[3:] + 0.5 * eyes_to_mouth]
    )
    centre = outline.mean(axis=0)
    outline = (
        centre
        + (outline - centre) * rng.uniform(1.1, 1.45)
        + rng.normal(0, 0.06 * eye_distance, outline.shape)
    )
    mask = np.zeros(shape, np.float32)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(outline).astype(np.int32)), 1.0)
    sigma = eye_distance * rng.uniform(0.05, 0.2)
    return cv2.GaussianBlur(mask, (0, 0), sigma)


def jittered_copy(rng: np.random.Generator, image: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """The photo with shifted colours, slightly rescaled about the face, and blurred or sharpened; float32."""
    scale = rng.uniform(1.02, 1.1)
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), 0.0, scale)
    copy = cv2.warpAffine(
        image, matrix, image.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
    copy = copy.astype(np.float32)
    if rng.random() < 0.5:
        copy = cv2.GaussianBlur(copy, (0, 0), rng.uniform(0.7, 1.6))
    else:
        copy = copy + rng.uniform(0.6, 1.5) * (copy - cv2.GaussianBlur(copy, (0, 0), 2.0))
    while True:  # a colour change of at least a few grey levels, so every fake carries a signal
        gain, offset = rng.uniform(0.85, 1.15, 3), rng.uniform(-30, 30, 3)
        if np.abs((gain - 1) * 128 + offset).mean() >= 12:
            return copy * gain + offset


def self_blend(rng: np.random.Generator, photo: SourcePhoto) -> np.ndarray:
    mask = face_mask(rng, photo.landmarks, photo.image.shape[:2])[..., None] * rng.uniform(0.7, 1.0)
    copy = jittered_copy(rng, photo.image, photo.landmarks.mean(axis=0))
    blended = photo.image.astype(np.float32) * (1 - mask) + copy * mask
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def video_name(rng: np.random.Generator) -> str:
    """A DFDC-style random id (no vowels, so no words): the name says nothing about the label."""
    return "".join(rng.choice(list("bcdfghjklmnpqrstvwxz"), 10)) + ".mp4"


@dataclass
class DatasetOptions:
    parts: int = 2
    first_part: int = 0
    reals_per_part: int = 8
    fakes_per_real: int = 2
    frames: int = 32
    width: int = 320
    height: int = 240
    fps: float = 15.0
    seed: int = 0


def write_part(
    folder: Path, part: int, sources: list[SourcePhoto], options: DatasetOptions, bar: tqdm
) -> None:
    rng = np.random.default_rng([options.seed, part])
    metadata = {}
    with atomic_directory(folder) as tmp:
        for index in range(options.reals_per_part):
            photo = sources[(index + part) % len(sources)]
            path = random_camera_path(rng, photo)
            original = video_name(rng)
            write_video(
                tmp / original,
                film(photo.image, path, options.frames, options.width, options.height),
                options.fps,
            )
            metadata[original] = {"label": "REAL", "original": None, "split": "train"}
            bar.update()
            for _ in range(options.fakes_per_real):
                fake_photo = self_blend(rng, photo)
                fake = video_name(rng)
                write_video(
                    tmp / fake,
                    film(fake_photo, path, options.frames, options.width, options.height),
                    options.fps,
                )
                metadata[fake] = {"label": "FAKE", "original": original, "split": "train"}
                bar.update()
        (tmp / "metadata.json").write_text(json.dumps(metadata, indent=1))


def part_folder(root: Path, part: int) -> Path:
    return root / f"dfdc_train_part_{part}"


def is_made(root: Path, part: int) -> bool:
    """Whether the part is complete: its metadata.json is written last."""
    return (part_folder(root, part) / "metadata.json").is_file()


def make_dataset(root: Path, options: DatasetOptions, detector: FaceDetector | None = None) -> list[Path]:
    """Write the parts missing under `root`; return every part folder."""
    numbers = range(options.first_part, options.first_part + options.parts)
    missing = [(part, part_folder(root, part)) for part in numbers if not is_made(root, part)]
    if missing:
        sources = load_source_photos(detector or FaceDetector("cpu"))
        clips = len(missing) * options.reals_per_part * (1 + options.fakes_per_real)
        with tqdm(total=clips, desc="synthetic clips", unit="clip") as bar:
            for part, folder in missing:
                write_part(folder, part, sources, options, bar)
    return [part_folder(root, part) for part in numbers]


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = DatasetOptions()
    parser.add_argument(
        "--out", required=True, help="DATA_ROOT to write the dfdc_train_part_<N> folders into"
    )
    parser.add_argument(
        "--parts", type=at_least(1), default=defaults.parts, help="number of dfdc_train_part_<N> folders"
    )
    parser.add_argument(
        "--first-part", type=at_least(0), default=defaults.first_part, help="number of the first part folder"
    )
    parser.add_argument(
        "--reals-per-part", type=at_least(1), default=defaults.reals_per_part, help="REAL clips in each part"
    )
    parser.add_argument(
        "--fakes-per-real",
        type=at_least(0),
        default=defaults.fakes_per_real,
        help="FAKE clips made from each REAL clip",
    )
    parser.add_argument("--frames", type=at_least(1), default=defaults.frames, help="frames per clip")
    parser.add_argument("--width", type=at_least(1), default=defaults.width, help="frame width in pixels")
    parser.add_argument("--height", type=at_least(1), default=defaults.height, help="frame height in pixels")
    parser.add_argument("--fps", type=float, default=defaults.fps, help="frame rate written into the files")
    parser.add_argument(
        "--seed", type=int, default=defaults.seed, help="the same seed and options give the same clips"
    )
    args = parser.parse_args(argv)
    options = DatasetOptions(
        args.parts,
        args.first_part,
        args.reals_per_part,
        args.fakes_per_real,
        args.frames,
        args.width,
        args.height,
        args.fps,
        args.seed,
    )
    folders = make_dataset(Path(args.out), options)
    print(f"synthetic dataset: {len(folders)} parts in {Path(args.out).resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
