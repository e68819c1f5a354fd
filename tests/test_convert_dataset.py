import json

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
