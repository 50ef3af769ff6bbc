"""Whole-image and tiled prediction with padding to the network's grid.

An image is reflect-padded so that both sides are multiples of the network's
down-sampling factor. If the padded image is larger than ``tile_size`` it is
cut into overlapping windows aligned on that grid; each window keeps only its
core, at least one receptive-field radius away from any inner window edge, so
tiled and whole-image predictions agree up to float rounding.
"""

import math

import numpy as np


def _round_up(value, multiple):
    return multiple * math.ceil(value / multiple)


def pad_to_multiple(image, multiple):
    """Reflect-pad a 2D image at the bottom and right so that both sides are
    multiples of ``multiple``.

    Padding only at the end keeps the network's pooling grid anchored at the
    image origin, so any crop of an image that starts on that grid (a tile, a
    chunk of a dask array) is processed exactly as in the whole image.

    Returns
    -------
    padded : ndarray
    crop : tuple of slice
        Slices that cut the original region out of ``padded`` (or out of any
        output computed on it).
    """
    pads = [(0, _round_up(side, multiple) - side) for side in image.shape]
    padded = np.pad(image, pads, mode="reflect") if any(p for _, p in pads) else image
    crop = tuple(slice(0, side) for side in image.shape)
    return padded, crop


def _axis_windows(size, tile_size, margin):
    """Windows ``(start, stop)`` and their cores along one padded axis."""
    if size <= tile_size:
        return [((0, size), (0, size))]
    core = tile_size - 2 * margin
    windows = []
    for core_start in range(0, size, core):
        core_stop = min(core_start + core, size)
        windows.append(
            ((max(0, core_start - margin), min(size, core_stop + margin)), (core_start, core_stop))
        )
    return windows


def tile_windows(shape, tile_size, margin):
    """Windows covering a padded image of ``shape``.

    Parameters
    ----------
    shape : tuple of int
        Shape of the padded image, multiples of the network grid.
    tile_size : int
        Largest window side, a multiple of the grid larger than ``2 * margin``.
    margin : int
        Context kept around each core, a multiple of the grid.

    Returns
    -------
    list of (window, core_in_window, core)
        Tuples of slice pairs: where to read the window in the image, which
        part of the window output to keep, and where it goes in the image.
    """
    tiles = []
    for (y0, y1), (cy0, cy1) in _axis_windows(shape[0], tile_size, margin):
        for (x0, x1), (cx0, cx1) in _axis_windows(shape[1], tile_size, margin):
            tiles.append(
                (
                    (slice(y0, y1), slice(x0, x1)),
                    (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0)),
                    (slice(cy0, cy1), slice(cx0, cx1)),
                )
            )
    return tiles


def predict_tiled(forward, image, *, multiple, tile_size, margin, channels=slice(None)):
    """Run ``forward`` on an image of any size, in tiles when it is large.

    Parameters
    ----------
    forward : callable
        Maps a 2D float32 array, sides multiples of ``multiple``, to an array of
        shape ``(n_outputs, H, W)``.
    image : ndarray of shape (H, W)
    multiple : int
        The network's down-sampling factor ``2**depth``.
    tile_size : int
        Largest window side processed at once.
    margin : int
        Context around each tile core (the receptive-field radius, rounded up
        to ``multiple``).
    channels : slice, default=slice(None)
        Output channels to keep; only these are stitched, which bounds the
        memory of large images.

    Returns
    -------
    ndarray of shape (n_kept, H, W), float32
    """
    padded, crop = pad_to_multiple(image, multiple)
    tiles = tile_windows(padded.shape, tile_size, margin)
    out = None
    for window, core_in_window, core in tiles:
        result = forward(padded[window])[channels]
        if len(tiles) == 1:
            return result[(slice(None), *crop)]
        if out is None:
            out = np.empty((result.shape[0], *padded.shape), dtype=np.float32)
        out[(slice(None), *core)] = result[(slice(None), *core_in_window)]
    return out[(slice(None), *crop)]
