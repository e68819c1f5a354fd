"""Link the faces found on a video's sampled frames into tracks, one per person, and score each track.

Faces of neighbouring sampled frames are linked when their boxes overlap (IoU) or their centres are close for
their size; a person missed on a frame or two (a turned head, a blink of the detector) keeps their track
across the gap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from inference.strategy import combine, face_means

MAX_GAP = 3  # sampled frames a track may skip and still continue
MIN_IOU = 0.3
MAX_CENTRE_SHIFT = 0.5  # of the box's larger side, for faces that moved more than their boxes overlap
MIN_TRACK_FACES = 3  # faces a track needs to count as a person for --video-score per-person
# every-face: the strategy over every face of every frame, as the original; per-person: the highest track
# score; frame-max: each frame's most fake face, averaged over the frames, as the self-blended-images paper
# scores videos
VIDEO_SCORES = ("every-face", "per-person", "frame-max")


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _affinity(previous: Sequence[float], box: Sequence[float]) -> float:
    """How well `box` continues a track whose last box is `previous`: its IoU, or, for a face that moved more
    than its boxes overlap, a small positive value while the centres stay close; 0 when it cannot be the same
    face."""
    overlap = iou(previous, box)
    if overlap >= MIN_IOU:
        return overlap
    side = max(previous[2] - previous[0], previous[3] - previous[1], box[2] - box[0], box[3] - box[1])
    shift = np.hypot(
        (previous[0] + previous[2] - box[0] - box[2]) / 2, (previous[1] + previous[3] - box[1] - box[3]) / 2
    )
    return 0.01 if shift <= MAX_CENTRE_SHIFT * side else 0.0


def link_tracks(faces: Sequence[dict], frames: Sequence[int], max_gap: int = MAX_GAP) -> list[int]:
    """Track number of each face (dicts with "frame" and "box"), given the sampled frame indices in order.
    Within a frame, the best-matching pairs are linked first; a face no track takes starts a new one."""
    position = {frame: order for order, frame in enumerate(frames)}
    tracks: list[tuple[int, Sequence[float]]] = []  # per track: position of its last face, that face's box
    assigned = [-1] * len(faces)
    by_frame: dict[int, list[int]] = {}
    for index, face in enumerate(faces):
        by_frame.setdefault(face["frame"], []).append(index)
    for frame in sorted(by_frame, key=lambda f: position.get(f, f)):
        here = position.get(frame, frame)
        pairs = sorted(
            (
                (_affinity(box, faces[index]["box"]), number, index)
                for number, (last, box) in enumerate(tracks)
                if 0 < here - last <= max_gap + 1
                for index in by_frame[frame]
            ),
            reverse=True,
        )
        taken_tracks, taken_faces = set(), set()
        for affinity, number, index in pairs:
            if affinity <= 0 or number in taken_tracks or index in taken_faces:
                continue
            assigned[index] = number
            taken_tracks.add(number)
            taken_faces.add(index)
        for index in by_frame[frame]:
            if assigned[index] < 0:
                assigned[index] = len(tracks)
                tracks.append((here, faces[index]["box"]))
            else:
                tracks[assigned[index]] = (here, faces[index]["box"])
    return assigned


def score_tracks(
    faces: Sequence[dict], scores: dict[str, Sequence[float]], strategy: Callable[[Sequence[float]], float]
) -> list[dict]:
    """Per track: its frames, its faces, each model's score of it under `strategy` and their mean, and which
    of its faces the models found most and least fake (by their mean score; positions in `faces`): the faces
    that pushed its score up and down most, the ones a reviewer looks at first."""
    tracks = []
    per_face = face_means(scores)
    for number in sorted({face["track"] for face in faces}):
        members = [i for i, face in enumerate(faces) if face["track"] == number]
        model_scores, score = combine(
            {name: [values[i] for i in members] for name, values in scores.items()}, strategy
        )
        means = per_face[members]
        tracks.append(
            {
                "track": number,
                "frames": [faces[i]["frame"] for i in members],
                "faces": len(members),
                "model_scores": model_scores,
                "score": score,
                "most_fake_face": members[int(np.argmax(means))],
                "least_fake_face": members[int(np.argmin(means))],
            }
        )
    return tracks


def kept_faces(tracks: Sequence[dict]) -> list[int]:
    """Positions of each track's most and least fake face (score_tracks), in track order, each once: the faces
    whose heat maps the report shows."""
    return list(
        dict.fromkeys(
            track[key] for track in tracks for key in ("most_fake_face", "least_fake_face") if key in track
        )
    )


def score_video(
    faces: Sequence[dict],
    scores: dict[str, Sequence[float]],
    strategy: Callable[[Sequence[float]], float],
    video_score: str = "every-face",
) -> tuple[dict[str, float], float, list[dict]]:
    """(each model's video score, the video's score, its tracks) from per-face scores: the video's score is
    the models' mean under `strategy` over every face, or with video_score "per-person" the highest person's
    track score, or with "frame-max" the models' mean of frame_max_mean (which replaces the strategy, as the
    SBI paper's scoring)."""
    model_scores, score = combine(scores, strategy)
    tracks = score_tracks(faces, scores, strategy)
    if video_score == "frame-max":
        model_scores, score = combine(scores, frame_max_mean([face["frame"] for face in faces]))
    elif video_score == "per-person":
        score = per_person_score(tracks, score)
    return model_scores, score, tracks


def frame_max_mean(frames: Sequence[int]) -> Callable[[Sequence[float]], float]:
    """A strategy over the faces of `frames` (each face's frame, aligned with the scores): the highest score
    of each frame, averaged over the frames. One face per frame makes it the plain mean; a bystander's real
    face cannot pull a frame's fake face down."""
    frames = np.asarray(frames)

    def score(pred: Sequence[float]) -> float:
        pred = np.asarray(pred, dtype=np.float64)
        if pred.size == 0:
            raise ValueError("frame-max needs at least one prediction")
        return float(np.mean([pred[frames == frame].max() for frame in np.unique(frames)]))

    return score


def per_person_score(tracks: Sequence[dict], every_face_score: float) -> float:
    """The highest score of a person's track (tracks of at least MIN_TRACK_FACES faces, else the longest one):
    one fake person among real ones is not averaged away. Without tracks, the score over every face."""
    if not tracks:
        return every_face_score
    people = [track for track in tracks if track["faces"] >= MIN_TRACK_FACES] or [
        max(tracks, key=lambda track: track["faces"])
    ]
    return max(track["score"] for track in people)
