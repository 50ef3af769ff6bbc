"""Image-level split into training and validation images."""

import numpy as np


def split_images(annotated, validation_fraction, rng):
    """Split image indices into training and validation, stratified by
    annotation so that annotated images are on both sides when there are at
    least two, and every side that exists keeps at least one image.

    Parameters
    ----------
    annotated : ndarray of bool, shape (n_images,)
    validation_fraction : float
    rng : numpy.random.Generator

    Returns
    -------
    train, valid : ndarray of int
        Sorted image indices; ``valid`` is empty when there is a single image
        or ``validation_fraction`` is 0.
    """
    annotated = np.asarray(annotated, dtype=bool)
    if len(annotated) < 2 or validation_fraction == 0:
        return np.arange(len(annotated)), np.array([], dtype=int)
    valid = []
    for group in (np.flatnonzero(annotated), np.flatnonzero(~annotated)):
        n_valid = int(round(validation_fraction * len(group)))
        if len(group) >= 2:
            n_valid = min(max(n_valid, 1), len(group) - 1)
        else:
            n_valid = 0
        valid.extend(rng.permutation(group)[:n_valid])
    if not valid:  # two images of different kinds: validate on the unannotated one
        valid = list(np.flatnonzero(~annotated)[:1])
    valid = np.sort(np.array(valid, dtype=int))
    train = np.setdiff1d(np.arange(len(annotated)), valid)
    return train, valid
