"""Errors and warnings of sklearn_denoiseg, as classes.

Filter or catch them by type, never by message text::

    import warnings
    from sklearn_denoiseg.exceptions import ThresholdOnTrainingImagesWarning

    warnings.simplefilter("ignore", ThresholdOnTrainingImagesWarning)
"""

__all__ = [
    "TrainingDivergedError",
    "FitInterruptedWarning",
    "UnreadableCheckpointWarning",
    "ThresholdOnTrainingImagesWarning",
    "DeviceFallbackWarning",
    "BinaryMaskWarning",
    "NoObjectsFoundWarning",
    "WorkerLostError",
]


class TrainingDivergedError(FloatingPointError):
    """Raised when the training loss becomes NaN or infinite."""


class FitInterruptedWarning(UserWarning):
    """``fit`` was interrupted (Ctrl-C): the model keeps the best weights so
    far, but did not train for all its epochs."""


class UnreadableCheckpointWarning(UserWarning):
    """The checkpoint of this fit in ``checkpoint_dir`` could not be read
    (truncated or corrupted by something other than training, which writes
    it atomically), so the fit starts from its first epoch; the unreadable
    file is kept beside the new one, renamed to end in ``.unreadable``."""


class ThresholdOnTrainingImagesWarning(UserWarning):
    """No annotated validation image was available, so the foreground
    threshold was tuned on annotated training images and may be optimistic;
    when nothing else could be validated on (a segmentation-only model),
    the weights kept are also those of the lowest training loss."""


class DeviceFallbackWarning(UserWarning):
    """A model made for a device that is missing here (a GPU) runs on the CPU."""


class BinaryMaskWarning(UserWarning):
    """A mask file holds 0 and a single other value (0/1, 0/255, bool), so it
    is read as a binary mask: each connected component becomes one object and
    touching objects merge. Save one id per object to keep them apart."""


class NoObjectsFoundWarning(UserWarning):
    """Every foreground threshold tried scored an AP of 0 on the annotated
    images that tune it (the network finds none of their objects yet), so
    the search had nothing to choose by and ``threshold_`` fell back to 0.5
    rather than to a threshold that finds no object at all."""


class WorkerLostError(RuntimeError):
    """A task of a search on Dask was lost with its worker and could not be
    run again: the message names the task (the parameter candidate and CV
    split for ``GridSearchCV``) and why it was lost. The Dask error is its
    ``__cause__``.

    Attributes
    ----------
    task : str
        What the lost task was computing.
    reason : str
        Why Dask gave it up.
    """

    def __init__(self, task, reason):
        super().__init__(f"{task} was lost with a Dask worker: {reason}")
        self.task = task
        self.reason = reason

    def __reduce__(self):
        # pickled by joblib and Dask; rebuilt from its two fields
        return type(self), (self.task, self.reason)
