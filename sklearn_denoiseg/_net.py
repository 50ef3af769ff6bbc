"""The skorch network that trains the U-Net with the joint loss."""

import copy
import math

from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.utils import to_tensor

LOSS_TERMS = ("n2v_loss", "seg_loss")
"""Per-term losses recorded in the history, prefixed by ``train_``/``valid_``."""


class TrainingDivergedError(FloatingPointError):
    """Raised when the training loss becomes NaN or infinite."""


class DenoiSegNet(NeuralNet):
    """skorch ``NeuralNet`` that records both terms of the DenoiSeg loss.

    The criterion must provide ``terms`` and ``combine`` like
    :class:`~sklearn_denoiseg._loss.DenoiSegLoss`. The batch-level values are
    recorded as ``train_n2v_loss``, ``train_seg_loss``, ``valid_n2v_loss`` and
    ``valid_seg_loss``; ``PassthroughScoring`` callbacks turn them into epoch
    values. A training loss that is not finite stops training with a
    :class:`TrainingDivergedError`.
    """

    def get_loss(self, y_pred, y_true, X=None, training=False):
        y_true = to_tensor(y_true, device=self.device)
        terms = self.criterion_.terms(y_pred, y_true)
        prefix = "train" if training else "valid"
        for name, value in zip(LOSS_TERMS, terms):
            value = value.item()
            if training and not math.isfinite(value):
                raise TrainingDivergedError(
                    f"training diverged in epoch {len(self.history)}: the {name} became "
                    f"{value}. Try a lower learning rate (lr={self.lr} now), and check "
                    "that the images have no extreme outliers: they are normalised by "
                    "one mean and standard deviation over all training images"
                )
            self.history.record_batch(f"{prefix}_{name}", value)
        return self.criterion_.combine(*terms)


class RestoreBestWeights(Callback):
    """Keep, in memory, the module weights of the epoch with the lowest
    monitored loss, and load them back when training ends.

    Parameters
    ----------
    monitor : str
        History key of the loss, e.g. ``"valid_loss"``.
    """

    def __init__(self, monitor="valid_loss"):
        self.monitor = monitor

    def initialize(self):
        self.best_state_ = None
        self.best_epoch_ = None
        return self

    def on_epoch_end(self, net, **kwargs):
        if net.history[-1, f"{self.monitor}_best"]:
            self.best_state_ = copy.deepcopy(net.module_.state_dict())
            self.best_epoch_ = len(net.history)

    def on_train_end(self, net, **kwargs):
        if self.best_state_ is not None:
            net.module_.load_state_dict(self.best_state_)
        # the copy is not needed any more; do not carry it into pickles
        self.best_state_ = None
