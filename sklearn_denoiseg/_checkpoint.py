"""Training checkpoints: written after every epoch, read to resume a fit.

A checkpoint is a model file (see ``_persistence``) that also carries what
training needs to go on exactly where it stopped: optimiser and learning-rate
scheduler states, the best weights so far, the epoch count and the state of
the batch-seed generator.
"""

import hashlib

import numpy as np
from skorch.callbacks import Callback, PassthroughScoring
from skorch.history import History

from . import _persistence


def fingerprint(params, *arrays):
    """Digest of the training configuration and data.

    Two fits share a checkpoint file only when their parameters (pass those
    that affect training) and their images and labels are identical, so
    parallel fits (``GridSearchCV``, cross-validation folds) never overwrite
    each other's checkpoints.

    Parameters
    ----------
    params : dict
        Plain values.
    *arrays : lists of ndarray
        Images, labels, validation images, ... in a fixed order.
    """
    digest = hashlib.blake2b(digest_size=16)
    digest.update(_persistence.dumps_metadata(params).encode())
    for array in [array for group in arrays for array in group]:
        digest.update(str((array.shape, array.dtype.str)).encode())
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


class Checkpoint(Callback):
    """Write a checkpoint file at the end of every epoch.

    Parameters
    ----------
    path : Path
        File to (over)write.
    metadata : dict
        Plain values describing the fit (parameters, normalisation, seeds).
    resume : dict or None
        A checkpoint payload read from disk; its optimiser, scheduler and
        best-score states are restored when training begins.
    """

    def __init__(self, path, metadata, resume=None):
        self.path = path
        self.metadata = metadata
        self.resume = resume

    def on_train_begin(self, net, **kwargs):
        if self.resume is None:
            return
        # the scheduler only exists once training begins, so its state is
        # restored here rather than with the weights
        callbacks = dict(net.callbacks_)
        callbacks["lr_scheduler"].lr_scheduler_.load_state_dict(self.resume["scheduler"])
        for callback in callbacks.values():
            if isinstance(callback, PassthroughScoring) and net.history:
                scores = [row[callback.name] for row in net.history if callback.name in row]
                if scores:
                    callback.best_score_ = min(scores)
        self.resume = None

    def on_epoch_end(self, net, **kwargs):
        callbacks = dict(net.callbacks_)
        best = callbacks["restore_best"]
        metadata = {
            **self.metadata,
            "history": list(net.history),
            "epoch": len(net.history),
            "best_epoch": best.best_epoch_,
            "sampler_state": net.iterator_train__sampler.rng.bit_generator.state,
        }
        tensors = {
            "weights": _persistence.cpu_state(net.module_.state_dict()),
            "best_weights": _persistence.cpu_state(best.best_state_),
            "optimizer": _persistence.cpu_state(net.optimizer_.state_dict()),
            "scheduler": callbacks["lr_scheduler"].lr_scheduler_.state_dict(),
        }
        _persistence.write(self.path, metadata, tensors)


def restore(net, metadata, payload):
    """Put a freshly initialised net back into the state of a checkpoint."""
    net.module_.load_state_dict(payload["weights"])
    net.optimizer_.load_state_dict(payload["optimizer"])
    net.history = History(metadata["history"])
    best = dict(net.callbacks_)["restore_best"]
    best.best_state_ = payload["best_weights"]
    best.best_epoch_ = metadata["best_epoch"]
    net.iterator_train__sampler.rng.bit_generator.state = metadata["sampler_state"]
