"""DenoiSeg: joint Noise2Void denoising and few-shot instance segmentation of
microscopy images, as a scikit-learn estimator on PyTorch."""

from ._openmp import prefer_short_spin_waits

prefer_short_spin_waits()  # before torch is imported

from ._estimator import DenoiSegEstimator  # noqa: E402
from ._predictor import DenoiSegPredictor, Outputs  # noqa: E402
from .exceptions import TrainingDivergedError  # noqa: E402

__all__ = ["DenoiSegEstimator", "DenoiSegPredictor", "Outputs", "TrainingDivergedError"]
__version__ = "0.1.0"
