"""The axes of one image: 2D or 3D, with or without a channel axis.

Inside the package every image is handled channels first, ``(C, *spatial)``
with ``spatial`` of ``(Y, X)`` or ``(Z, Y, X)``; :class:`ImageAxes` converts
between that and the layout the user gave.
"""

from dataclasses import dataclass

import numpy as np

AXES = ("YX", "ZYX", "YXC", "CYX", "ZYXC", "CZYX")
"""The image layouts accepted by the ``axes`` parameter."""


def per_axis(size, n_dims):
    """A size given as one int for every spatial axis, or one int per axis,
    as a tuple of ``n_dims`` ints.

    Examples
    --------
    >>> per_axis(64, 3), per_axis((16, 64, 64), 3)
    ((64, 64, 64), (16, 64, 64))
    """
    if isinstance(size, (int, np.integer)):
        return (int(size),) * n_dims
    return tuple(int(side) for side in size)


@dataclass(frozen=True)
class ImageAxes:
    """Axes of one image, e.g. "YX", "ZYX" or "YXC".

    Parameters
    ----------
    axes : str, default="YX"
        One of :data:`AXES`.

    Examples
    --------
    >>> axes = ImageAxes("YXC")
    >>> axes.spatial, axes.n_spatial, axes.channel_axis
    ('YX', 2, 2)
    >>> axes.to_channels_first(np.zeros((5, 6, 3))).shape
    (3, 5, 6)
    """

    axes: str = "YX"

    def __post_init__(self):
        if self.axes not in AXES:
            raise ValueError(f"axes must be one of {', '.join(map(repr, AXES))}; "
                             f"got {self.axes!r}")

    @property
    def spatial(self):
        """The spatial axes, "YX" or "ZYX"."""
        return self.axes.replace("C", "")

    @property
    def n_spatial(self):
        return len(self.spatial)

    @property
    def channel_axis(self):
        """Position of the channel axis in one image, or None."""
        return self.axes.index("C") if "C" in self.axes else None

    def n_channels(self, image):
        """Number of channels of an image in this layout."""
        return 1 if self.channel_axis is None else image.shape[self.channel_axis]

    def spatial_shape(self, image):
        """Shape of an image in this layout without its channel axis."""
        return tuple(side for axis, side in zip(self.axes, image.shape) if axis != "C")

    def to_channels_first(self, image):
        """``(C, *spatial)`` view of an image in this layout."""
        if self.channel_axis is None:
            return image[np.newaxis]
        return np.moveaxis(image, self.channel_axis, 0)

    def from_channels_first(self, array):
        """Inverse of :meth:`to_channels_first`."""
        if self.channel_axis is None:
            return array[0]
        return np.moveaxis(array, 0, self.channel_axis)

    def describe(self):
        """The shape of one image in words, e.g. "(Z, Y, X)"."""
        return "(" + ", ".join(self.axes) + ")"
