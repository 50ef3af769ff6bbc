import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.model_selection import KFold, cross_val_score

from sklearn_denoiseg.model_selection import AnnotatedKFold


def _labels(annotated):
    """One 4x4 label image per entry; True gives it one object."""
    y = np.zeros((len(annotated), 4, 4), dtype=np.int32)
    y[np.asarray(annotated, dtype=bool), 1:3, 1:3] = 1
    return y


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("n_splits", [2, 3, 5])
@pytest.mark.parametrize("n_annotated,n_unannotated",
                         [(5, 0), (5, 1), (5, 7), (6, 20), (11, 3)])
def test_every_fold_has_annotated_images_on_both_sides(n_annotated, n_unannotated, n_splits,
                                                       shuffle):
    rng = np.random.default_rng(n_annotated * 100 + n_unannotated)
    annotated = rng.permutation([True] * n_annotated + [False] * n_unannotated)
    y = _labels(annotated)
    cv = AnnotatedKFold(n_splits, shuffle=shuffle, random_state=0 if shuffle else None)
    folds = list(cv.split(np.zeros_like(y, dtype=float), y))
    assert len(folds) == cv.get_n_splits() == n_splits
    for train, test in folds:
        assert annotated[train].any() and annotated[test].any()
        np.testing.assert_array_equal(np.sort(np.concatenate([train, test])),
                                      np.arange(len(y)))
    tested = np.sort(np.concatenate([test for _, test in folds]))
    np.testing.assert_array_equal(tested, np.arange(len(y)))    # each image tested once
    sizes = [len(test) for _, test in folds]
    assert max(sizes) - min(sizes) <= 1


def test_shuffle_is_determined_by_random_state():
    y = _labels([True] * 6 + [False] * 6)
    X = list(np.zeros_like(y, dtype=float))

    def folds(cv):
        return [test.tolist() for _, test in cv.split(X, y)]

    assert folds(AnnotatedKFold(3, shuffle=True, random_state=1)) == \
        folds(AnnotatedKFold(3, shuffle=True, random_state=1))
    assert folds(AnnotatedKFold(3, shuffle=True, random_state=1)) != \
        folds(AnnotatedKFold(3, shuffle=True, random_state=2))
    assert folds(AnnotatedKFold(3)) == [[0, 1, 10, 11], [2, 3, 8, 9], [4, 5, 6, 7]]


@pytest.mark.parametrize("n_annotated,n_splits,expected", [
    (2, 3, "y holds 2 annotated image(s) (label images with a nonzero pixel) of 8, but "
           "AnnotatedKFold(n_splits=3) needs at least 3, one per test fold; use n_splits=2 "
           "or fewer, or annotate more images"),
    (1, 2, "y holds 1 annotated image(s) (label images with a nonzero pixel) of 8, but "
           "AnnotatedKFold(n_splits=2) needs at least 2, one per test fold; annotate at "
           "least 2 images"),
])
def test_too_few_annotated_images(n_annotated, n_splits, expected):
    y = _labels([True] * n_annotated + [False] * (8 - n_annotated))
    with pytest.raises(ValueError) as error:
        list(AnnotatedKFold(n_splits).split(y, y))
    assert str(error.value) == expected


@pytest.mark.parametrize("cv,y,match", [
    (AnnotatedKFold(3), None, "needs the label images y"),
    (AnnotatedKFold(1), _labels([True] * 4), "n_splits must be an integer of at least 2, got 1"),
    (AnnotatedKFold(2.5), _labels([True] * 4), "got 2.5"),
    (AnnotatedKFold(3, random_state=0), _labels([True] * 4), "set shuffle=True"),
])
def test_invalid_use_is_a_clear_error(cv, y, match):
    with pytest.raises(ValueError, match=match):
        list(cv.split(np.zeros((4, 4, 4)), y))


class _NeedsAnnotatedImages(BaseEstimator):
    """Fails, like DenoiSegEstimator.score, on a fold without annotated images;
    scores the number of annotated test images."""

    def fit(self, X, y):
        if not any(np.any(label) for label in y):
            raise ValueError("no annotated training image")
        self.fitted_ = True
        return self

    def score(self, X, y):
        n_annotated = sum(bool(np.any(label)) for label in y)
        if n_annotated == 0:
            raise ValueError("no annotated test image")
        return n_annotated


def test_cross_val_score_works_where_kfold_fails():
    # 9 images of different sizes, the first 3 annotated, as from a folder
    # where the annotated images sort first
    shapes = [(4 + i, 5) for i in range(9)]
    X = [np.zeros(shape) for shape in shapes]
    y = [np.zeros(shape, dtype=np.int32) for shape in shapes]
    for label in y[:3]:
        label[1, 1] = 1
    plain_test_folds = [test for _, test in KFold(3).split(X)]
    assert any(not any(np.any(y[i]) for i in test) for test in plain_test_folds)
    with pytest.raises(ValueError, match="no annotated"):
        cross_val_score(_NeedsAnnotatedImages(), X, y, cv=KFold(3), error_score="raise")
    scores = cross_val_score(_NeedsAnnotatedImages(), X, y, cv=AnnotatedKFold(3),
                             error_score="raise")
    np.testing.assert_array_equal(scores, [1, 1, 1])
