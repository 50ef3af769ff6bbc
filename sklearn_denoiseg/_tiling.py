"""Whole-image and tiled prediction, and the rule at the image border.

The border rule: an image is mirrored (numpy's ``"symmetric"``, which
repeats the edge pixel; the bioimage.io spec's ``SymmetricPadding``) at the
end of each axis up to a multiple of the network's grid ``2**depth``, then
mirrored again by the context margin on every side. The margin is the
network's receptive-field radius rounded up to the grid, so every output
pixel of the image sees only image and mirrored pixels, never the network's
own zero padding, and the grid stays anchored at the image origin. A
bioimage.io consumer running an exported package (halo = margin, symmetric
padding) applies the second step; given an image whose sides are multiples
of the grid, it applies the whole rule. Of the paddings a package can
declare, mirroring denoised best near the border, and found border nuclei
as well as the others within the noise (``benchmarks/border_rule.py``).

If the padded image is larger than the tile shape it is cut into
overlapping windows aligned on the grid; each window keeps only its core,
one margin away from each window edge, so tiled and whole-image predictions
agree up to float rounding. Windows of equal shape are batched through the
network.
"""

import itertools
import math
import numbers

import numpy as np

from ._axes import per_axis
from ._unet import receptive_field_radius
from ._validation import check_scalar

DEFAULT_TILE = {2: (1024, 1024), 3: (64, 256, 256)}
"""What ``tile_size=None`` processes in one pass, per number of spatial
axes. In 2D an image of up to 1024x1024 pixels: the window is that plus the
context margin on each side (1280x1280 for a depth-4 U-Net), which the border
rule pads every image by; a window of 1024 would cut such an image into four,
4x slower on a CPU (measured for a 32-filter U-Net of depth 4, 1 thread:
54.5 s against 13.6 s, for 2.9 GB of peak memory instead of 1.9 GB). In 3D a
window of 64 planes of 256x256, about 4 M voxels (about 2.8 GB in float32 for
a 32-filter U-Net, ``benchmarks/predict_3d.py``): adding the margins would
multiply that memory. The border rule mirrors stacks by the margin in Z too,
so such a window keeps a core of ``64 - 2 * margin`` planes (8 for a depth-2
U-Net): stacks of more planes are tiled in Z."""


BORDER_MODE = "symmetric"
"""How images are extended past their border (a mode of :func:`numpy.pad`),
the ``pad`` that exported bioimage.io packages declare."""


def pad_border(image, margin, multiple, n_leading=0):
    """Extend an image past its border by the rule of this module.

    Mirroring (:data:`BORDER_MODE`) at the end of each axis up to a
    multiple of ``multiple``, then by ``margin`` on every side; the first
    ``n_leading`` axes (channels) are left alone. With ``margin`` a multiple
    of ``multiple``, any crop of an image that starts on that grid (a tile,
    a chunk of a dask array) is processed on the same grid as the whole
    image.

    Returns
    -------
    padded : ndarray
    crop : tuple of slice
        Slices that cut the original region out of ``padded`` (or out of any
        output computed on it), for every axis after the leading ones.

    Examples
    --------
    >>> padded, crop = pad_border(np.arange(5.0), margin=4, multiple=4)
    >>> padded
    array([3., 2., 1., 0., 0., 1., 2., 3., 4., 4., 3., 2., 2., 3., 4., 4.])
    >>> padded[crop]
    array([0., 1., 2., 3., 4.])
    """
    spatial = image.shape[n_leading:]
    lead = [(0, 0)] * n_leading
    ends = lead + [(0, -side % multiple) for side in spatial]
    if any(end for _, end in ends):
        image = np.pad(image, ends, mode=BORDER_MODE)
    if margin:
        image = np.pad(image, lead + [(margin, margin)] * len(spatial), mode=BORDER_MODE)
    crop = tuple(slice(margin, margin + side) for side in spatial)
    return image, crop


def _axis_windows(size, side, margin):
    """Windows ``(start, stop)`` and their cores along one padded axis: the
    cores cover ``[margin, size - margin)``, each window adds ``margin`` on
    both sides of its core."""
    if size <= side:
        return [((0, size), (margin, size - margin))]
    core = side - 2 * margin
    return [((start - margin, min(start + core, size - margin) + margin),
             (start, min(start + core, size - margin)))
            for start in range(margin, size - margin, core)]


def tile_windows(shape, tile, margin):
    """Windows whose cores cover a padded image of ``shape`` but its outer
    ``margin`` (the padding of :func:`pad_border`).

    Parameters
    ----------
    shape : tuple of int
        Shape of the padded image, multiples of the network grid, at least
        ``2 * margin`` on every axis.
    tile : tuple of int
        Largest window side per axis, multiples of the grid larger than
        ``2 * margin``.
    margin : int
        Context kept around each core, a multiple of the grid.

    Returns
    -------
    list of (window, core_in_window, core)
        Tuples of slices, one per axis: where to read the window in the
        padded image, which part of the window output to keep, and where it
        goes in the padded image without its outer margin. Windows are
        listed in row-major order.
    """
    tiles = []
    for windows in itertools.product(*(_axis_windows(size, side, margin)
                                       for size, side in zip(shape, tile))):
        tiles.append((
            tuple(slice(start, stop) for (start, stop), _ in windows),
            tuple(slice(c0 - start, c1 - start) for (start, _), (c0, c1) in windows),
            tuple(slice(c0 - margin, c1 - margin) for _, (c0, c1) in windows),
        ))
    return tiles


