"""A static HTML report of a scoring run: an index of every video and a page per video, readable offline from
disk.

    python -m inference.report submission.diagnostics.json --out report/

predict_folder.py --report DIR writes the same report at the end of its run, with the face thumbnails it saved
while scoring; made later from a diagnostics JSON, the thumbnails are cut again from the videos (their paths
are in the diagnostics), and a video that is gone gets a page without them. Pages come from the Jinja2
templates in inference/report_templates, plots from matplotlib; the report needs nothing outside its folder
(no scripts, fonts or styles from the web). A rerun redraws only the videos whose results changed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.atomic import atomic_path, write_text_atomic
from core.cli import ArgumentParser
from inference.results import DiagnosticsError, VideoResult, load_diagnostics
from inference.strategy import face_means
from inference.tracks import kept_faces

TEMPLATES = Path(__file__).resolve().parent / "report_templates"
ASSETS = ("report.css", "report.js")
THUMBNAIL_SIZE = 112  # pixels of each face thumbnail and heat map, square as the model's input
DEFAULT_THRESHOLD = 0.5
RECORD_FILE = "record.sha256"  # what a video's page was drawn from; a rerun redraws it only when that changed
SOURCE_FILE = "video_key.txt"  # which video file the face thumbnails were cut from


def trained_on(weights: Sequence[Path]) -> dict[str, str | None]:
    """What each checkpoint learnt from, as far as anything says: the released ones, DFDC; one of
    train_classifier.py, the data its saved config names; any other, None (the report then claims nothing
    about it)."""
    from core.checkpoints import CheckpointError, training_config_for
    from inference.released_weights import RELEASED

    said: dict[str, str | None] = {}
    for path in weights:
        if path.name in RELEASED:
            said[path.name] = "the DFDC training set (the winning solution's released checkpoints)"
            continue
        try:
            record = training_config_for(path).get("trained_on")
        except CheckpointError:
            record = None
        if not isinstance(record, dict) or "data_dir" not in record:
            said[path.name] = None
            continue
        folders = ", ".join(f"{folder} {count}" for folder, count in (record.get("folders") or {}).items())
        fold = record.get("validation_fold")
        said[path.name] = (
            f"{record.get('videos', '?')} videos of {record['data_dir']}"
            + (f" ({folders})" if folders else "")
            + (f", fold {fold} held out for validation" if fold is not None else "")
        )
    return said


def video_folder_name(name: str) -> str:
    """A folder name for any file name: its safe characters, plus a short hash that keeps names apart."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:60] or "video"
    return f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def faces_folder(report_dir: Path, name: str) -> Path:
    return report_dir / "videos" / video_folder_name(name) / "faces"


def thumbnail(face_input: np.ndarray) -> np.ndarray:
    """A model-ready square face (RGB) as a THUMBNAIL_SIZE thumbnail, so heat maps lie on it as on the model's
    input."""
    import cv2

    shrink = face_input.shape[0] > THUMBNAIL_SIZE
    return cv2.resize(
        face_input,
        (THUMBNAIL_SIZE, THUMBNAIL_SIZE),
        interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR,
    )


def save_thumbnails(report_dir: Path, name: str, faces: Sequence[np.ndarray], video_key: str) -> None:
    """Each face of a video as faces/<position>.jpg in its report folder, all at once (a folder of them, or
    none), with the key of the video file they come from (see inference.folder.video_key)."""
    import cv2

    from core.atomic import atomic_directory

    with atomic_directory(faces_folder(report_dir, name)) as tmp:
        for position, face in enumerate(faces):
            cv2.imwrite(
                str(tmp / f"{position:03d}.jpg"),
                cv2.cvtColor(thumbnail(face), cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 88],
            )
        (tmp / SOURCE_FILE).write_text(video_key + "\n", encoding="utf-8")


def has_thumbnails(report_dir: Path, name: str, record: VideoResult) -> bool:
    """Whether the report folder holds a thumbnail of each of the record's faces, cut from the same video
    file."""
    folder = faces_folder(report_dir, name)
    source = folder / SOURCE_FILE
    return (
        source.is_file()
        and source.read_text(encoding="utf-8").strip() == record.video_key
        and all((folder / f"{position:03d}.jpg").is_file() for position in range(len(record.faces)))
    )


