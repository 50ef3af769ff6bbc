"""Data for examples, tests and experiments: synthetic blobs, the real
annotated nuclei image shipped by ``stardist``, and the paper's noise and
label-budget helpers."""

import importlib.util
from pathlib import Path

import numpy as np
from sklearn.utils import check_random_state

__all__ = [
    "make_blobs",
    "load_nuclei",
    "crop_grid",
    "add_gaussian_noise",
    "keep_annotated",
]


def make_blobs(n_images=8, shape=(64, 64), *, n_blobs=6, radius=(3, 6), noise=0.3,
               random_state=None):
    """Noisy images of separate bright disks and their instance labels.

    Disks keep at least two pixels of background between them (placement
    stops after ``100 * n_blobs`` tries), so the connected components of the
    clean foreground are exactly the instances.

    Parameters
    ----------
    n_images : int, default=8
    shape : tuple of 2 ints, default=(64, 64)
    n_blobs : int, default=6
        Disks per image, at most.
    radius : tuple of 2 ints, default=(3, 6)
        Smallest and largest disk radius.
    noise : float, default=0.3
        Standard deviation of the added Gaussian noise; disks have intensity 1
        on a background of 0.
    random_state : int, RandomState instance or None

    Returns
    -------
    X : ndarray of shape (n_images, *shape), float32
    y : ndarray of shape (n_images, *shape), int32

    Examples
    --------
    >>> X, y = make_blobs(n_images=2, shape=(32, 48), random_state=0)
    >>> X.shape, y.dtype
    ((2, 32, 48), dtype('int32'))
    """
    rng = check_random_state(random_state)
    y = np.zeros((n_images, *shape), dtype=np.int32)
    for labels in y:
        placed = 0
        for _ in range(100 * n_blobs):
            if placed == n_blobs:
                break
            r = rng.randint(radius[0], radius[1] + 1)
            cy, cx = rng.randint(0, shape[0]), rng.randint(0, shape[1])
            # only the disk's neighbourhood (radius + 2 px of background) matters
            window = tuple(
                slice(max(0, c - r - 2), min(side, c + r + 3))
                for c, side in ((cy, shape[0]), (cx, shape[1]))
            )
            rows, cols = np.ogrid[window]
            distance2 = (rows - cy) ** 2 + (cols - cx) ** 2
            if labels[window][distance2 <= (r + 2) ** 2].any():
                continue
            placed += 1
            labels[window][distance2 <= r**2] = placed
    clean = (y > 0).astype(np.float32)
    X = clean + rng.normal(0, noise, size=clean.shape).astype(np.float32)
    return X, y


def _stardist_file(name):
    spec = importlib.util.find_spec("stardist")
    if spec is None:
        raise ImportError(
            "the nuclei image ships with the 'stardist' package; install it with "
            "pip install 'sklearn_denoiseg[demo]'"
        )
    return Path(spec.origin).parent / "data" / "images" / name


def load_nuclei():
    """The annotated DSB2018 nuclei image shipped by ``stardist``.

    A 512x512 fluorescence image (uint16, values 0-235) with 125 annotated
    nuclei, read from the installed ``stardist`` package without importing
    it (needs ``pip install 'sklearn_denoiseg[demo]'``).

    Returns
    -------
    image : ndarray of shape (512, 512), float32
    labels : ndarray of shape (512, 512), int32
    """
    import tifffile

    image = tifffile.imread(_stardist_file("img2d.tif")).astype(np.float32)
    labels = tifffile.imread(_stardist_file("mask2d.tif")).astype(np.int32)
    return image, labels


def crop_grid(image, size):
    """Non-overlapping ``size`` x ``size`` crops, row by row.

    Parameters
    ----------
    image : ndarray of shape (H, W)
    size : int

    Returns
    -------
    ndarray of shape (n_crops, size, size)
        ``(H // size) * (W // size)`` crops; the remainder is dropped.
    """
    rows, cols = image.shape[0] // size, image.shape[1] // size
    cropped = image[: rows * size, : cols * size]
    return cropped.reshape(rows, size, cols, size).swapaxes(1, 2).reshape(-1, size, size)


def add_gaussian_noise(images, sigma, random_state=None):
    """Add zero-mean Gaussian noise of standard deviation ``sigma``.

    As in the paper: float32 output, not clipped.

    Parameters
    ----------
    images : ndarray or list of ndarray
    sigma : float
        Noise level in image units (10 and 20 in the paper for 0-255 images).
    random_state : int, RandomState instance or None

    Returns
    -------
    noisy : float32 ndarray, or list of them for a list input
    """
    rng = check_random_state(random_state)
    if isinstance(images, np.ndarray):
        return (images + rng.normal(0, sigma, size=images.shape)).astype(np.float32)
    return [add_gaussian_noise(image, sigma, rng) for image in images]


def keep_annotated(labels, n_annotated, random_state=None):
    """Keep the labels of ``n_annotated`` randomly chosen images, zero the rest.

    Zeroed label images count as unannotated in
    :meth:`~sklearn_denoiseg.DenoiSegEstimator.fit`.

    Parameters
    ----------
    labels : ndarray of shape (n, H, W) or list of 2D arrays
    n_annotated : int
    random_state : int, RandomState instance or None

    Returns
    -------
    kept : same form as ``labels``
        A copy; the input is not modified.
    """
    rng = check_random_state(random_state)
    if not 0 <= n_annotated <= len(labels):
        raise ValueError(
            f"n_annotated must be in [0, {len(labels)}]; got {n_annotated}"
        )
    keep = set(rng.choice(len(labels), size=n_annotated, replace=False).tolist())
    kept = [np.array(lab) if i in keep else np.zeros_like(lab) for i, lab in enumerate(labels)]
    return np.stack(kept) if isinstance(labels, np.ndarray) else kept
