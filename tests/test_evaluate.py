import json
import math
from pathlib import Path

import numpy as np
import pytest

from core.metrics import average_precision, roc_auc
from evaluate import evaluate, main
from inference.results import VideoResult
from tests.commands import run_main

LABELS = {"a.mp4": 1.0, "b.mp4": 1.0, "c.mp4": 0.0, "d.mp4": 0.0}


def test_perfect_predictions():
    report = evaluate({"a.mp4": 1.0, "b.mp4": 1.0, "c.mp4": 0.0, "d.mp4": 0.0}, LABELS)
    assert report["log_loss"] == pytest.approx(-math.log(1 - 1e-15), abs=1e-12)  # clipped, not exactly 0
    assert report["auc"] == 1.0 and report["average_precision"] == 1.0 and report["accuracy"] == 1.0


def test_inverted_predictions_hit_the_clipping_bound():
    report = evaluate({"a.mp4": 0.0, "b.mp4": 0.0, "c.mp4": 1.0, "d.mp4": 1.0}, LABELS)
    # 1 - 1e-15 rounds to the nearest double, so the bound is ln(1e-15) to four digits: 34.54
    assert report["log_loss"] == pytest.approx(-math.log(1e-15), rel=1e-4)
    assert report["auc"] == 0.0 and report["accuracy"] == 0.0


def test_constant_one_half_is_ln_2():
    report = evaluate(dict.fromkeys(LABELS, 0.5), LABELS)
    assert report["log_loss"] == pytest.approx(math.log(2))
    assert report["balanced_log_loss"] == pytest.approx(math.log(2)) and report["auc"] == 0.5


def test_hand_computed_mixture():
    predictions = {"a.mp4": 0.9, "b.mp4": 0.4, "c.mp4": 0.3, "d.mp4": 0.6}
    report = evaluate(predictions, LABELS)
    fake = -(math.log(0.9) + math.log(0.4)) / 2
    real = -(math.log(0.7) + math.log(0.4)) / 2
    assert report["fake_log_loss"] == pytest.approx(fake) and report["real_log_loss"] == pytest.approx(real)
    # two of each: the plain mean equals the balanced one
    assert report["log_loss"] == pytest.approx((fake + real) / 2)
    assert report["auc"] == pytest.approx(0.75)  # 3 of 4 fake/real pairs ordered right
    assert report["average_precision"] == pytest.approx((1 + 2 / 3) / 2)  # ranks: a(F) d(R) b(F) c(R)
    assert report["accuracy"] == pytest.approx(0.5)


def test_ties_and_helpers():
    assert roc_auc(np.array([1, 0]), np.array([0.5, 0.5])) == 0.5
    assert math.isnan(average_precision(np.array([0, 0]), np.array([0.1, 0.2])))  # no fake: undefined


