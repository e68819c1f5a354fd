import json

import cv2
import numpy as np
import pandas as pd

from preprocessing import generate_folds
from preprocessing.convert_dataset import main as convert_main
from preprocessing.dataset import load_dataset
from preprocessing.generate_folds import assign_fold


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"video")
    return path


def test_celebdf_layout_becomes_dfdc_parts(tmp_path):
    src = tmp_path / "Celeb-DF-v2"
    touch(src / "Celeb-real" / "id0_0000.mp4")
    touch(src / "Celeb-real" / "id1_0003.mp4")
    touch(src / "YouTube-real" / "00017.mp4")
    touch(src / "Celeb-synthesis" / "id0_id1_0000.mp4")
    touch(src / "Celeb-synthesis" / "id1_id0_0003.mp4")
    root = tmp_path / "root"
    assert convert_main(["celebdf", "--src", str(src), "--root-dir", str(root)]) == 0
    synthesis = json.loads((root / "celebdf_synthesis" / "metadata.json").read_text())
    assert synthesis["id0_id1_0000.mp4"] == {"label": "FAKE", "split": "train", "original": "id0_0000.mp4"}
    assert synthesis["id1_id0_0003.mp4"]["original"] == "id1_0003.mp4"
    dataset = load_dataset(root)
    assert {v.video_id for v in dataset.reals} == {"id0_0000", "id1_0003", "00017"}
    fake = dataset.videos["id0_id1_0000"]
    assert (root / "celebdf_synthesis" / "id0_id1_0000.mp4").resolve() == (
        src / "Celeb-synthesis" / "id0_id1_0000.mp4"
    ).resolve()
    # no part number: the fake is grouped with its original
    assert assign_fold(dataset, fake, 16) == assign_fold(dataset, dataset.videos["id0_0000"], 16)
    assert not dataset.problems


def test_ffpp_names_fakes_by_method_and_rerun_is_stable(tmp_path):
    src = tmp_path / "ffpp"
    touch(src / "original_sequences" / "youtube" / "c23" / "videos" / "519.mp4")
    for method in ("Deepfakes", "FaceSwap"):
        touch(src / "manipulated_sequences" / method / "c23" / "videos" / "519_515.mp4")
    # other quality: ignored
    touch(src / "manipulated_sequences" / "Deepfakes" / "c40" / "videos" / "519_515.mp4")
    root = tmp_path / "root"
    for _ in range(2):
        assert convert_main(["ffpp", "--src", str(src), "--root-dir", str(root), "--copy"]) == 0
    dataset = load_dataset(root)
    assert sorted(dataset.videos) == ["519", "Deepfakes_519_515", "FaceSwap_519_515"]
    assert dataset.videos["FaceSwap_519_515"].original == "519" and dataset.videos["519"].label == 0


def test_missing_source_is_a_one_line_error(tmp_path, capsys):
    assert convert_main(["ffpp", "--src", str(tmp_path / "none"), "--root-dir", str(tmp_path / "root")]) == 2
    assert capsys.readouterr().err.startswith("error: source folder not found")


