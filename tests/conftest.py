# sklearn_denoiseg before torch: the package sets libgomp's spin count, which
# libgomp reads only once, when torch loads it (sklearn_denoiseg._openmp)
import sklearn_denoiseg  # noqa: F401, I001

import numpy as np
import pytest
import torch

from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg.datasets import make_blobs

from ._helpers import TINY

@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def blobs():
    """Eight 48x48 images of disks; four annotated, four not."""
    X, y = make_blobs(n_images=8, shape=(48, 48), random_state=0)
    y_partial = y.copy()
    y_partial[4:] = 0
    return X, y, y_partial


@pytest.fixture(scope="session")
def trained(blobs):
    """One estimator trained long enough to segment the blobs, shared by tests
    that only read from it."""
    X, _, y_partial = blobs
    return DenoiSegEstimator(
        **TINY, max_epochs=12, steps_per_epoch=10, lr=4e-3, random_state=0
    ).fit(X, y_partial)