def test_command_reports_missing_videos_and_writes_json_and_roc(tmp_path, capsys):
    predictions = tmp_path / "out.csv"
    predictions.write_text("filename,label\na.mp4,0.8\nc.mp4,0.3\nextra.mp4,0.5\n")
    labels = tmp_path / "labels.csv"
    labels.write_text("filename,label\na.mp4,1\nb.mp4,1\nc.mp4,0\n")
    assert (
        main(
            [
                "--predictions",
                str(predictions),
                "--labels",
                str(labels),
                "--json",
                "--output",
                str(tmp_path / "report.json"),
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert json.loads((tmp_path / "report.json").read_text()) == report
    assert (
        report["videos"] == 2
        and report["missing_predictions"] == ["b.mp4"]
        and report["unlabelled_predictions"] == ["extra.mp4"]
    )
    assert (tmp_path / "out.roc.png").read_bytes()[:4] == b"\x89PNG"


def test_labels_from_a_data_root(tmp_path):
    part = tmp_path / "root" / "dfdc_train_part_3"
    part.mkdir(parents=True)
    for name in ("x.mp4", "y.mp4"):
        (part / name).write_bytes(b"v")
    (part / "metadata.json").write_text(
        json.dumps(
            {"x.mp4": {"label": "FAKE", "original": "y.mp4"}, "y.mp4": {"label": "REAL", "original": None}}
        )
    )
    predictions = tmp_path / "p.csv"
    predictions.write_text("filename,label\nx.mp4,0.7\ny.mp4,0.2\n")
    done = run_main("evaluate", "--predictions", predictions, "--labels", tmp_path / "root")
    assert done.returncode == 0, done.stderr
    assert "auc                1.0000" in done.stdout and "videos 2 (fakes 1, reals 1)" in done.stdout


def test_bad_input_is_a_one_line_error(tmp_path, capsys):
    assert main(["--predictions", str(tmp_path / "none.csv"), "--labels", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: predictions not found")


@pytest.mark.parametrize(
    "which, content, message",
    [
        ("labels", "filename,label\na.mp4,1\nb.mp4\n", "labels.csv:3: 1 fields where the header has 2"),
        ("labels", "filename,label\na.mp4,1\nc.mp4,0\na.mp4,1\n", "labels.csv:4: 'a.mp4' appears twice"),
        ("labels", "filename,label\na.mp4,2\n", "labels.csv:2: label '2' is none of 0, 1, REAL, FAKE"),
        ("labels", "filename,label\na.mp4,maybe\n", "labels.csv:2: label 'maybe' is none of"),
        ("predictions", "filename,label\na.mp4,1.5\n", "p.csv:2: prediction '1.5' is outside [0, 1]"),
        ("predictions", "filename,label\na.mp4,nan\n", "p.csv:2: prediction 'nan' is outside [0, 1]"),
        ("predictions", "filename,label\na.mp4,high\n", "p.csv:2: prediction 'high' is not a number"),
        ("predictions", "filename,label\na.mp4,0.1\na.mp4,0.2\n", "p.csv:3: 'a.mp4' appears twice"),
    ],
)
def test_bad_rows_are_one_line_errors_naming_the_line(tmp_path, capsys, which, content, message):
    files = {"predictions": tmp_path / "p.csv", "labels": tmp_path / "labels.csv"}
    files["predictions"].write_text("filename,label\na.mp4,0.8\nc.mp4,0.3\n")
    files["labels"].write_text("filename,label\na.mp4,FAKE\nc.mp4,real\n")
    files[which].write_text(content)
    assert main(["--predictions", str(files["predictions"]), "--labels", str(files["labels"])]) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and error.startswith("error: ") and message in error


def test_equal_error_rate_and_balanced_accuracy_by_hand():
    from core.metrics import balanced_accuracy, equal_error_rate

    y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    # one fake below every real and one real above every fake: at the middle threshold one of each is wrong
    p = np.array([0.9, 0.8, 0.7, 0.2, 0.95, 0.3, 0.1, 0.05])
    assert equal_error_rate(y, p) == pytest.approx(0.25)
    assert equal_error_rate(np.array([1, 0]), np.array([0.9, 0.1])) == 0.0
    assert equal_error_rate(np.array([1, 0]), np.array([0.1, 0.9])) == 1.0
    assert balanced_accuracy(y, p) == pytest.approx((3 / 4 + 3 / 4) / 2)
    assert balanced_accuracy(np.array([1, 1, 1, 0]), np.array([0.9, 0.9, 0.9, 0.1])) == 1.0
    report = evaluate({"a.mp4": 0.9, "b.mp4": 0.4, "c.mp4": 0.3, "d.mp4": 0.6}, LABELS)
    assert report["eer"] == pytest.approx(0.5) and report["balanced_accuracy"] == pytest.approx(0.5)


def test_per_source_breakdown_and_face_auc(tmp_path, capsys):
    predictions = {"f1.mp4": 0.9, "f2.mp4": 0.4, "r1.mp4": 0.2, "r2.mp4": 0.6, "n1.mp4": 0.8}
    labels = {"f1.mp4": 1.0, "f2.mp4": 1.0, "r1.mp4": 0.0, "r2.mp4": 0.0, "n1.mp4": 1.0}
    sources = {
        "f1.mp4": "dfdc_train_part_3",
        "f2.mp4": "dfdc_train_part_3",
        "r1.mp4": "dfdc_train_part_3",
        "r2.mp4": "dfdc_train_part_3",
        "n1.mp4": "NeuralTextures",
    }
    diagnostics = {
        "f1.mp4": VideoResult(0.8, scores={"m1": [0.9, 0.7], "m2": [0.7, 0.9]}),
        "r1.mp4": VideoResult(0.5, scores={"m1": [0.1, 0.85], "m2": [0.3, 0.75]}),
        "x.mp4": VideoResult(0.5, scores={"m1": [0.5]}),
    }
    report = evaluate(predictions, labels, sources, diagnostics)
    part = report["per_source"]["dfdc_train_part_3"]
    assert (part["videos"], part["fakes"], part["reals"], part["auc"]) == (4, 2, 2, 0.75)
    neural = report["per_source"]["NeuralTextures"]
    # 0.8 above both reals
    assert neural["reals"] == 0 and neural["auc"] == 1.0 and neural["auc_against"] == "all reals"
    # faces: fakes 0.8, 0.8; reals 0.2, 0.8 -> pairs (fake > real): 2 wins, 2 ties -> 0.75
    assert report["faces"] == 4 and report["face_auc"] == pytest.approx(0.75)

    prediction_file = tmp_path / "p.csv"
    prediction_file.write_text(
        "filename,label\n" + "".join(f"{name},{value}\n" for name, value in predictions.items())
    )
    label_file = tmp_path / "labels.csv"
    label_file.write_text(
        "filename,label,source\n"
        + "".join(f"{name},{int(labels[name])},{sources[name]}\n" for name in labels)
    )
    assert main(["--predictions", str(prediction_file), "--labels", str(label_file)]) == 0
    printed = capsys.readouterr().out
    assert (
        "NeuralTextures" in printed
        and "dfdc_train_part_3" in printed
        and "eer" in printed
        and "balanced_accuracy" in printed
    )


def test_sources_from_the_paths_a_run_recorded():
    from evaluate import source_folder

    assert source_folder(Path("/d/ffpp/manipulated_sequences/FaceSwap/c23/videos/634_660.mp4")) == "FaceSwap"
    assert source_folder(Path("/d/ffpp/original_sequences/youtube/c23/videos/634.mp4")) == "original"
    assert source_folder(Path("/d/Celeb-DF-v2/Celeb-synthesis/id0_id1_0000.mp4")) == "Celeb-synthesis"
    assert source_folder(Path("/d/dfdc_train_part_10/widuwuoiur.mp4")) == "dfdc_train_part_10"
