"""Segmentation and denoising metrics of the DenoiSeg paper, in pure NumPy.

All matching is done on a sparse contingency table of the two label images
(one ``np.unique`` over pixel pairs), so the cost is linear in the number of
pixels and independent of the number of objects.

- :func:`average_precision`: the paper's "AP" (DSB2018 style),
  ``TP / (TP + FP + FN)`` with a match when IoU > 0.5.
- :func:`seg_score`: the Cell Tracking Challenge SEG measure.
- :func:`psnr`: peak signal-to-noise ratio of a denoised image.
- :data:`ap_scorer`, :data:`seg_scorer`: scorers for ``GridSearchCV``.
"""

import warnings

import numpy as np
from sklearn.metrics import make_scorer

__all__ = ["average_precision", "seg_score", "psnr", "ap_scorer", "seg_scorer"]


def _consecutive(labels):
    """Object ids of a flat label array and the index of each pixel's object.

    Returns
    -------
    ids : ndarray
        Sorted distinct ids, 0 included when present.
    index : ndarray
        Position of each pixel's id in ``ids``.
    """
    top = int(labels.max()) if labels.size else 0
    if top > 4 * labels.size:  # sparse huge ids: sort instead of a lookup table
        return np.unique(labels, return_inverse=True)
    present = np.bincount(labels, minlength=top + 1) > 0
    ids = np.flatnonzero(present)
    lookup = np.cumsum(present) - 1
    return ids, lookup[labels]


def _overlaps(y_true, y_pred):
    """Sizes of objects and of their pairwise overlaps.

    Returns
    -------
    true_sizes : ndarray of shape (n_true,)
    pred_sizes : ndarray of shape (n_pred,)
    pairs : tuple of three ndarrays ``(i_true, i_pred, intersection)``
        One entry per pair of objects that share at least one pixel, indices
        into ``true_sizes`` and ``pred_sizes``.
    """
    y_true = np.asarray(y_true).ravel().astype(np.int64, copy=False)
    y_pred = np.asarray(y_pred).ravel().astype(np.int64, copy=False)
    true_ids, true_index = _consecutive(y_true)
    pred_ids, pred_index = _consecutive(y_pred)
    true_sizes = np.bincount(true_index, minlength=len(true_ids))
    pred_sizes = np.bincount(pred_index, minlength=len(pred_ids))
    # Background (id 0) takes index 0 when present; drop it from both sides.
    true_offset = int(true_ids.size > 0 and true_ids[0] == 0)
    pred_offset = int(pred_ids.size > 0 and pred_ids[0] == 0)
    in_both = (true_index >= true_offset) & (pred_index >= pred_offset)
    key = true_index[in_both] * len(pred_ids) + pred_index[in_both]
    if len(true_ids) * len(pred_ids) <= 4 * max(key.size, 1):
        # a dense contingency table is cheaper than sorting the pixel pairs
        counts = np.bincount(key, minlength=len(true_ids) * len(pred_ids))
        pair_keys = np.flatnonzero(counts)
        intersection = counts[pair_keys]
    else:
        pair_keys, intersection = np.unique(key, return_counts=True)
    i_true = pair_keys // len(pred_ids) - true_offset
    i_pred = pair_keys % len(pred_ids) - pred_offset
    return (
        true_sizes[true_offset:],
        pred_sizes[pred_offset:],
        (i_true, i_pred, intersection),
    )


def _check_pair(y_true, y_pred):
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_pred has shape {y_pred.shape} but y_true has shape {y_true.shape}"
        )
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if labels.dtype.kind not in "iub":
            raise TypeError(
                f"{name} must hold integer instance labels, got dtype {labels.dtype}"
            )
        if labels.size and labels.min() < 0:
            raise ValueError(f"{name} holds negative labels; expected ids >= 0")
    return y_true, y_pred


def _ap_single(y_true, y_pred, iou_threshold):
    y_true, y_pred = _check_pair(y_true, y_pred)
    true_sizes, pred_sizes, (i_true, i_pred, inter) = _overlaps(y_true, y_pred)
    n_true, n_pred = len(true_sizes), len(pred_sizes)
    if n_true == 0 and n_pred == 0:
        return np.nan
    union = true_sizes[i_true] + pred_sizes[i_pred] - inter
    # With a threshold of 0.5 or more each object has at most one partner
    # above it, so counting pairs counts matches.
    tp = int(np.count_nonzero(inter > iou_threshold * union))
    return tp / (n_true + n_pred - tp)


def _seg_single(y_true, y_pred):
    y_true, y_pred = _check_pair(y_true, y_pred)
    true_sizes, pred_sizes, (i_true, i_pred, inter) = _overlaps(y_true, y_pred)
    if len(true_sizes) == 0:
        return np.nan
    matched = inter > 0.5 * true_sizes[i_true]
    union = true_sizes[i_true] + pred_sizes[i_pred] - inter
    return float(np.sum(inter[matched] / union[matched]) / len(true_sizes))


def _is_single_image(labels):
    return isinstance(labels, np.ndarray) and labels.ndim == 2


