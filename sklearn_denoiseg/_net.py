"""The skorch network that trains the U-Net with the joint loss."""

import copy
import math

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback

from ._unet import memory_format
from .exceptions import TrainingDivergedError

LOSS_TERMS = ("n2v_loss", "seg_loss")
"""Per-term losses recorded in the history, prefixed by ``train_``/``valid_``."""


class DenoiSegNet(NeuralNet):
    """skorch ``NeuralNet`` that records both terms of the DenoiSeg loss.

    The criterion must provide ``terms`` and ``combine`` like
    :class:`~sklearn_denoiseg._loss.DenoiSegLoss`. The batch-level values are
    recorded as ``train_n2v_loss``, ``train_seg_loss``, ``valid_n2v_loss`` and
    ``valid_seg_loss``; ``PassthroughScoring`` callbacks turn them into epoch
    values. A training loss that is not finite stops training with a
    :class:`TrainingDivergedError`.

    Parameters
    ----------
    autocast_dtype : torch.dtype or None, default=None
        Run the forward pass under ``torch.autocast`` with this dtype (mixed
        precision; the loss is computed in float32). None runs in float32.
    channels_last : bool, default=False
        Keep the module and its inputs in channels-last memory format, which
        is faster for convolutions on recent CPUs and GPUs.
    frozen : tuple of str, default=()
        Submodules of the module (e.g. ``"encoder"``) that training leaves
        unchanged: their parameters get no gradient and their batch
        normalisation keeps its running statistics.
    **kwargs
        Passed to ``skorch.NeuralNet``.
    """

    def __init__(self, *args, autocast_dtype=None, channels_last=False, frozen=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.autocast_dtype = autocast_dtype
        self.channels_last = channels_last
        self.frozen = frozen

    def initialize_module(self):
        super().initialize_module()
        if self.channels_last:
            self.module_.to(memory_format=memory_format(self.module_.n_dims))
        for name in self.frozen:
            getattr(self.module_, name).requires_grad_(False)
        return self

    def _set_training(self, training=True):
        super()._set_training(training)
        # evaluation mode: batch normalisation uses and keeps its statistics
        for name in self.frozen:
            getattr(self.module_, name).eval()

    def _to_device(self, value):
        # non_blocking overlaps host-to-GPU copies of pinned batches with compute
        if isinstance(value, dict):
            return {key: self._to_device(item) for key, item in value.items()}
        return torch.as_tensor(value).to(self.device, non_blocking=True)

    def _forward(self, x):
        x = self._to_device(x)
        if self.channels_last:
            x = x.contiguous(memory_format=memory_format(x.ndim - 2))
        device_type = torch.device(self.device).type
        with torch.autocast(
            device_type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None
        ):
            return self.module_(x)

    def infer(self, x, **fit_params):
        return self._forward(x)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        terms = self.criterion_.terms(y_pred, self._to_device(y_true))
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
