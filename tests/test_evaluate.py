import json
import math
import subprocess
import sys

import numpy as np
import pytest

from core.metrics import average_precision, roc_auc
from evaluate import evaluate, main
from tests.conftest import REPO

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
    assert report["log_loss"] == pytest.approx((fake + real) / 2)  # two of each: the plain mean equals the balanced one
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
    assert main(["--predictions", str(predictions), "--labels", str(labels), "--json", "--output", str(tmp_path / "report.json")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert json.loads((tmp_path / "report.json").read_text()) == report
    assert report["videos"] == 2 and report["missing_predictions"] == ["b.mp4"] and report["unlabelled_predictions"] == ["extra.mp4"]
    assert (tmp_path / "out.roc.png").read_bytes()[:4] == b"\x89PNG"


def test_labels_from_a_data_root(tmp_path):
    part = tmp_path / "root" / "dfdc_train_part_3"
    part.mkdir(parents=True)
    for name in ("x.mp4", "y.mp4"):
        (part / name).write_bytes(b"v")
    (part / "metadata.json").write_text(json.dumps({"x.mp4": {"label": "FAKE", "original": "y.mp4"}, "y.mp4": {"label": "REAL", "original": None}}))
    predictions = tmp_path / "p.csv"
    predictions.write_text("filename,label\nx.mp4,0.7\ny.mp4,0.2\n")
    done = subprocess.run([sys.executable, "evaluate.py", "--predictions", str(predictions), "--labels", str(tmp_path / "root")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "auc                1.0000" in done.stdout and "videos 2 (fakes 1, reals 1)" in done.stdout


def test_bad_input_is_a_one_line_error(tmp_path, capsys):
    assert main(["--predictions", str(tmp_path / "none.csv"), "--labels", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: predictions not found")
