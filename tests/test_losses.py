import math

import pytest
import torch

from training.losses import fake_real_bce


def bce(p, y):
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


def test_fake_and_real_losses_are_averaged_with_equal_weight():
    probabilities = [0.9, 0.6, 0.2, 0.3, 0.1]
    labels = [1.0, 1.0, 0.0, 0.0, 0.0]
    logits = torch.logit(torch.tensor(probabilities))
    loss, fake_loss, real_loss = fake_real_bce(logits, torch.tensor(labels))
    expected_fake = (bce(0.9, 1) + bce(0.6, 1)) / 2
    expected_real = (bce(0.2, 0) + bce(0.3, 0) + bce(0.1, 0)) / 3
    assert fake_loss.item() == pytest.approx(expected_fake, rel=1e-5)
    assert real_loss.item() == pytest.approx(expected_real, rel=1e-5)
    assert loss.item() == pytest.approx((expected_fake + expected_real) / 2, rel=1e-5)


def test_smoothed_labels_and_single_class_batches():
    """As the original: loss = (fake_loss + real_loss) / 2 with an absent class counting 0, so a one-class
    batch weighs half."""
    logits = torch.logit(torch.tensor([0.7, 0.8]))
    loss, fake_loss, real_loss = fake_real_bce(logits, torch.tensor([0.99, 0.99]))
    expected = (bce(0.7, 0.99) + bce(0.8, 0.99)) / 2
    assert real_loss is None and fake_loss.item() == pytest.approx(expected, rel=1e-5)
    assert loss.item() == pytest.approx(expected / 2, rel=1e-5)


def test_gradient_flows():
    logits = torch.zeros(4, requires_grad=True)
    fake_real_bce(logits, torch.tensor([1.0, 0.0, 0.0, 0.0]))[0].backward()
    # the lone fake weighs as much as the three reals together
    assert logits.grad[0].item() == pytest.approx(-0.25) and logits.grad[1].item() == pytest.approx(0.5 / 6)
