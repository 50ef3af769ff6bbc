"""Noise2Void blind-spot masking of a batch of patches, vectorised."""

import numpy as np


def box_side(perc_pix):
    """Side of the boxes that each receive one masked pixel.

    ``round(sqrt(100 / perc_pix))``: 8 pixels for the default 1.5 %.
    """
    return max(1, int(round(np.sqrt(100.0 / perc_pix))))


def n2v_mask(patches, *, perc_pix, radius, rng, valid_shapes=None):
    """Choose blind-spot pixels and replace them by random neighbours.

    Each patch is cut into boxes of side :func:`box_side`; one uniformly random
    pixel per box is chosen, and its value is replaced by the value of a
    uniformly random pixel of the ``(2 * radius + 1)`` square window around it
    (clipped at the patch border, the centre itself may be drawn). Values are
    read from the unmodified patches.

    Parameters
    ----------
    patches : ndarray of shape (B, H, W)
        Patches to mask; not modified.
    perc_pix : float
        Percentage of pixels to mask.
    radius : int
        Radius of the replacement window.
    rng : numpy.random.Generator
        Source of randomness.
    valid_shapes : ndarray of shape (B, 2), default=None
        Height and width of the real image region in the top-left corner of
        each patch (the rest is padding, never masked nor used as a
        replacement). None means whole patches.

    Returns
    -------
    masked : ndarray of shape (B, H, W)
        Copy of ``patches`` with the chosen pixels replaced.
    mask : ndarray of shape (B, H, W), dtype bool
        The chosen pixels.
    """
    n, height, width = patches.shape
    if valid_shapes is None:
        valid_shapes = np.tile([height, width], (n, 1))
    side = box_side(perc_pix)

    def pick(size, valid):
        # Box starts along one axis; the box is cut at the valid extent, and
        # boxes lying wholly in the padding get length 0 and are dropped.
        starts = np.arange(0, size, side)
        lengths = np.clip(valid[:, None] - starts[None, :], 0, side)
        offsets = np.floor(rng.random(lengths.shape) * lengths).astype(np.int64)
        return starts[None, :] + offsets, lengths > 0

    ys, y_ok = pick(height, valid_shapes[:, 0])
    xs, x_ok = pick(width, valid_shapes[:, 1])
    batch = np.broadcast_to(np.arange(n)[:, None, None], (n, ys.shape[1], xs.shape[1]))
    y = np.broadcast_to(ys[:, :, None], batch.shape)
    x = np.broadcast_to(xs[:, None, :], batch.shape)
    keep = y_ok[:, :, None] & x_ok[:, None, :]
    batch, y, x = batch[keep], y[keep], x[keep]

    source_y = np.clip(
        y + rng.integers(-radius, radius + 1, size=y.size), 0, valid_shapes[batch, 0] - 1
    )
    source_x = np.clip(
        x + rng.integers(-radius, radius + 1, size=x.size), 0, valid_shapes[batch, 1] - 1
    )
    masked = patches.copy()
    masked[batch, y, x] = patches[batch, source_y, source_x]
    mask = np.zeros(patches.shape, dtype=bool)
    mask[batch, y, x] = True
    return masked, mask
