"""The network's output channels, named in one place.

For images with ``n_channels`` channels the U-Net outputs one denoised
channel per input channel, then three segmentation logits (background,
foreground, border); prediction turns the logits into probabilities.
"""

from dataclasses import dataclass

CLASS_NAMES = ("background", "foreground", "border")


@dataclass(frozen=True)
class ChannelLayout:
    """Where each output of the network lies along its channel axis.

    Parameters
    ----------
    n_channels : int, default=1
        Channels of the input images.

    Examples
    --------
    >>> layout = ChannelLayout()
    >>> layout.n_outputs, layout.denoised, layout.classes, layout.foreground
    (4, slice(0, 1, None), slice(1, 4, None), 2)
    >>> layout.names
    ('denoised', 'background', 'foreground', 'border')
    """

    n_channels: int = 1

    @property
    def n_outputs(self):
        return self.n_channels + len(CLASS_NAMES)

    @property
    def denoised(self):
        """Slice of the denoised channels."""
        return slice(0, self.n_channels)

    @property
    def classes(self):
        """Slice of the class logits (probabilities after prediction)."""
        return slice(self.n_channels, self.n_outputs)

    @property
    def foreground(self):
        """Index of the foreground channel."""
        return self.n_channels + CLASS_NAMES.index("foreground")

    @property
    def names(self):
        """Name of every output channel, in order."""
        denoised = (("denoised",) if self.n_channels == 1
                    else tuple(f"denoised_{c}" for c in range(self.n_channels)))
        return denoised + CLASS_NAMES
