"""From foreground probabilities to instance labels, and the choice of the
foreground threshold that maximises average precision."""

import numpy as np
from scipy import ndimage

from .metrics import average_precision

COARSE_THRESHOLDS = np.round(np.arange(0.05, 1.0, 0.05), 2)
"""First pass of the threshold search (the reference searches 0.10 ... 1.00
in steps of 0.05)."""


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
    value; ties go to the higher threshold, as in the reference.

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
    fine = np.round(np.arange(coarse - 0.04, coarse + 0.045, 0.01), 2)
    best = best_of(fine[(fine > 0) & (fine < 1)])
    return best, dict(sorted(scores.items()))
