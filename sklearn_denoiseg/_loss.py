"""The joint DenoiSeg loss (Eq. 1 of the paper) as a criterion module."""

import torch
from torch import nn
from torch.nn import functional as F

from ._channels import ChannelLayout
from ._targets import IGNORE


class DenoiSegLoss(nn.Module):
    """``alpha * L_d + (1 - alpha) * L_s``.

    ``L_d`` is the Noise2Void term: the squared error of the denoised channel
    against the unmasked input, averaged over the blind-spot pixels of the
    batch. ``L_s`` is the segmentation term: the class-weighted softmax
    cross-entropy of the three class logits, zero on pixels without a target
    (unannotated images, padding) and averaged over *all* pixels of the batch,
    so its scale follows the share of annotated pixels in the batch.

    Parameters
    ----------
    alpha : float, default=0.5
        Weight of the denoising term, in [0, 1].
    class_weights : sequence of 3 floats, default=(1.0, 1.0, 5.0)
        Weights of background, foreground and border pixels.
    n_channels : int, default=1
        Channels of the images; the denoising term averages over the blind
        spots of all channels.

    Notes
    -----
    The target is a dict with ``"original"`` (B, C, *spatial) float, the input
    before masking; ``"n2v_mask"`` (B, C, *spatial) bool, the blind-spot
    pixels; and ``"classes"`` (B, *spatial) int, the class per pixel or -1 for
    no target.
    """

    def __init__(self, alpha=0.5, class_weights=(1.0, 1.0, 5.0), n_channels=1):
        super().__init__()
        self.alpha = alpha
        self.layout = ChannelLayout(n_channels)
        self.register_buffer(
            "class_weights", torch.as_tensor(class_weights, dtype=torch.float32)
        )

    def terms(self, y_pred, y_true):
        """The denoising and segmentation terms, before weighting by alpha.

        Returns
        -------
        n2v_loss, seg_loss : scalar tensors
        """
        y_pred = y_pred.float()
        mask = y_true["n2v_mask"].to(y_pred.dtype)
        denoised, original = y_pred[:, self.layout.denoised], y_true["original"]
        if denoised.shape != original.shape:
            raise ValueError(f"target 'original' has shape {tuple(original.shape)}, but the "
                             f"denoised output has shape {tuple(denoised.shape)}")
        squared_error = (denoised - original) ** 2
        n2v_loss = (squared_error * mask).sum() / mask.sum().clamp_min(1.0)
        classes = y_true["classes"].long()
        seg_loss = F.cross_entropy(
            y_pred[:, self.layout.classes],
            classes,
            weight=self.class_weights,
            ignore_index=IGNORE,
            reduction="sum",
        ) / classes.numel()
        return n2v_loss, seg_loss

    def combine(self, n2v_loss, seg_loss):
        """Weight the two terms into the training loss."""
        return self.alpha * n2v_loss + (1.0 - self.alpha) * seg_loss

    def forward(self, y_pred, y_true):
        return self.combine(*self.terms(y_pred, y_true))
