"""The DenoiSeg U-Net: one network, a denoised channel plus three class logits."""


import torch
import torch.nn.functional as F
from torch import nn

from ._channels import ChannelLayout


LAYERS = {
    2: (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d),
    3: (nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d),
}
"""Convolution, batch normalisation and pooling per number of spatial axes."""


def memory_format(n_dims):
    """The channels-last memory format of tensors with ``n_dims`` spatial axes."""
    return torch.channels_last if n_dims == 2 else torch.channels_last_3d


class BlurPool(nn.Module):
    """Anti-aliased down-sampling of N2V2: a 2x2 max-pool with stride 1, then
    a binomial blur (``[1, 2, 1] / 4`` on each axis) with stride 2.

    Output pixel ``i`` blurs the max-pooled pixels ``2i - 1, 2i, 2i + 1``
    (reflected at the borders), so the grid stays anchored at the origin like
    a max-pool's. Works on 2D and 3D feature maps.

    Parameters
    ----------
    channels : int
    n_dims : {2, 3}
    """

    def __init__(self, channels, n_dims):
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0]) / 4
        kernel = taps
        for _ in range(n_dims - 1):
            kernel = kernel[..., None] * taps
        self.register_buffer("kernel", kernel.expand(channels, 1, *kernel.shape).clone())
        self.n_dims = n_dims

    def forward(self, x):
        x = F.pad(x, (0, 1) * self.n_dims, mode="replicate")
        x = (F.max_pool2d if self.n_dims == 2 else F.max_pool3d)(x, kernel_size=2, stride=1)
        x = F.pad(x, (1, 1) * self.n_dims, mode="reflect")
        conv = F.conv2d if self.n_dims == 2 else F.conv3d
        return conv(x, self.kernel.to(x.dtype), stride=2, groups=x.shape[1])


def _conv_block(in_channels, out_channels, batch_norm, n_dims):
    conv, norm, _ = LAYERS[n_dims]
    layers = [conv(in_channels, out_channels, kernel_size=3, padding=1)]
    if batch_norm:
        layers.append(norm(out_channels))
    layers.append(nn.ReLU(inplace=True))
    return layers


def _double_conv(in_channels, mid_channels, out_channels, batch_norm, n_dims):
    return nn.Sequential(
        *_conv_block(in_channels, mid_channels, batch_norm, n_dims),
        *_conv_block(mid_channels, out_channels, batch_norm, n_dims),
    )


class UNet(nn.Module):
    """U-Net of the DenoiSeg paper, for 2D or 3D images with any channels.

    Level ``l`` of the encoder has ``n_filters * 2**l`` filters; the bottleneck
    has ``n_filters * 2**depth`` then ``n_filters * 2**(depth - 1)``; decoder
    level ``l`` has ``n_filters * 2**l`` then ``n_filters * 2**max(0, l - 1)``.
    Each convolution is 3x3 (3x3x3 in 3D), followed by batch normalisation
    (optional) and a ReLU; down-sampling is 2x2 (2x2x2) max pooling and
    up-sampling nearest neighbour followed by concatenation with the skip
    connection. A linear 1x1
    convolution maps to the outputs of :class:`ChannelLayout`: the denoised
    image and three class logits. With ``n2v2=True`` (Höck et al., 2022),
    :class:`BlurPool` replaces max pooling and the top level has no skip
    connection, which removes the checkerboard artefacts of Noise2Void.

    Parameters
    ----------
    depth : int, default=4
        Number of pooling steps. Inputs must have sides divisible by
        ``2**depth``.
    n_filters : int, default=32
        Filters of the first level.
    batch_norm : bool, default=True
        Whether to normalise after each convolution.
    n_dims : {2, 3}, default=2
        Spatial axes of the images.
    in_channels : int, default=1
        Channels of the images; the network outputs one denoised channel per
        input channel, then the three class logits.
    n2v2 : bool, default=False
        Blur-pool down-sampling and no top-level skip connection.

    Examples
    --------
    >>> import torch
    >>> from sklearn_denoiseg._unet import UNet
    >>> UNet(depth=2, n_filters=8)(torch.zeros(1, 1, 32, 32)).shape
    torch.Size([1, 4, 32, 32])
    """

    def __init__(self, depth=4, n_filters=32, batch_norm=True, n_dims=2, in_channels=1,
                 n2v2=False):
        super().__init__()
        self.depth = depth
        self.n_dims = n_dims
        self.n2v2 = n2v2
        # the arguments that rebuild this network, to load its weights elsewhere
        self.architecture = {"depth": depth, "n_filters": n_filters, "batch_norm": batch_norm,
                             "n_dims": n_dims, "in_channels": in_channels}
        if n2v2:
            self.architecture["n2v2"] = True
        widths = [n_filters * 2**level for level in range(depth + 1)]
        self.encoder = nn.ModuleList()
        channels = in_channels
        for level in range(depth):
            self.encoder.append(
                _double_conv(channels, widths[level], widths[level], batch_norm, n_dims)
            )
            channels = widths[level]
        self.pools = nn.ModuleList(BlurPool(width, n_dims) if n2v2 else LAYERS[n_dims][2](2)
                                   for width in widths[:depth])
        self.bottleneck = _double_conv(
            channels, widths[depth], widths[depth - 1], batch_norm, n_dims
        )
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.decoder = nn.ModuleList()
        for level in reversed(range(depth)):
            self.decoder.append(
                _double_conv(
                    widths[level] * (1 if n2v2 and level == 0 else 2),
                    widths[level],
                    widths[max(0, level - 1)],
                    batch_norm,
                    n_dims,
                )
            )
        self.head = LAYERS[n_dims][0](widths[0], ChannelLayout(in_channels).n_outputs,
                                      kernel_size=1)

    def forward(self, x):
        skips = []
        for block, pool in zip(self.encoder, self.pools):
            x = block(x)
            skips.append(x)
            x = pool(x)
        x = self.bottleneck(x)
        for level, block, skip in zip(reversed(range(self.depth)), self.decoder, reversed(skips)):
            x = self.up(x)
            if not (self.n2v2 and level == 0):
                x = torch.cat([x, skip], dim=1)
            x = block(x)
        return self.head(x)


def receptive_field_radius(depth, n2v2=False):
    """Upper bound, in pixels, on how far an output pixel sees into the input.

    Each 3x3 convolution at level ``l`` widens the field by ``2**l`` on each
    side, and each pooling or up-sampling step by at most ``2**l``. Summing
    the encoder, bottleneck and decoder gives ``8 * 2**depth - 6``. A
    blur-pool (``n2v2``) widens it by up to ``2 * 2**l``: ``2**depth - 1``
    more.

    Examples
    --------
    >>> receptive_field_radius(4), receptive_field_radius(4, n2v2=True)
    (122, 137)
    """
    return 8 * 2**depth - 6 + (2**depth - 1 if n2v2 else 0)