def thumbnails_from_video(record: VideoResult) -> list[np.ndarray]:
    """The record's faces cut again from its video's frames (raises VideoReadError when the video cannot be
    read)."""
    from core.faces import crop_face
    from core.images import face_to_model_input
    from core.video import VideoReadError, read_frames_at

    frames = read_frames_at(Path(record.path), sorted({face["frame"] for face in record.faces}))
    faces = []
    for face in record.faces:
        if face["frame"] not in frames:
            raise VideoReadError(f"frame {face['frame']} no longer decodes")
        crop = crop_face(frames[face["frame"]], face["box"])
        faces.append(
            face_to_model_input(crop, THUMBNAIL_SIZE)
            if crop is not None
            else np.zeros((THUMBNAIL_SIZE,) * 2 + (3,), np.uint8)
        )
    return faces


def ensure_thumbnails(report_dir: Path, name: str, record: VideoResult) -> str | None:
    """Thumbnails for every face of the video in its report folder; a reason when they cannot be made."""
    from core.video import VideoReadError

    if not record.faces or has_thumbnails(report_dir, name, record):
        return None
    try:
        save_thumbnails(report_dir, name, thumbnails_from_video(record), record.video_key)
    except (VideoReadError, OSError) as error:
        return f"face thumbnails unavailable: {error}"
    return None


def moment(frame: int, fps: float) -> str:
    """Where a frame is: its number, and its time in the video (m:ss.s) when the frame rate is known."""
    if fps <= 0:
        return f"frame {frame}"
    minutes, seconds = divmod(frame / fps, 60)
    return f"frame {frame}, {int(minutes)}:{seconds:04.1f}"


