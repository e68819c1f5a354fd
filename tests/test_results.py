"""The typed video record and the one loader of the diagnostics JSON: round trip, and one-line refusals of
other versions."""

from __future__ import annotations

import json
import logging
import subprocess

import pytest

from inference.folder import load_finished, progress_path
from inference.results import (
    SCHEMA_VERSION,
    DiagnosticsError,
    VideoResult,
    diagnostics_json,
    load_diagnostics,
)
from tests.commands import run_main


def a_record() -> VideoResult:
    faces = [
        {"frame": 0, "box": [1.0, 2.0, 30.0, 40.0], "track": 0},
        {"frame": 5, "box": [2.0, 2.0, 31.0, 41.0], "track": 0},
    ]
    return VideoResult(
        0.75,
        frames_read=2,
        frame_count=10,
        fps=25.0,
        decoding={"decoder": "pyav", "errors": 0},
        faces=faces,
        scores={"m.pth": [0.7, 0.8]},
        model_scores={"m.pth": 0.75},
        tracks=[
            {
                "track": 0,
                "frames": [0, 5],
                "faces": 2,
                "model_scores": {"m.pth": 0.75},
                "score": 0.75,
                "most_fake_face": 1,
                "least_fake_face": 0,
            }
        ],
        seconds={"decode": 0.1},
        path="/videos/a.mp4",
        video_key="/videos/a.mp4|10|20",
    )


def test_a_record_round_trips_through_json(tmp_path):
    record = a_record()
    assert VideoResult.from_json(json.loads(json.dumps(record.to_json()))) == record
    written = record.to_json()
    assert (
        written["score"] == 0.75
        and written["model_scores"] == {"m.pth": 0.75}
        and written["path"] == "/videos/a.mp4"
    )
    assert written["faces_found"] == 2 and written["frames_with_faces"] == 2 and "label" not in written
    path = tmp_path / "run.diagnostics.json"
    path.write_text(json.dumps(diagnostics_json({"strategy": "confident"}, {"a.mp4": record})))
    assert json.loads(path.read_text())["schema"] == SCHEMA_VERSION
    assert load_diagnostics(path) == ({"strategy": "confident"}, {"a.mp4": record})


def old_diagnostics(path, schema=None):
    """A diagnostics file as the unversioned format wrote it (or of another `schema`)."""
    record = {
        key: value
        for key, value in a_record().to_json().items()
        if key not in ("score", "model_scores", "path")
    }
    data = {
        "settings_key": "k",
        "videos": {"a.mp4": {**record, "label": 0.75, "model_labels": {"m.pth": 0.75}}},
    }
    path.write_text(json.dumps(data if schema is None else {"schema": schema, **data}))
    return path


@pytest.mark.parametrize(
    "schema, said",
    [(None, "has no schema version"), (SCHEMA_VERSION + 1, f"has schema version {SCHEMA_VERSION + 1}")],
)
def test_the_loader_refuses_another_version_in_one_line(tmp_path, schema, said):
    path = old_diagnostics(tmp_path / "old.diagnostics.json", schema)
    with pytest.raises(DiagnosticsError) as error:
        load_diagnostics(path)
    message = str(error.value)
    assert str(path) in message and said in message and f"reads schema version {SCHEMA_VERSION}" in message
    assert "rerun the scoring" in message and "\n" not in message


def assert_refused(done: subprocess.CompletedProcess, path) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert (
        lines[0].startswith("error: ")
        and str(path) in lines[0]
        and "has no schema version" in lines[0]
        and "rerun the scoring" in lines[0]
    )


def test_the_report_evaluate_and_a_merge_refuse_an_unversioned_file(tmp_path):
    diagnostics = old_diagnostics(tmp_path / "old.diagnostics.json")
    assert_refused(run_main("inference.report", diagnostics, "--out", tmp_path / "report"), diagnostics)
    assert not (tmp_path / "report" / "index.html").exists()
    (tmp_path / "old.csv").write_text("filename,label\na.mp4,0.750000\n")
    (tmp_path / "labels.csv").write_text("filename,label\na.mp4,1\n")
    assert_refused(
        run_main("evaluate", "--predictions", tmp_path / "old.csv", "--labels", tmp_path / "labels.csv"),
        diagnostics,
    )
    shard = old_diagnostics(tmp_path / "out.shard-0-of-1.diagnostics.json")
    (tmp_path / "out.shard-0-of-1.csv").write_text("filename,label\na.mp4,0.750000\n")
    assert_refused(run_main("predict_folder", "--merge", tmp_path / "out.csv"), shard)
    assert not (tmp_path / "out.csv").exists()


def test_a_rerun_scores_the_videos_of_another_version_afresh(tmp_path, caplog):
    output = tmp_path / "old.csv"
    old_diagnostics(tmp_path / "old.diagnostics.json")
    record = a_record()
    progress_path(output).write_text(
        json.dumps({"settings_key": "k", "result": record.to_json()})
        + "\n"  # a line without a version
        + json.dumps({"schema": SCHEMA_VERSION, "settings_key": "k", "result": record.to_json()})
        + "\n"
    )
    with caplog.at_level(logging.WARNING, logger="dfdc.predict"):
        finished = load_finished(output, "k")
    assert finished == {record.video_key: record}  # the line of this version only
    warnings = [entry.getMessage() for entry in caplog.records]
    assert len(warnings) == 1 and "has no schema version" in warnings[0] and "scored afresh" in warnings[0]
