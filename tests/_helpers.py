"""Small estimators shared by the tests."""

from sklearn_denoiseg import DenoiSegEstimator

TINY = dict(depth=2, n_filters=8, patch_size=32, batch_size=8, verbose=0)
"""A network and batches small enough for tests on two CPU cores."""


def tiny_estimator(**params):
    """A DenoiSegEstimator that fits in about a second."""
    return DenoiSegEstimator(
        **{**TINY, "max_epochs": 2, "steps_per_epoch": 3, "random_state": 0, **params}
    )
