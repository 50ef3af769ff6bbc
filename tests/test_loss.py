import numpy as np
import pytest
import torch
from torch.nn import functional as F

from sklearn_denoiseg._loss import DenoiSegLoss


def make_batch(seed=0, annotated=(True, False)):
    g = torch.Generator().manual_seed(seed)
    b = len(annotated)
    y_pred = torch.randn(b, 4, 8, 8, generator=g)
    classes = torch.randint(0, 3, (b, 8, 8), generator=g)
    for i, has_labels in enumerate(annotated):
        if not has_labels:
            classes[i] = -1
    target = {
        "original": torch.randn(b, 1, 8, 8, generator=g),
        "n2v_mask": torch.rand(b, 1, 8, 8, generator=g) < 0.2,
        "classes": classes,
    }
    return y_pred, target


def test_n2v_term_is_mean_squared_error_on_masked_pixels():
    y_pred, target = make_batch()
    mask = target["n2v_mask"]
    expected = ((y_pred[:, :1] - target["original"])[mask] ** 2).mean()
    loss = DenoiSegLoss(alpha=1.0)
    assert loss(y_pred, target).item() == pytest.approx(expected.item(), rel=1e-6)


def test_segmentation_term_weights_and_averages_over_all_pixels():
    y_pred, target = make_batch()
    weights = torch.tensor([1.0, 1.0, 5.0])
    per_pixel = F.cross_entropy(y_pred[:1, 1:], target["classes"][:1], reduction="none")
    expected = (per_pixel * weights[target["classes"][:1]]).sum() / (2 * 8 * 8)
    loss = DenoiSegLoss(alpha=0.0, class_weights=(1.0, 1.0, 5.0))
    assert loss(y_pred, target).item() == pytest.approx(expected.item(), rel=1e-6)


def test_unannotated_batch_has_zero_segmentation_loss():
    y_pred, target = make_batch(annotated=(False, False))
    n2v, seg = DenoiSegLoss().terms(y_pred, target)
    assert seg.item() == 0.0 and n2v.item() > 0


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_alpha_mixes_terms(alpha):
    y_pred, target = make_batch(seed=3)
    loss = DenoiSegLoss(alpha=alpha)
    n2v, seg = loss.terms(y_pred, target)
    assert loss(y_pred, target).item() == pytest.approx(
        alpha * n2v.item() + (1 - alpha) * seg.item(), rel=1e-6
    )


def test_gradients_reach_only_used_channels():
    y_pred, target = make_batch()
    y_pred.requires_grad_(True)
    DenoiSegLoss(alpha=1.0)(y_pred, target).backward()
    assert y_pred.grad[:, 1:].abs().sum() == 0
    assert np.count_nonzero(y_pred.grad[:, 0].numpy()) == target["n2v_mask"].sum()


def test_n2v_term_averages_over_the_blind_spots_of_every_channel():
    g = torch.Generator().manual_seed(0)
    y_pred = torch.randn(2, 2 + 3, 8, 8, generator=g)
    target = {"original": torch.randn(2, 2, 8, 8, generator=g),
              "n2v_mask": torch.rand(2, 2, 8, 8, generator=g) < 0.3,
              "classes": torch.full((2, 8, 8), -1)}
    mask = target["n2v_mask"]
    expected = ((y_pred[:, :2] - target["original"])[mask] ** 2).mean()
    assert DenoiSegLoss(alpha=1.0, n_channels=2)(y_pred, target).item() == pytest.approx(
        expected.item(), rel=1e-6)


def test_a_target_of_the_wrong_shape_is_refused():
    y_pred, target = make_batch()
    target["original"] = target["original"][:, 0]
    with pytest.raises(ValueError, match="target 'original' has shape"):
        DenoiSegLoss()(y_pred, target)
