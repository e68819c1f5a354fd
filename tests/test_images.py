import cv2
import numpy as np
import torch

from core.images import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    face_to_model_input,
    isotropically_resize_image,
    normalize_batch,
    put_to_center,
)


def test_downscale_keeps_aspect_and_uses_area():
    image = np.random.default_rng(0).integers(0, 255, (200, 100, 3), dtype=np.uint8)
    resized = isotropically_resize_image(image, 50)
    assert resized.shape == (50, 25, 3)
    assert np.array_equal(resized, cv2.resize(image, (25, 50), interpolation=cv2.INTER_AREA))


def test_upscale_uses_cubic_and_truncates_the_short_side():
    image = np.random.default_rng(1).integers(0, 255, (30, 47, 3), dtype=np.uint8)
    resized = isotropically_resize_image(image, 380)
    # 30 * 380 / 47 = 242.55 -> 242, as the original's cv2.resize(img, (int(w), int(h)))
    assert resized.shape == (242, 380, 3)
    assert np.array_equal(resized, cv2.resize(image, (380, 242), interpolation=cv2.INTER_CUBIC))
    # 121 * 380 / 170 = 270.47 -> 270; a square goes by its height
    tall = np.zeros((170, 121, 3), dtype=np.uint8)
    assert isotropically_resize_image(tall, 380).shape == (380, 270, 3)
    assert isotropically_resize_image(np.zeros((99, 99, 3), np.uint8), 380).shape == (380, 380, 3)


def test_image_of_the_right_size_is_untouched():
    image = np.zeros((380, 200, 3), dtype=np.uint8)
    assert isotropically_resize_image(image, 380) is image


def test_put_to_center_pads_with_zeros_around_the_middle():
    image = np.full((4, 2, 3), 7, dtype=np.uint8)
    square = put_to_center(image, 6)
    assert square.shape == (6, 6, 3)
    # top = (6 - 4) // 2 = 1, left = (6 - 2) // 2 = 2
    assert (square[1:5, 2:4] == 7).all()
    square[1:5, 2:4] = 0
    assert not square.any()


def test_face_to_model_input_is_square():
    face = np.full((120, 90, 3), 200, dtype=np.uint8)
    square = face_to_model_input(face, 380)
    assert square.shape == (380, 380, 3)
    # 90 * 380 / 120 = 285 wide, padded (380 - 285) // 2 = 47 on the left
    assert (square[:, 47:332] == 200).all() and not square[:, :47].any() and not square[:, 332:].any()


def test_normalize_batch_applies_imagenet_statistics():
    images = np.zeros((2, 3, 3, 3), dtype=np.uint8)
    images[1] = 255
    batch = normalize_batch(images)
    assert batch.shape == (2, 3, 3, 3) and batch.dtype == torch.float32
    assert batch.is_contiguous(memory_format=torch.channels_last)
    for channel in range(3):
        expected_black = -IMAGENET_MEAN[channel] / IMAGENET_STD[channel]
        expected_white = (1 - IMAGENET_MEAN[channel]) / IMAGENET_STD[channel]
        assert torch.allclose(batch[0, channel], torch.full((3, 3), expected_black), atol=1e-5)
        assert torch.allclose(batch[1, channel], torch.full((3, 3), expected_white), atol=1e-5)
