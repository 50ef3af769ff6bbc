"""Noise2Void blind-spot masking of a batch of 2D or 3D patches, vectorised."""

import numpy as np


def box_side(perc_pix, n_dims=2):
    """Side of the boxes that each receive one masked pixel (voxel).

    ``round((100 / perc_pix) ** (1 / n_dims))``: 8 pixels in 2D and 4 voxels
    in 3D for the default 1.5 %, so that ``perc_pix`` % of the pixels (voxels)
    are masked. (The reference 3D code takes the square root in 3D too, and
    masks far fewer voxels.)

    Examples
    --------
    >>> box_side(1.5), box_side(1.5, n_dims=3)
    (8, 4)
    """
    return max(1, int(round((100.0 / perc_pix) ** (1.0 / n_dims))))


def n2v_mask(patches, *, perc_pix, radius, rng, valid_shapes=None):
    """Choose blind-spot pixels and replace them by random neighbours.

    Each patch is cut into boxes of side :func:`box_side`; one uniformly random
    pixel per box is chosen, and its value is replaced by the value of a
    uniformly random pixel of the ``(2 * radius + 1)`` square (cube) window
    around it (clipped at the patch border, the centre itself may be drawn).
    Values are read from the unmodified patches.

    Parameters
    ----------
    patches : ndarray of shape (B, H, W) or (B, D, H, W)
        Patches to mask; not modified.
    perc_pix : float
        Percentage of pixels to mask.
    radius : int
        Radius of the replacement window.
    rng : numpy.random.Generator
        Source of randomness.
    valid_shapes : ndarray of shape (B, n_dims), default=None
        Extent of the real image region in the first corner of each patch
        (the rest is padding, never masked nor used as a replacement). None
        means whole patches.

    Returns
    -------
    masked : ndarray, shape of ``patches``
        Copy of ``patches`` with the chosen pixels replaced.
    mask : ndarray of bool, shape of ``patches``
        The chosen pixels.
    """
    n, *spatial = patches.shape
    n_dims = len(spatial)
    if valid_shapes is None:
        valid_shapes = np.tile(spatial, (n, 1))
    side = box_side(perc_pix, n_dims)

    def pick(size, valid):
        # Box starts along one axis; the box is cut at the valid extent, and
        # boxes lying wholly in the padding get length 0 and are dropped.
        starts = np.arange(0, size, side)
        lengths = np.clip(valid[:, None] - starts[None, :], 0, side)
        offsets = np.floor(rng.random(lengths.shape) * lengths).astype(np.int64)
        return starts[None, :] + offsets, lengths > 0

    picks = [pick(size, valid_shapes[:, axis]) for axis, size in enumerate(spatial)]
    grid = (n, *(coords.shape[1] for coords, _ in picks))

    def along(array, axis):
        # (n, boxes along ``axis``) spread over the grid of boxes
        shape = [n] + [1] * n_dims
        shape[axis + 1] = array.shape[1]
        return np.broadcast_to(array.reshape(shape), grid)

    keep = np.ones(grid, dtype=bool)
    for axis, (_, ok) in enumerate(picks):
        keep &= along(ok, axis)
    batch = np.broadcast_to(np.arange(n).reshape([n] + [1] * n_dims), grid)[keep]
    coords = [along(picked, axis)[keep] for axis, (picked, _) in enumerate(picks)]
    sources = [
        np.clip(c + rng.integers(-radius, radius + 1, size=c.size), 0,
                valid_shapes[batch, axis] - 1)
        for axis, c in enumerate(coords)
    ]
    masked = patches.copy()
    masked[(batch, *coords)] = patches[(batch, *sources)]
    mask = np.zeros(patches.shape, dtype=bool)
    mask[(batch, *coords)] = True
    return masked, mask
