"""One mean and one standard deviation per channel over all training images."""

import numpy as np


def fit_normalization(images):
    """Mean and standard deviation of every channel over all images.

    Accumulates in float64 image by image, so no concatenated copy is made.
    A constant channel gets a standard deviation of 1.

    Parameters
    ----------
    images : list of ndarray (C, *spatial)

    Raises
    ------
    ValueError
        If the statistics overflow float64.

    Returns
    -------
    mean, std : ndarray of shape (C,), float64
    """
    count = sum(image[0].size for image in images)
    axes = tuple(range(1, images[0].ndim))
    with np.errstate(over="ignore", invalid="ignore"):  # checked below
        mean = sum(np.sum(image, axis=axes, dtype=np.float64) for image in images) / count
        variance = sum(
            np.sum((image.astype(np.float64) - _per_channel(mean, image.ndim)) ** 2, axis=axes)
            for image in images
        ) / count
    std = np.sqrt(variance)
    if not (np.isfinite(mean).all() and np.isfinite(std).all()):
        raise ValueError(
            "X holds values too large to normalise (their variance overflows float64); "
            "rescale the images"
        )
    return mean, np.where(std > 0, std, 1.0)


def _per_channel(values, ndim):
    """Statistics of shape (C,) shaped to broadcast over (C, *spatial)."""
    return np.asarray(values, dtype=np.float64).reshape(-1, *([1] * (ndim - 1)))


def normalize(image, mean, std):
    """``(image - mean) / std`` per channel of a (C, *spatial) image, as a new
    float32 array."""
    image = np.asarray(image, dtype=np.float64)
    return ((image - _per_channel(mean, image.ndim)) / _per_channel(std, image.ndim)).astype(
        np.float32)


def denormalize(image, mean, std):
    """Inverse of :func:`normalize`, back to input units, float32."""
    return (image * _per_channel(std, image.ndim) + _per_channel(mean, image.ndim)).astype(
        np.float32, copy=False)