def _mean_over_annotated(single_score, y_true, y_pred, name):
    """Apply ``single_score`` to one pair, or average it over a sequence of
    pairs, skipping images whose ground truth is empty (not annotated)."""
    if _is_single_image(y_true) or _is_single_image(y_pred):
        return single_score(y_true, y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError(
            f"y_true holds {len(y_true)} images but y_pred holds {len(y_pred)}"
        )
    scores = [
        single_score(t, p) for t, p in zip(y_true, y_pred) if np.any(np.asarray(t))
    ]
    if not scores:
        warnings.warn(
            f"{name}: every ground-truth image is empty, the score is undefined",
            RuntimeWarning,
            stacklevel=3,
        )
        return np.nan
    return float(np.mean(scores))


def average_precision(y_true, y_pred, iou_threshold=0.5):
    """Average precision of an instance segmentation, as in the DenoiSeg paper.

    A ground-truth object and a predicted object match when their
    intersection over union is strictly greater than ``iou_threshold``; the
    score of one image is ``TP / (TP + FP + FN)``.

    Parameters
    ----------
    y_true : ndarray of shape (H, W) or sequence of arrays
        Ground-truth instance labels, 0 is background: one 2D image, or a
        sequence (list, or array with a leading image axis) of 2D images or
        3D volumes, whose IoUs are then counted in voxels.
    y_pred : same form as ``y_true``
        Predicted instance labels, same shapes as ``y_true``.
    iou_threshold : float, default=0.5
        Objects match when IoU > ``iou_threshold``. Must be at least 0.5 so
        that matches are unique.

    Returns
    -------
    score : float
        For one pair of images: the score, 0.0 when exactly one of them is
        empty and NaN when both are. For sequences: the mean over the images
        whose ground truth is not empty (unannotated images are skipped), NaN
        with a warning when there is none.

    See Also
    --------
    seg_score : Cell Tracking Challenge SEG measure.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_denoiseg.metrics import average_precision
    >>> truth = np.zeros((8, 8), dtype=int)
    >>> truth[:4, :4] = 1
    >>> truth[5:, 5:] = 2
    >>> pred = np.zeros_like(truth)
    >>> pred[:4, :4] = 7
    >>> float(average_precision(truth, pred))   # 1 TP, 0 FP, 1 FN
    0.5
    """
    if not 0.5 <= iou_threshold < 1:
        raise ValueError(f"iou_threshold must be in [0.5, 1), got {iou_threshold!r}")
    return _mean_over_annotated(
        lambda t, p: _ap_single(t, p, iou_threshold),
        y_true,
        y_pred,
        "average_precision",
    )


def seg_score(y_true, y_pred):
    """SEG measure of the Cell Tracking Challenge.

    A ground-truth object G is matched by the predicted object P covering more
    than half of it (``|G & P| > 0.5 |G|``); SEG is the sum of the IoUs of the
    matched ground-truth objects divided by the number of ground-truth
    objects. False positives are not penalised.

    Parameters
    ----------
    y_true : ndarray of shape (H, W) or sequence of arrays
        Ground-truth instance labels, 0 is background: one 2D image, or a
        sequence of 2D images or 3D volumes.
    y_pred : same form as ``y_true``
        Predicted instance labels.

    Returns
    -------
    score : float
        For one pair: the score, NaN when the ground truth is empty. For
        sequences: the mean over images with at least one ground-truth object.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_denoiseg.metrics import seg_score
    >>> truth = np.zeros((4, 4), dtype=int)
    >>> truth[:, :2] = 1
    >>> pred = np.zeros_like(truth)
    >>> pred[:, :3] = 1                          # IoU 8 / 12
    >>> round(seg_score(truth, pred), 4)
    0.6667
    """
    return _mean_over_annotated(_seg_single, y_true, y_pred, "seg_score")


def psnr(clean, image):
    """Peak signal-to-noise ratio of ``image`` against the clean ``clean``.

    ``20 log10(max(clean) - min(clean)) - 10 log10(MSE(clean, image))``, in dB,
    as in the DenoiSeg paper.

    Parameters
    ----------
    clean : array-like
        Noise-free ground truth, 2D or 3D.
    image : array-like, shape of ``clean``
        Noisy or denoised image, in the units of ``clean``.

    Returns
    -------
    psnr : float

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_denoiseg.metrics import psnr
    >>> clean = np.array([[0.0, 10.0], [0.0, 10.0]])
    >>> float(psnr(clean, clean + 1.0))      # 20 log10(10) - 10 log10(1)
    20.0
    """
    clean = np.asarray(clean, dtype=np.float64)
    image = np.asarray(image, dtype=np.float64)
    if clean.shape != image.shape:
        raise ValueError(
            f"image has shape {image.shape} but clean has shape {clean.shape}"
        )
    data_range = clean.max() - clean.min()
    mse = np.mean((clean - image) ** 2)
    return float(20 * np.log10(data_range) - 10 * np.log10(mse))


ap_scorer = make_scorer(average_precision)
"""Scorer for ``GridSearchCV(scoring=ap_scorer)``: mean AP of ``predict``."""

seg_scorer = make_scorer(seg_score)
"""Scorer for ``GridSearchCV(scoring=seg_scorer)``: mean SEG of ``predict``."""
