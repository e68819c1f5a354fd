"""Labels read from FaceForensics++ and Celeb-DF v2 as they ship, and predictions matched to them by path, by
file name, or by the name the converter gave a FaceForensics++ fake."""

import json

import pytest

from evaluate import main
from evaluation.labels import EvaluationError, read_labels
from tests.conftest import DATA_DIR, REAL_VIDEOS, shared_video

FFPP_SCORES = {
    "004.mp4": 0.2,
    "519.mp4": 0.3,
    "634.mp4": 0.1,
    "519_515.mp4": 0.9,
    "634_660.mp4": 0.8,
    "004_982.mp4": 0.25,
    "750_743.mp4": 0.7,
}


def write_predictions(path, scores):
    path.write_text("filename,label\n" + "".join(f"{name},{score}\n" for name, score in scores.items()))
    return path


def touch(root, *relative):
    for name in relative:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")
    return root


def test_ffpp_labels_from_its_own_layout_with_a_per_method_breakdown(tmp_path, capsys):
    shared_video(REAL_VIDEOS["ffpp_original_004"])
    labels = read_labels(DATA_DIR / "ffpp")
    assert labels.labels["original_sequences/youtube/c23/videos/519.mp4"] == 0.0
    assert labels.labels["manipulated_sequences/Deepfakes/c23/videos/519_515.mp4"] == 1.0
    assert sorted(set(labels.groups.values())) == [
        "Deepfakes",
        "Face2Face",
        "FaceSwap",
        "NeuralTextures",
        "original",
    ]
    predictions = write_predictions(tmp_path / "ffpp.csv", FFPP_SCORES)
    assert main(["--predictions", str(predictions), "--labels", str(DATA_DIR / "ffpp"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["videos"], report["fakes"], report["reals"]) == (7, 4, 3)
    assert report["missing_predictions"] == [] and report["unlabelled_predictions"] == []
    per_method = report["per_source"]
    assert sorted(per_method) == ["Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "original"]
    # a method's fakes ranked against every original: NeuralTextures' 0.25 is above 0.2 and 0.1, under 0.3
    assert (
        per_method["NeuralTextures"]["auc"] == pytest.approx(2 / 3) and per_method["Deepfakes"]["auc"] == 1.0
    )
    assert per_method["original"]["reals"] == 3 and report["auc"] == pytest.approx(11 / 12)


def test_predictions_on_a_converted_folder_match_the_ffpp_labels(tmp_path, capsys):
    """preprocessing.convert_dataset renames FF++ fakes Deepfakes_519_515.mp4: scored there, they still find
    their labels."""
    from preprocessing.convert_dataset import main as convert

    shared_video(REAL_VIDEOS["ffpp_original_004"])
    assert convert(["ffpp", "--src", str(DATA_DIR / "ffpp"), "--root-dir", str(tmp_path / "root")]) == 0
    converted = sorted(path.name for path in (tmp_path / "root").glob("ffpp_*/*.mp4"))
    assert "Deepfakes_519_515.mp4" in converted and len(converted) == 7
    capsys.readouterr()  # the converter's summary
    # Deepfakes_519_515.mp4 scored as 519_515.mp4
    scores = {name: FFPP_SCORES[name.split("_", 1)[-1]] for name in converted}
    assert (
        main(
            [
                "--predictions",
                str(write_predictions(tmp_path / "converted.csv", scores)),
                "--labels",
                str(DATA_DIR / "ffpp"),
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert (
        report["videos"] == 7
        and report["unlabelled_predictions"] == []
        and report["auc"] == pytest.approx(11 / 12)
    )
    assert report["per_source"]["FaceSwap"]["fakes"] == 1


def test_clashing_ffpp_names_match_by_relative_path_and_are_never_guessed(tmp_path, capsys):
    """The same pair manipulated by two methods, at two compressions: a bare 519_515.mp4 could be either
    method, so it is left out with the reason; a relative path (from the dataset root or from a folder inside
    it) decides."""
    root = touch(
        tmp_path / "ffpp",
        *(f"original_sequences/youtube/{c}/videos/519.mp4" for c in ("c23", "c40")),
        *(f"manipulated_sequences/{m}/c23/videos/519_515.mp4" for m in ("Deepfakes", "FaceSwap")),
        "manipulated_sequences/Deepfakes/c23/videos/004_982.mp4",
        "manipulated_sequences/Deepfakes/masks/videos/519_515.mp4",
    )
    labels = read_labels(root)
    assert len(labels.labels) == 5  # the mask video is not a video to score
    # NeuralTextures' 004_982.mp4 is not Deepfakes' one of the same name: its path says so, and it stays
    # unlabelled
    matched, problems = labels.match(
        [
            "519.mp4",
            "519_515.mp4",
            "manipulated_sequences/Deepfakes/c23/videos/519_515.mp4",
            "FaceSwap/c23/videos/519_515.mp4",
            "other.mp4",
            "NeuralTextures/c23/videos/004_982.mp4",
        ]
    )
    # 519.mp4 is one original at two compressions: same label, same group
    assert matched == {
        "519.mp4": "original_sequences/youtube/c23/videos/519.mp4",
        "manipulated_sequences/Deepfakes/c23/videos/519_515.mp4": (
            "manipulated_sequences/Deepfakes/c23/videos/519_515.mp4"
        ),
        "FaceSwap/c23/videos/519_515.mp4": "manipulated_sequences/FaceSwap/c23/videos/519_515.mp4",
    }
    assert list(problems) == ["519_515.mp4"] and problems["519_515.mp4"].startswith(
        "matches 2 labelled videos"
    )
    scores = {
        "519.mp4": 0.2,
        "519_515.mp4": 0.5,
        "manipulated_sequences/Deepfakes/c23/videos/519_515.mp4": 0.9,
    }
    assert (
        main(["--predictions", str(write_predictions(tmp_path / "p.csv", scores)), "--labels", str(root)])
        == 0
    )
    out = capsys.readouterr().out
    assert "videos 2 (fakes 1, reals 1)" in out and "left out: 519_515.mp4 matches 2 labelled videos" in out


CELEBDF_LIST = (
    "1 YouTube-real/00170.mp4\n0 Celeb-synthesis/id0_id1_0000.mp4\n1 Celeb-real/id0_0001.mp4\n"
    "0 Celeb-synthesis/id1_id0_0002.mp4\n"
)


def test_celebdf_test_list_labels_are_flipped_to_this_projects_and_grouped_by_subset(tmp_path, capsys):
    (tmp_path / "Celeb-DF-v2").mkdir()
    (tmp_path / "Celeb-DF-v2" / "List_of_testing_videos.txt").write_text(CELEBDF_LIST)
    labels = read_labels(tmp_path / "Celeb-DF-v2")
    assert labels.labels == {
        "YouTube-real/00170.mp4": 0.0,
        "Celeb-synthesis/id0_id1_0000.mp4": 1.0,
        "Celeb-real/id0_0001.mp4": 0.0,
        "Celeb-synthesis/id1_id0_0002.mp4": 1.0,
    }
    scores = {
        "00170.mp4": 0.1,
        "id0_id1_0000.mp4": 0.8,
        "id0_0001.mp4": 0.6,
        "id1_id0_0002.mp4": 0.4,
        "extra.mp4": 0.5,
    }
    predictions = write_predictions(tmp_path / "celebdf.csv", scores)
    for labels_path in (tmp_path / "Celeb-DF-v2", tmp_path / "Celeb-DF-v2" / "List_of_testing_videos.txt"):
        assert main(["--predictions", str(predictions), "--labels", str(labels_path), "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert (report["videos"], report["fakes"], report["reals"]) == (4, 2, 2) and report[
            "unlabelled_predictions"
        ] == ["extra.mp4"]
        assert sorted(report["per_source"]) == ["Celeb-real", "Celeb-synthesis", "YouTube-real"]
        assert report["auc"] == pytest.approx(0.75) and report["per_source"]["Celeb-synthesis"][
            "auc"
        ] == pytest.approx(0.75)


def test_a_bad_celebdf_line_is_a_one_line_error_naming_it(tmp_path, capsys):
    listing = tmp_path / "List_of_testing_videos.txt"
    listing.write_text("1 YouTube-real/00170.mp4\nREAL Celeb-real/id0_0001.mp4\n")
    with pytest.raises(EvaluationError, match=r"List_of_testing_videos.txt:2: expected"):
        read_labels(listing)
    assert (
        main(
            [
                "--predictions",
                str(write_predictions(tmp_path / "p.csv", {"00170.mp4": 0.1})),
                "--labels",
                str(listing),
            ]
        )
        == 2
    )
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and error.startswith("error: ") and ":2: expected" in error