def test_celebdf_official_test_videos_are_marked_and_kept_out_of_the_folds(tmp_path, capsys):
    src = tmp_path / "Celeb-DF-v2"
    videos = [
        "Celeb-real/id0_0000.mp4",
        "Celeb-real/id1_0003.mp4",
        "YouTube-real/00017.mp4",
        "Celeb-synthesis/id0_id1_0000.mp4",
        "Celeb-synthesis/id1_id0_0003.mp4",
    ]
    for video in videos:
        touch(src / video)
    # as the dataset ships it: "<1 real | 0 fake> <folder>/<name>", one listed video absent here
    (src / "List_of_testing_videos.txt").write_text(
        "1 YouTube-real/00017.mp4\n0 Celeb-synthesis/id1_id0_0003.mp4\n1 Celeb-real/id9_0009.mp4\n"
    )
    root = tmp_path / "root"
    assert convert_main(["celebdf", "--src", str(src), "--root-dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert '2 of the 3 videos in List_of_testing_videos.txt marked split "test"' in out
    splits = {video_id: entry.split for video_id, entry in load_dataset(root).videos.items()}
    assert splits == {
        "id0_0000": "train",
        "id1_0003": "train",
        "00017": "test",
        "id0_id1_0000": "train",
        "id1_id0_0003": "test",
    }
    for video_id in splits:
        (root / "crops" / video_id).mkdir(parents=True)
        cv2.imwrite(str(root / "crops" / video_id / "0_0.png"), np.zeros((8, 8, 3), np.uint8))

    def folded_videos(*options):
        assert generate_folds.main(["--root-dir", str(root), "--all-crops", *options]) == 0
        return set(pd.read_csv(root / "folds.csv", dtype={"video": str})["video"])

    assert folded_videos() == {"id0_0000", "id1_0003", "id0_id1_0000"}
    assert '2 videos of the "test" split left out' in capsys.readouterr().out
    assert (
        json.loads((root / "reports" / "generate_folds.json").read_text())["test_split_videos_left_out"] == 2
    )
    assert folded_videos("--include-test-split") == set(splits)


def test_celebdf_without_its_test_list_says_every_video_is_train(tmp_path, capsys):
    src = tmp_path / "Celeb-DF-v2"
    touch(src / "Celeb-real" / "id0_0000.mp4")
    assert convert_main(["celebdf", "--src", str(src), "--root-dir", str(tmp_path / "root")]) == 0
    listing = src / "List_of_testing_videos.txt"
    assert (
        f"note: no test split list ({listing}): every video is marked split train" in capsys.readouterr().out
    )
    assert {entry.split for entry in load_dataset(tmp_path / "root").videos.values()} == {"train"}


def test_ffpp_test_pairs_mark_both_originals_and_every_fake_of_either(tmp_path, capsys):
    src = tmp_path / "ffpp"
    for video in ("000", "003", "519", "515"):
        touch(src / "original_sequences" / "youtube" / "c23" / "videos" / f"{video}.mp4")
    for method in ("Deepfakes", "FaceSwap"):
        for pair in ("000_003", "003_000", "519_515"):
            touch(src / "manipulated_sequences" / method / "c23" / "videos" / f"{pair}.mp4")
    # the FaceForensics repository's dataset/splits/test.json holds such pairs of ids
    pairs = tmp_path / "test.json"
    pairs.write_text('[["000", "003"], ["953", "974"]]')
    root = tmp_path / "root"
    assert convert_main(["ffpp", "--src", str(src), "--root-dir", str(root), "--test-split", str(pairs)]) == 0
    assert (
        '6 videos (test.json\'s 4 originals and their fakes) marked split "test"' in capsys.readouterr().out
    )
    test = {video_id for video_id, entry in load_dataset(root).videos.items() if entry.split == "test"}
    assert test == {
        "000",
        "003",
        "Deepfakes_000_003",
        "Deepfakes_003_000",
        "FaceSwap_000_003",
        "FaceSwap_003_000",
    }


def test_a_test_split_list_that_cannot_be_read_is_a_one_line_error(tmp_path, capsys):
    src = tmp_path / "ffpp"
    touch(src / "original_sequences" / "youtube" / "c23" / "videos" / "000.mp4")
    root = tmp_path / "root"
    missing = tmp_path / "none.json"
    assert (
        convert_main(["ffpp", "--src", str(src), "--root-dir", str(root), "--test-split", str(missing)]) == 2
    )
    assert capsys.readouterr().err == f"error: test split list not found: {missing}\n"
    broken = tmp_path / "test.json"
    broken.write_text("[[")
    assert (
        convert_main(["ffpp", "--src", str(src), "--root-dir", str(root), "--test-split", str(broken)]) == 2
    )
    assert capsys.readouterr().err.startswith(f"error: cannot read the test split list {broken}: ")
    assert not root.exists()  # nothing laid out under a list that could not be read
