import subprocess

import pytest
import torch

import kernel_utils
from tests.conftest import REPO, shared_video


def test_predict_on_video_set_keeps_the_order_and_falls_back(tmp_path, small_checkpoint):
    device = torch.device("cpu")
    models = {"b0": kernel_utils.load_classifier(small_checkpoint, device)}
    predictor = kernel_utils.VideoPredictor(models, kernel_utils.FaceDetector(device), device, num_frames=4, input_size=128)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    labels = kernel_utils.predict_on_video_set(predictor, [shared_video("ffpp/original_sequences/youtube/c23/videos/634.mp4"), empty])
    assert len(labels) == 2 and 0 <= labels[0] <= 1 and labels[1] == kernel_utils.NEUTRAL_LABEL
    assert labels[0] != kernel_utils.NEUTRAL_LABEL


def test_predict_submission_needs_two_arguments():
    done = subprocess.run(["bash", "predict_submission.sh", "only_one"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2 and "usage:" in done.stderr


@pytest.mark.skipif(not (REPO / ".venv" / "bin" / "python").exists(), reason="predict_submission.sh uses the repo's .venv")
def test_predict_submission_names_the_missing_weights(tmp_path):
    done = subprocess.run(["bash", "predict_submission.sh", str(tmp_path), str(tmp_path / "out.csv"), "--weights-dir", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2
    assert "weights file not found" in done.stderr and "final_111_DeepFakeClassifier_tf_efficientnet_b7_ns_0_36" in done.stderr
