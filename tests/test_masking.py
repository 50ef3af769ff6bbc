import numpy as np
import pytest

from sklearn_denoiseg._masking import box_side, n2v_mask


def test_box_side_of_default_fraction():
    assert box_side(1.5) == 8


@pytest.mark.parametrize("size", [64, 61])
def test_one_pixel_per_box(size):
    rng = np.random.default_rng(0)
    patches = rng.normal(size=(5, size, size)).astype(np.float32)
    masked, mask = n2v_mask(patches, perc_pix=1.5, radius=5, rng=rng)
    boxes = mask[:, : size // 8 * 8, : size // 8 * 8].reshape(5, size // 8, 8, size // 8, 8)
    assert (boxes.sum(axis=(2, 4)) == 1).all()
    assert mask.sum() == 5 * int(np.ceil(size / 8)) ** 2
    if size == 64:
        assert mask.mean() == pytest.approx(0.015625)


def test_replacement_from_window_of_unmasked_patch():
    rng = np.random.default_rng(1)
    # every pixel a unique value encoding its position
    patches = np.arange(30 * 40 * 40, dtype=np.float32).reshape(30, 40, 40)
    original = patches.copy()
    masked, mask = n2v_mask(patches, perc_pix=1.5, radius=5, rng=rng)
    np.testing.assert_array_equal(patches, original)             # input untouched
    np.testing.assert_array_equal(masked[~mask], original[~mask])
    b, y, x = np.nonzero(mask)
    source = masked[b, y, x].astype(int)
    sb, rest = np.divmod(source, 40 * 40)
    sy, sx = np.divmod(rest, 40)
    assert (sb == b).all()
    assert (np.abs(sy - y) <= 5).all() and (np.abs(sx - x) <= 5).all()
    # the offsets fill the whole 11x11 window (centre included)
    offsets = set(zip((sy - y).tolist(), (sx - x).tolist()))
    assert len(offsets) > 100 and (0, 0) in offsets


def test_padding_is_never_masked_nor_copied():
    rng = np.random.default_rng(2)
    patches = np.zeros((4, 32, 32), dtype=np.float32)
    patches[:, :20, :10] = 1 + rng.random((4, 20, 10))
    valid = np.tile([20, 10], (4, 1))
    masked, mask = n2v_mask(patches, perc_pix=1.5, radius=5, rng=rng, valid_shapes=valid)
    assert not mask[:, 20:, :].any() and not mask[:, :, 10:].any()
    assert (masked[mask] >= 1).all()
    # boxes cut by the valid extent still get one pixel each: 3 x 2 boxes
    assert mask.sum() == 4 * 3 * 2
