"""Noise2Void blind-spot masking of a batch of 2D or 3D patches, vectorised:
the blind spots, their replacement values (the paper's rule and those of
N2V2), and the lines that structN2V hides around them."""

import numpy as np

REPLACEMENTS = ("uniform_with_center", "uniform", "median")
"""Rules for the value a blind spot shows the network: a uniformly random
pixel of its window, the centre included (Noise2Void, DenoiSeg); the same
without the centre; the median of the window without the centre (N2V2)."""

STRUCT_AXES = {"horizontal": -1, "vertical": -2}
"""structN2V line orientations: along X (rows of the image) or along Y."""


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


def n2v_mask(patches, *, perc_pix, radius, rng, valid_shapes=None,
             replacement="uniform_with_center", struct_axis=None, struct_span=5):
    """Choose blind-spot pixels and replace their values.

    Each patch is cut into boxes of side :func:`box_side`; one uniformly random
    pixel per box is chosen, and its value is replaced according to
    ``replacement`` from the ``(2 * radius + 1)`` square (cube) window around
    it, clipped at the valid region. Values are read from the unmodified
    patches. With ``struct_axis``, the other pixels of a line of
    ``struct_span`` pixels through each blind spot (clipped at the valid
    region) get values drawn uniformly between the patch's minimum and
    maximum (structN2V); the loss still looks at the blind spots only.

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
    replacement : {"uniform_with_center", "uniform", "median"}
        See :data:`REPLACEMENTS`.
    struct_axis : {None, "horizontal", "vertical"}
        Axis along which the noise is correlated: "horizontal" hides a line
        along X (the last axis), "vertical" along Y. In 3D the line lies in
        the plane of its blind spot.
    struct_span : int, default=5
        Odd length of the hidden line, its blind spot in the middle.

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
    limits = valid_shapes[batch]
    masked = patches.copy()
    if replacement == "median":
        masked[(batch, *coords)] = _window_median(patches, batch, coords, limits, radius)
    else:
        sources = _uniform_sources(coords, limits, radius, rng,
                                   with_center=replacement == "uniform_with_center")
        masked[(batch, *coords)] = patches[(batch, *sources)]
    if struct_axis is not None:
        _hide_lines(masked, patches, batch, coords, limits, STRUCT_AXES[struct_axis],
                    struct_span, rng)
    mask = np.zeros(patches.shape, dtype=bool)
    mask[(batch, *coords)] = True
    return masked, mask


def _uniform_sources(coords, limits, radius, rng, with_center):
    """A uniformly random pixel of each blind spot's window; without the
    centre, draws that land on it (also after clipping) are drawn again."""
    def draw(centres, bounds):
        return [np.clip(c + rng.integers(-radius, radius + 1, size=c.size), 0, bounds[:, axis] - 1)
                for axis, c in enumerate(centres)]

    sources = draw(coords, limits)
    alone = np.all(limits == 1, axis=1)          # a one-pixel region has only its centre
    while not with_center:
        again = np.flatnonzero(np.logical_and.reduce([s == c for s, c in zip(sources, coords)])
                               & ~alone)
        if not again.size:
            break
        for axis, redrawn in enumerate(draw([c[again] for c in coords], limits[again])):
            sources[axis][again] = redrawn
    return sources


def _window_median(patches, batch, coords, limits, radius):
    """Median of each blind spot's window, the centre and the pixels outside
    the valid region left out."""
    n_dims = len(coords)
    offsets = np.stack(np.meshgrid(*[np.arange(-radius, radius + 1)] * n_dims, indexing="ij"),
                       axis=-1).reshape(-1, n_dims)
    offsets = offsets[np.any(offsets != 0, axis=1)]                  # no centre
    points = np.stack(coords, axis=1)[:, None, :] + offsets[None]     # (spots, window, n_dims)
    inside = np.all((points >= 0) & (points < limits[:, None, :]), axis=2)
    points = np.where(inside[..., None], points, 0)
    values = patches[(batch[:, None], *np.moveaxis(points, 2, 0))].astype(np.float64)
    values[~inside] = np.inf                     # sorted after every valid value
    alone = ~inside.any(axis=1)                  # a one-pixel region keeps its own value
    values[alone, 0] = patches[(batch[alone], *(c[alone] for c in coords))]
    values.sort(axis=1)
    count = np.maximum(inside.sum(axis=1), 1)
    rows = np.arange(len(values))
    return (values[rows, (count - 1) // 2] + values[rows, count // 2]) / 2


def _hide_lines(masked, patches, batch, coords, limits, axis, span, rng):
    """structN2V: give the pixels of the line of ``span`` pixels along
    ``axis`` through each blind spot (not the spot itself) random values."""
    half = span // 2
    axis = len(coords) + axis                                         # index among the coords
    steps = np.array([step for step in range(-half, half + 1) if step])
    along = coords[axis][:, None] + steps[None]                       # (spots, span - 1)
    inside = (along >= 0) & (along < limits[:, axis, None])
    spot, step = np.nonzero(inside)
    line = [c[spot] for c in coords]
    line[axis] = along[spot, step]
    flat = patches.reshape(len(patches), -1)
    low, high = flat.min(axis=1), flat.max(axis=1)
    which = batch[spot]
    masked[(which, *line)] = rng.uniform(low[which], high[which])
