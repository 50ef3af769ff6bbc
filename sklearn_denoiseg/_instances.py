"""From foreground probabilities to instance labels, and the choice of the
foreground threshold that maximises average precision."""

import warnings

import numpy as np
from scipy import ndimage

from .exceptions import NoObjectsFoundWarning
from .metrics import average_precision

COARSE_THRESHOLDS = np.round(np.arange(0.05, 1.0, 0.05), 2)
"""First pass of the threshold search (the reference searches 0.10 ... 1.00
in steps of 0.05)."""

FALLBACK_THRESHOLD = 0.5
"""The threshold when every threshold scores 0: the midpoint of the
probability, where foreground becomes more likely than not."""


def foreground_to_instances(foreground, threshold):
    """Connected components of ``foreground > threshold``, with face
    connectivity (4 neighbours in 2D, 6 in 3D).

    Parameters
    ----------
    foreground : ndarray of shape (H, W) or (Z, Y, X)
        Foreground probability.
    threshold : float

    Returns
    -------
    labels : ndarray, shape of ``foreground``, int32
        0 background, objects numbered 1, 2, ...
    """
    labels, _ = ndimage.label(foreground > threshold)
    return labels.astype(np.int32, copy=False)


def _mean_ap(foregrounds, labels, threshold):
    return np.mean(
        [
            average_precision(truth, foreground_to_instances(fg, threshold))
            for fg, truth in zip(foregrounds, labels)
        ]
    )


def search_threshold(foregrounds, labels):
    """Foreground threshold maximising the mean AP over annotated images.

    A grid in steps of 0.05 is refined in steps of 0.01 around its best
    value; ties go to the higher threshold, as in the reference. When every
    threshold scores 0, ties would pick 0.99 (no object at all):
    :data:`FALLBACK_THRESHOLD` is returned instead, with a
    :class:`~sklearn_denoiseg.exceptions.NoObjectsFoundWarning`.

    Parameters
    ----------
    foregrounds : list of ndarray (H, W)
        Foreground probabilities.
    labels : list of ndarray (H, W)
        Ground-truth instance labels; images without objects are skipped.

    Returns
    -------
    threshold : float
    scores : dict
        Mean AP of every threshold tried.
    """
    pairs = [(fg, truth) for fg, truth in zip(foregrounds, labels) if np.any(truth)]
    if not pairs:
        raise ValueError("no annotated image to choose the threshold on")
    foregrounds, labels = zip(*pairs)
    scores = {}

    def best_of(thresholds):
        for threshold in thresholds:
            threshold = float(threshold)
            if threshold not in scores:
                scores[threshold] = _mean_ap(foregrounds, labels, threshold)
        # max over reversed order picks the higher threshold on ties
        return max(sorted(scores, reverse=True), key=scores.__getitem__)

    coarse = best_of(COARSE_THRESHOLDS)
    if scores[coarse] == 0:
        warnings.warn(
            f"every threshold scored AP 0 on the {len(labels)} annotated image(s) that tune "
            f"it: the network finds none of their objects yet (train longer or on more "
            f"annotated images); threshold_ falls back to {FALLBACK_THRESHOLD}",
            NoObjectsFoundWarning, stacklevel=3)
        return FALLBACK_THRESHOLD, dict(sorted(scores.items()))
    fine = np.round(np.arange(coarse - 0.04, coarse + 0.045, 0.01), 2)
    best = best_of(fine[(fine > 0) & (fine < 1)])
    return best, dict(sorted(scores.items()))