def context_margin(depth, n2v2=False):
    """Context kept around a tile core: the receptive-field radius of a U-Net
    of this depth (with N2V2's blur-pool or not), rounded up to its grid
    ``2**depth``.

    Examples
    --------
    >>> context_margin(4)
    128
    """
    grid = 2**depth
    return grid * math.ceil(receptive_field_radius(depth, n2v2) / grid)


def smallest_tile(depth, n2v2):
    """The smallest window side that leaves a core inside the margins of a
    U-Net of this depth."""
    return 2 * context_margin(depth, n2v2) + 2**depth


def check_tile_size(tile_size, depth, n_dims, n2v2=False):
    """``tile_size`` must be None, or an integer (every axis) or one integer
    per spatial axis that leaves a core inside the margins of a U-Net of this
    ``depth``."""
    if tile_size is None:
        return
    if isinstance(tile_size, (tuple, list)):
        if len(tile_size) != n_dims:
            raise ValueError(f"tile_size must be None, an integer or a tuple of {n_dims} "
                             f"integers (one per spatial axis); got {tile_size!r}")
        for axis, side in enumerate(tile_size):
            check_scalar(side, f"tile_size[{axis}]", kind=numbers.Integral,
                         low=smallest_tile(depth, n2v2))
    else:
        check_scalar(tile_size, "tile_size", kind=numbers.Integral,
                     low=smallest_tile(depth, n2v2))


def tile_shape(tile_size, depth, n_dims, n2v2=False):
    """Window shape for ``tile_size``, each side a multiple of the grid.

    None gives :data:`DEFAULT_TILE`: in 2D with the context margin added on
    each side, in 3D with every side raised to at least the smallest that
    leaves a core inside the margins of a U-Net of this depth.

    Examples
    --------
    >>> tile_shape(None, 4, 2), tile_shape(None, 2, 3), tile_shape(None, 4, 3)
    ((1280, 1280), (64, 256, 256), (272, 272, 272))
    >>> tile_shape(100, 2, 2)
    (100, 100)
    """
    grid = 2**depth
    if tile_size is None:
        if n_dims == 2:
            margin = context_margin(depth, n2v2)
            return tuple(side + 2 * margin for side in DEFAULT_TILE[2])
        return tuple(max(side, smallest_tile(depth, n2v2)) for side in DEFAULT_TILE[3])
    return tuple(side - side % grid for side in per_axis(tile_size, n_dims))


def predict_tiled(forward, images, *, multiple, tile, margin, channels=slice(None),
                  max_pixels=None):
    """Run ``forward`` on images of any size, in tiles when they are large.

    Each image is padded by :func:`pad_border`; padded images larger than
    ``tile`` are cut into overlapping windows. Windows of the same shape
    (many small images of one size, the inner tiles of a large image) go
    through ``forward`` together, up to ``max_pixels`` pixels per call.

    Parameters
    ----------
    forward : callable
        Maps a float32 batch ``(B, C, *spatial)``, sides multiples of
        ``multiple``, to an array of shape ``(B, n_outputs, *spatial)``.
    images : sequence of ndarray (C, *spatial)
        Channels first, 2D or 3D.
    multiple : int
        The network's down-sampling factor ``2**depth``.
    tile : tuple of int
        Largest window side per axis processed at once (:func:`tile_shape`).
    margin : int
        Context around each tile core, and the padding at the image border
        (:func:`context_margin`).
    channels : slice, default=slice(None)
        Output channels to keep; only these are stitched, which bounds the
        memory of large images.
    max_pixels : int or None, default=None
        Largest number of pixels per call of ``forward``; None allows the
        pixels of one window of shape ``tile``.

    Returns
    -------
    list of ndarray of shape (n_kept, *spatial), float32
    """
    max_pixels = max_pixels or math.prod(tile)
    padded, outputs = [], [None] * len(images)
    by_shape = {}
    for index, image in enumerate(images):
        image, _ = pad_border(image, margin, multiple, n_leading=1)
        padded.append(image)
        for window, core_in_window, core in tile_windows(image.shape[1:], tile, margin):
            shape = tuple(s.stop - s.start for s in window)
            by_shape.setdefault(shape, []).append((index, window, core_in_window, core))
    for shape, jobs in by_shape.items():
        per_call = max(1, max_pixels // math.prod(shape))
        for start in range(0, len(jobs), per_call):
            batch = jobs[start:start + per_call]
            results = forward(np.stack([padded[index][(slice(None), *window)]
                                        for index, window, _, _ in batch]))[:, channels]
            for (index, _, core_in_window, core), result in zip(batch, results):
                if outputs[index] is None:
                    inner = (side - 2 * margin for side in padded[index].shape[1:])
                    outputs[index] = np.empty((result.shape[0], *inner), dtype=np.float32)
                outputs[index][(slice(None), *core)] = result[(slice(None), *core_in_window)]
    # the outputs span the image and its padding up to the grid
    return [output[(slice(None), *map(slice, image.shape[1:]))]
            for output, image in zip(outputs, images)]
