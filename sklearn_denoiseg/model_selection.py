"""Cross-validation splitters for partly annotated images.

In this package an all-zero label image marks an unannotated image. A plain
:class:`~sklearn.model_selection.KFold` can put only unannotated images in a
test fold, where no score can be computed; :class:`AnnotatedKFold` cannot.
"""

import numbers

import numpy as np
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import check_random_state

__all__ = ["AnnotatedKFold"]


class AnnotatedKFold(BaseCrossValidator):
    """K-fold cross-validation with annotated images in every fold.

    Annotated and unannotated images (all-zero label images) are split into
    ``n_splits`` folds separately, like a stratified k-fold over "annotated",
    so that every test fold and every training fold holds at least one
    annotated image. Use it as ``cv=`` of
    :class:`~sklearn.model_selection.GridSearchCV` or
    :func:`~sklearn.model_selection.cross_val_score`.

    Parameters
    ----------
    n_splits : int, default=3
        Number of folds, at least 2 and at most the number of annotated
        images.
    shuffle : bool, default=False
        Whether to shuffle the annotated and the unannotated images before
        splitting them into folds.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffling when ``shuffle`` is True; pass an int for the
        same folds on every call of :meth:`split`.

    See Also
    --------
    sklearn.model_selection.StratifiedKFold : The same idea for class labels.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_denoiseg.model_selection import AnnotatedKFold
    >>> X = np.zeros((6, 8, 8))
    >>> y = np.zeros((6, 8, 8), dtype=int)
    >>> y[:3, 2:4, 2:4] = 1                      # images 0, 1 and 2 are annotated
    >>> for train, test in AnnotatedKFold(n_splits=3).split(X, y):
    ...     print(train, test)
    [1 2 3 4] [0 5]
    [0 2 3 5] [1 4]
    [0 1 4 5] [2 3]

    With an estimator of this package (a few minutes of training)::

        from sklearn.model_selection import cross_val_score
        from sklearn_denoiseg import DenoiSegEstimator
        scores = cross_val_score(DenoiSegEstimator(), X, y, cv=AnnotatedKFold(3))
    """

    def __init__(self, n_splits=3, *, shuffle=False, random_state=None):
        self.n_splits = n_splits
        self.shuffle = shuffle
        self.random_state = random_state

    def split(self, X, y=None, groups=None):
        """Generate indices to split images into training and test folds.

        Parameters
        ----------
        X : array-like of shape (n_images, H, W) or list of 2D arrays
            The images; only their number is used.
        y : array-like of shape (n_images, H, W) or list of 2D arrays
            Instance label images; an all-zero label image marks an
            unannotated image. Required.
        groups : None
            Ignored, exists for compatibility.

        Yields
        ------
        train : ndarray of int
            The training image indices of that split.
        test : ndarray of int
            The test image indices of that split.

        Raises
        ------
        ValueError
            If ``y`` is None, if ``n_splits`` is not an integer of at least
            2, if ``random_state`` is set without ``shuffle``, or if ``y``
            holds fewer than ``n_splits`` annotated images.
        """
        if y is None:
            raise ValueError(
                "AnnotatedKFold.split needs the label images y to find the annotated "
                "images; pass y (e.g. cross_val_score(estimator, X, y, cv=...))"
            )
        if not isinstance(self.n_splits, numbers.Integral) or isinstance(self.n_splits, bool) \
                or self.n_splits < 2:
            raise ValueError(f"n_splits must be an integer of at least 2, got {self.n_splits!r}")
        if not self.shuffle and self.random_state is not None:
            raise ValueError(
                f"random_state={self.random_state!r} has no effect with shuffle=False; "
                "set shuffle=True or leave random_state at None"
            )
        return super().split(X, y, groups)

    def _iter_test_indices(self, X=None, y=None, groups=None):
        annotated = np.array([bool(np.any(label)) for label in y])
        n_annotated = int(annotated.sum())
        if n_annotated < self.n_splits:
            fix = (f"use n_splits={n_annotated} or fewer, or annotate more images"
                   if n_annotated >= 2 else "annotate at least 2 images")
            raise ValueError(
                f"y holds {n_annotated} annotated image(s) (label images with a nonzero "
                f"pixel) of {len(annotated)}, but AnnotatedKFold(n_splits={self.n_splits}) "
                f"needs at least {self.n_splits}, one per test fold; {fix}"
            )
        rng = check_random_state(self.random_state)
        folds = []
        for indices in (np.flatnonzero(annotated), np.flatnonzero(~annotated)):
            if self.shuffle:
                indices = rng.permutation(indices)
            folds.append(np.array_split(indices, self.n_splits))
        annotated_folds, unannotated_folds = folds
        # array_split makes the first folds the largest: pairing them with the
        # smallest unannotated folds keeps the test folds' sizes even
        for with_labels, without in zip(annotated_folds, reversed(unannotated_folds)):
            yield np.sort(np.concatenate([with_labels, without]))

    def get_n_splits(self, X=None, y=None, groups=None):
        """Return the number of splits, ``n_splits``.

        Parameters
        ----------
        X, y, groups : object
            Ignored, exist for compatibility.

        Returns
        -------
        int
        """
        return self.n_splits