def draw_timeline(record: VideoResult, path: Path) -> None:
    """Each track's face scores across the video (mean over models, the band between the lowest and highest
    model), and the video's score; in seconds when the frame rate is known, else in frames."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 2.8), dpi=100)
    axes = figure.add_subplot()
    scores = np.array(list(record.scores.values()))
    faces = record.faces
    fps = record.fps or 0.0
    scale = 1 / fps if fps > 0 else 1.0
    for colour, track in zip(_colours(len(record.tracks)), record.tracks, strict=True):
        members = [i for i, face in enumerate(faces) if face["track"] == track["track"]]
        frames = [faces[i]["frame"] * scale for i in members]
        axes.fill_between(
            frames,
            scores[:, members].min(axis=0),
            scores[:, members].max(axis=0),
            color=colour,
            alpha=0.18,
            linewidth=0,
        )
        axes.plot(
            frames,
            scores[:, members].mean(axis=0),
            marker="o",
            markersize=3,
            color=colour,
            label=f"person {track['track'] + 1}: {track['score']:.3f}",
        )
    axes.axhline(
        record.score, color="black", linestyle="--", linewidth=1, label=f"video score {record.score:.3f}"
    )
    axes.set_ylim(-0.02, 1.02)
    axes.set_xlim(0, max(record.frame_count - 1, max(face["frame"] for face in faces), 1) * scale)
    axes.set_xlabel("seconds" if fps > 0 else "frame")
    axes.set_ylabel("fake probability")
    axes.grid(alpha=0.3)
    axes.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")


def draw_histogram(videos: dict[str, VideoResult], threshold: float, path: Path) -> None:
    """How the video scores spread, with the threshold; videos scored by fallback apart."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 2.4), dpi=100)
    axes = figure.add_subplot()
    scored = [record.score for record in videos.values() if not record.fallback]
    fallback = [record.score for record in videos.values() if record.fallback]
    bins = np.linspace(0, 1, 21)
    axes.hist(
        [scored, fallback],
        bins=bins,
        stacked=True,
        color=["#4472c4", "#bbbbbb"],
        label=["scored", "fallback (0.5)"],
    )
    axes.axvline(threshold, color="#c00000", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    axes.set_xlabel("video score (fake probability)")
    axes.set_ylabel("videos")
    axes.legend(fontsize=8, frameon=False)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")


def _colours(count: int) -> list:
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    return [palette(i % 10) for i in range(count)]


def draw_heat_map(face: Path, heat: np.ndarray, path: Path) -> None:
    """The heat map over the face thumbnail: transparent where cold, red where the model saw "fake" most."""
    import cv2
    from matplotlib import colormaps

    image = cv2.cvtColor(cv2.imread(str(face)), cv2.COLOR_BGR2RGB).astype(np.float32) / 255
    heat = cv2.resize(heat, image.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    colour = colormaps["jet"](heat)[..., :3]
    alpha = 0.65 * heat[..., None]
    blended = np.clip((image * (1 - alpha) + colour * alpha) * 255, 0, 255).astype(np.uint8)
    with atomic_path(path) as tmp:
        cv2.imwrite(str(tmp), cv2.cvtColor(blended, cv2.COLOR_RGB2BGR))


def heat_maps_of(record: VideoResult, folder: Path, thumbnails_ok: bool) -> dict[int, list[dict]]:
    """Per face kept for a track (its most and least fake), each model's heat map image, drawn when
    computed."""
    from inference.explain import decode_map

    kept = kept_faces(record.tracks)
    heatmaps = record.heatmaps
    # maps of faces kept by an earlier version of the record
    shutil.rmtree(folder / "heat", ignore_errors=True)
    if not heatmaps or not thumbnails_ok:
        return {}
    drawn: dict[int, list[dict]] = {}
    for position in kept:
        for number, (model, entry) in enumerate(heatmaps.items()):
            if entry["faces"][position] is None:
                continue
            image = folder / "heat" / f"{position:03d}-{number}.png"
            draw_heat_map(
                folder / "faces" / f"{position:03d}.jpg",
                decode_map(entry["faces"][position], entry["shape"]),
                image,
            )
            drawn.setdefault(position, []).append(
                {
                    "model": model,
                    "layer": entry["layer"],
                    "image": image.relative_to(folder).as_posix(),
                    "score": record.scores[model][position],
                }
            )
    return drawn


def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["score"] = lambda value: f"{value:.3f}"
    environment.globals["moment"] = moment
    return environment


def record_digest(record: VideoResult, settings: dict) -> str:
    return hashlib.sha256(json.dumps([record.to_json(), settings], sort_keys=True).encode()).hexdigest()


# how each decoder of core.video reads a video, in the report's words
DECODERS = {
    "pyav": "PyAV (FFmpeg), one pass from the start",
    "pyav-seek": "PyAV (FFmpeg), seeking to the keyframe before each frame",
    "opencv": "OpenCV (FFmpeg), one pass from the start",
    "pillow": "Pillow (a photo)",
}


def write_video_page(
    environment, report_dir: Path, name: str, record: VideoResult, settings: dict, threshold: float
) -> dict:
    """The video's page and its pictures, unless they were drawn from this very record before; its index
    row."""
    folder = report_dir / "videos" / video_folder_name(name)
    row = {
        "name": name,
        "href": f"videos/{folder.name}/index.html",
        "score": record.score,
        "fallback": record.fallback,
        "faces": record.faces_found,
        "tracks": len(record.tracks),
        "frames": record.frames_read,
        "note": record.note,
        "decoder_errors": record.decoding.get("errors", 0),
    }
    digest = record_digest(record, {**settings, "threshold": threshold})
    if _drawn_from(folder, digest) and (not record.faces or has_thumbnails(report_dir, name, record)):
        return row
    thumbnails_missing = ensure_thumbnails(report_dir, name, record)
    faces = record.faces
    if record.scores and faces:
        draw_timeline(record, folder / "timeline.png")
    page = environment.get_template("video.html").render(
        name=name,
        record=record,
        tracks=page_tracks(record),
        threshold=threshold,
        settings=settings,
        fps=record.fps or 0.0,
        decoding=record.decoding,
        decoders=DECODERS,
        thumbnails=thumbnails_missing is None and bool(faces),
        thumbnails_missing=thumbnails_missing,
        heat_maps=heat_maps_of(record, folder, thumbnails_missing is None),
        timeline=bool(record.scores and faces),
        seconds=record.seconds,
        agreement=_agreement(record, threshold),
        explained=bool(record.heatmaps),
    )
    write_text_atomic(folder / "index.html", page)
    write_text_atomic(folder / RECORD_FILE, digest + "\n")
    return row


def page_tracks(record: VideoResult) -> list[dict]:
    """Each track of the video's page: its scores, the person's number, and its faces with their
    thumbnails."""
    per_face = face_means(record.scores).tolist()
    faces = record.faces
    tracks = []
    for track in record.tracks:
        members = [i for i, face in enumerate(faces) if face["track"] == track["track"]]
        tracks.append(
            {
                **track,
                "person": track["track"] + 1,
                "kept": kept_faces([track]),
                "members": [
                    {
                        "position": i,
                        "frame": faces[i]["frame"],
                        "score": per_face[i],
                        "image": f"faces/{i:03d}.jpg",
                        "kind": _kind(track, i),
                    }
                    for i in members
                ],
            }
        )
    return tracks


def _drawn_from(folder: Path, digest: str) -> bool:
    record = folder / RECORD_FILE
    return record.is_file() and record.read_text().strip() == digest and (folder / "index.html").is_file()


def _kind(track: dict, position: int) -> str:
    if position == track.get("most_fake_face"):
        return "most fake"
    if position == track.get("least_fake_face"):
        return "least fake"
    return ""


def _agreement(record: VideoResult, threshold: float) -> dict:
    """Each model's video score and track scores, and how far apart the models are."""
    scores = record.model_scores
    verdicts = {score >= threshold for score in scores.values()}
    return {
        "models": scores,
        "spread": (max(scores.values()) - min(scores.values())) if scores else 0.0,
        "unanimous": len(verdicts) <= 1,
    }


def write_report(
    settings: dict,
    videos: dict[str, VideoResult],
    report_dir: str | Path,
    threshold: float = DEFAULT_THRESHOLD,
    source: str = "",
) -> Path:
    """The report of a run's settings and records (inference.results.load_diagnostics) in `report_dir`;
    returns its index page."""
    from tqdm import tqdm

    report_dir = Path(report_dir)
    environment = _environment()
    (report_dir / "assets").mkdir(parents=True, exist_ok=True)
    for asset in ASSETS:
        write_text_atomic(report_dir / "assets" / asset, (TEMPLATES / asset).read_text(encoding="utf-8"))
    rows = [
        write_video_page(environment, report_dir, name, record, settings, threshold)
        for name, record in tqdm(
            sorted(videos.items()), desc="report pages", unit="video", disable=len(videos) < 2
        )
    ]
    draw_histogram(videos, threshold, report_dir / "scores.png")
    index = report_dir / "index.html"
    write_text_atomic(
        index,
        environment.get_template("index.html").render(
            rows=rows,
            settings=settings,
            threshold=threshold,
            source=source,
            histogram=bool(videos),
            fallbacks=sum(1 for row in rows if row["fallback"]),
        ),
    )
    _remove_stale_pages(report_dir, {video_folder_name(name) for name in videos})
    return index


def _remove_stale_pages(report_dir: Path, current: set[str]) -> None:
    """Pages of videos that are no longer in the run (the report folder is reused for a new run)."""
    for folder in (report_dir / "videos").iterdir() if (report_dir / "videos").is_dir() else []:
        if folder.is_dir() and not folder.name.startswith(".") and folder.name not in current:
            shutil.rmtree(folder)


def threshold_option(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def main(argv=None) -> int:
    parser = ArgumentParser(
        prog="python -m inference.report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "diagnostics", help="the <output stem>.diagnostics.json that predict_folder.py wrote beside its CSV"
    )
    parser.add_argument(
        "--out", required=True, help="folder to write the report into (index.html and a folder per video)"
    )
    parser.add_argument(
        "--threshold",
        type=threshold_option,
        default=DEFAULT_THRESHOLD,
        help="score at or above which a video is called fake; the index page lets the reader change it",
    )
    args = parser.parse_args(argv)
    source = Path(args.diagnostics)
    try:
        settings, videos = load_diagnostics(source)
    except DiagnosticsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    index = write_report(settings, videos, args.out, args.threshold, source.name)
    print(f"wrote the report of {len(videos)} videos: {index.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
