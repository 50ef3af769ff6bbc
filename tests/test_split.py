import numpy as np
import pytest

from sklearn_denoiseg._split import split_images


@pytest.mark.parametrize(
    "annotated, n_valid_annotated",
    [([True] * 2 + [False] * 18, 1), ([True] * 10 + [False] * 10, 2), ([False] * 7, 0)],
)
def test_stratified_and_disjoint(annotated, n_valid_annotated):
    annotated = np.array(annotated)
    train, valid = split_images(annotated, 0.15, np.random.default_rng(0))
    assert set(train).isdisjoint(valid)
    assert sorted([*train, *valid]) == list(range(len(annotated)))
    assert annotated[valid].sum() == n_valid_annotated
    if annotated.sum() >= 2:
        assert annotated[train].sum() >= 1


def test_single_image_and_zero_fraction_have_no_validation():
    for annotated, fraction in (([True], 0.15), ([True, False, False], 0.0)):
        train, valid = split_images(np.array(annotated), fraction, np.random.default_rng(0))
        assert len(valid) == 0 and len(train) == len(annotated)


def test_two_images_of_different_kinds_validate_on_unannotated():
    train, valid = split_images(np.array([True, False]), 0.15, np.random.default_rng(0))
    assert list(train) == [0] and list(valid) == [1]
