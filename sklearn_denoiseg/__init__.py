"""DenoiSeg: joint Noise2Void denoising and few-shot instance segmentation of
microscopy images, as a scikit-learn estimator on PyTorch."""

from ._estimator import DenoiSegEstimator
from ._predictor import DenoiSegPredictor, Outputs
from .exceptions import TrainingDivergedError

__all__ = ["DenoiSegEstimator", "DenoiSegPredictor", "Outputs", "TrainingDivergedError"]
__version__ = "0.1.0"
