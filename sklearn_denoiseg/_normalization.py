"""One mean and one standard deviation over all training images."""

import numpy as np


def fit_normalization(images):
    """Mean and standard deviation of all pixels of all images.

    Accumulates in float64 image by image, so no concatenated copy is made.
    A constant data set gets a standard deviation of 1.

    Raises
    ------
    ValueError
        If the statistics overflow float64.

    Returns
    -------
    mean, std : float
    """
    count = sum(image.size for image in images)
    with np.errstate(over="ignore", invalid="ignore"):  # checked below
        mean = sum(float(np.sum(image, dtype=np.float64)) for image in images) / count
        variance = (
            sum(float(np.sum((image.astype(np.float64) - mean) ** 2)) for image in images)
            / count
        )
    std = float(np.sqrt(variance))
    if not (np.isfinite(mean) and np.isfinite(std)):
        raise ValueError(
            "X holds values too large to normalise (their variance overflows float64); "
            "rescale the images"
        )
    return mean, std if std > 0 else 1.0


def normalize(image, mean, std):
    """``(image - mean) / std`` as a new float32 array."""
    return ((np.asarray(image, dtype=np.float64) - mean) / std).astype(np.float32)


def denormalize(image, mean, std):
    """Inverse of :func:`normalize`, back to input units, float32."""
    return (image * std + mean).astype(np.float32, copy=False)
