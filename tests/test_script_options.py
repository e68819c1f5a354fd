"""The options of predict_folder.py and evaluate_robustness.py as a reader scans them: groups, one default
each, the required ones said to be required, an example; the model options the same in both, --encoder
included."""

import re
import shutil

import pytest

import evaluate_robustness
import predict_folder

GROUPS = [
    "inputs and outputs",
    "scoring",
    "runtime (where and how fast; the scores do not change)",
    "report",
    "many machines",
]


def help_text(main, capsys) -> str:
    with pytest.raises(SystemExit):
        main(["--help"])
    return capsys.readouterr().out


def option_helps(text: str) -> dict[str, str]:
    """Each option's help, its wrapped lines joined, by its first flag."""
    helps: dict[str, str] = {}
    flag = None
    for line in text.splitlines():
        match = re.match(r"^  (--[\w-]+)", line)
        if match:
            flag = match.group(1)
            helps[flag] = line.split("  ", 2)[-1].strip() if re.match(r"^  --\S+(?: \S+)*  +\S", line) else ""
        elif flag and line.startswith(" " * 24):
            helps[flag] = f"{helps[flag]} {line.strip()}".strip()
        elif not line.strip() or not line.startswith(" "):
            flag = None
    return helps


def test_predict_folder_help_groups_its_options_and_says_each_default_once(capsys):
    text = help_text(predict_folder.main, capsys)
    assert re.match(
        r"usage: \S+ --models NAME \[NAME \.\.\.\] --test-dir PATH \[PATH \.\.\.\] \[options\]\n", text
    )
    assert [line[:-1] for line in text.splitlines() if line.endswith(":") and not line.startswith(" ")][
        1:-1
    ] == GROUPS
    assert "default: None" not in text
    helps = option_helps(text)
    assert len(helps) >= 25
    for flag, help_ in helps.items():
        assert help_.count("default") <= 1, flag
    assert helps["--models"].startswith("required: ") and helps["--test-dir"].startswith("required: ")
    assert "python -m inference.released_weights --names" in helps["--models"]
    assert helps["--frames"].endswith("(default: 32)") and helps["--jitter"].endswith("(default: 0)")
    assert (
        "examples:" in text
        and "python predict_folder.py --models $(python -m inference.released_weights --names)" in text
    )


def test_predict_folder_without_models_names_what_is_missing_and_how_to_list_the_released_ones(
    tmp_path, capsys
):
    with pytest.raises(SystemExit) as exit_:
        predict_folder.main(["--test-dir", str(tmp_path)])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (
        "error: the following arguments are required: --models (the released model names: "
        "python -m inference.released_weights --names) (see --help)\n"
    )


def test_both_scripts_build_the_same_model_options(capsys):
    scoring, robustness = (
        option_helps(help_text(predict_folder.main, capsys)),
        option_helps(help_text(evaluate_robustness.main, capsys)),
    )
    for flag in ("--weights-dir", "--models", "--network", "--encoder", "--frames", "--device", "--backend"):
        assert scoring[flag] == robustness[flag], flag


def test_evaluate_robustness_reads_a_freely_named_checkpoint_with_encoder(
    tmp_path, small_checkpoint, faceless_video, capsys
):
    """A B0 saved as my_model.pth is refused as the B7 the name leaves to be assumed, and read with
    --encoder."""
    weights = tmp_path / "weights"
    weights.mkdir()
    shutil.copy(small_checkpoint, weights / "my_model.pth")
    labels = tmp_path / "labels.csv"
    labels.write_text(f"filename,label\n{faceless_video.name},0\n")
    common = [
        "--weights-dir",
        str(weights),
        "--models",
        "my_model.pth",
        "--test-dir",
        str(faceless_video),
        "--labels",
        str(labels),
        "--perturbations",
        "gaussian_blur",
        "--levels",
        "1",
        "--frames",
        "2",
        "--device",
        "cpu",
        "--backend",
        "torch",
    ]
    assert evaluate_robustness.main([*common, "--out", str(tmp_path / "refused")]) == 2
    assert "my_model.pth does not match DeepFakeClassifier" in capsys.readouterr().err
    assert (
        evaluate_robustness.main(
            [*common, "--out", str(tmp_path / "out"), "--encoder", "tf_efficientnet_b0_ns"]
        )
        == 0
    )
    assert (tmp_path / "out" / "robustness.csv").is_file()
