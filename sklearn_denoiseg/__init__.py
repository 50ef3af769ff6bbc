"""DenoiSeg: joint Noise2Void denoising and few-shot instance segmentation of
microscopy images, as a scikit-learn estimator on PyTorch."""

from ._estimator import DenoiSegEstimator

__all__ = ["DenoiSegEstimator"]
__version__ = "0.1.0"
