"""Checks of user input: images, label images and estimator parameters.

Errors name the argument, what was expected and what was given.
"""

import numbers

import numpy as np

from ._axes import ImageAxes


def check_images(X, name="X", axes=ImageAxes(), n_channels=None):
    """Validate a stack or a list of images with the given axes.

    Parameters
    ----------
    X : ndarray of shape (n, *image_axes) or sequence of array-likes
    name : str
        Argument name used in error messages.
    axes : ImageAxes, default=ImageAxes("YX")
        Axes of one image.
    n_channels : int or None, default=None
        Channels every image must have (those of a trained model); None
        only asks that all images have the same.

    Returns
    -------
    images : list of ndarray
        The images, not copied when already arrays.
    is_stack : bool
        Whether ``X`` was an ndarray, so outputs can take the same form.
    """
    implied = axes.describe()
    if isinstance(X, np.ndarray):
        if X.ndim != len(axes.axes) + 1:
            raise ValueError(
                f"{name} has shape {X.shape}, but axes={axes.axes!r} implies an array of "
                f"shape (n_images, {implied[1:]} or a list of images of shape {implied}"
                + _layout_hint(X.ndim, axes, name)
            )
        images, is_stack = list(X), True
    elif isinstance(X, (list, tuple)):
        images, is_stack = [np.asarray(image) for image in X], False
    else:
        raise TypeError(
            f"{name} must be a numpy array of shape (n_images, {implied[1:]} or a list "
            f"of images of shape {implied}; got {type(X).__name__}"
        )
    if not images:
        raise ValueError(f"{name} holds no image; expected at least one")
    for i, image in enumerate(images):
        if image.dtype.kind not in "uif":
            raise TypeError(
                f"{name}[{i}] must hold real numbers (integer or float); "
                f"got dtype {image.dtype}"
            )
        if image.ndim != len(axes.axes):
            raise ValueError(
                f"{name}[{i}] has shape {image.shape}, but axes={axes.axes!r} implies an "
                f"image of shape {implied}" + _layout_hint(image.ndim + 1, axes, f"{name}[{i}]")
            )
        if image.size == 0:
            raise ValueError(f"{name}[{i}] is empty (shape {image.shape})")
        if n_channels is not None and axes.n_channels(image) != n_channels:
            raise ValueError(
                f"{name}[{i}] has {axes.n_channels(image)} channel(s) (shape {image.shape}, "
                f"axes={axes.axes!r}) but the model was trained on images with {n_channels}"
            )
        if axes.n_channels(image) != axes.n_channels(images[0]):
            raise ValueError(
                f"{name}[{i}] has {axes.n_channels(image)} channels but {name}[0] has "
                f"{axes.n_channels(images[0])}; every image needs the same channels"
            )
        if image.dtype.kind == "f" and not np.isfinite(image).all():
            raise ValueError(f"{name}[{i}] contains NaN or infinite values")
    return images, is_stack


def _layout_hint(ndim, axes, name):
    """What an array with ``ndim`` dimensions (batch axis included) may have
    been meant as, for error messages."""
    if ndim == len(axes.axes):
        other = (f", or images without channels: use axes={axes.spatial!r}"
                 if axes.channel_axis is not None else "")
        return (f"; it reads as a single image: pass {name}[np.newaxis] or a list with "
                f"one image{other}")
    if axes.axes == "YX" and ndim == 4:
        return ("; for Z-stacks use axes='ZYX', for 2D images with channels axes='YXC' "
                "or 'CYX'")
    return ""


def check_labels(y, images, name="y", images_name="X", axes=ImageAxes()):
    """Validate instance label images that go with ``images``.

    Labels cover the spatial axes of the images (no channel axis) and must be
    integers >= 0 (floats holding whole numbers are accepted); an all-zero
    image means "not annotated".

    Returns
    -------
    labels : list of ndarray
    """
    for i, label in enumerate(y if isinstance(y, (list, tuple)) else [y]):
        if np.asarray(label).dtype == bool:
            where = name if not isinstance(y, (list, tuple)) else f"{name}[{i}]"
            raise TypeError(
                f"{where} is a boolean mask, but instance labels (integers, 0 = background, "
                "one id per object) are expected; label its objects first, e.g. with "
                "skimage.measure.label(mask)")
    labels, _ = check_images(y, name, ImageAxes(axes.spatial))
    if len(labels) != len(images):
        raise ValueError(
            f"{name} holds {len(labels)} label images but {images_name} holds {len(images)} "
            "images"
        )
    for i, (label, image) in enumerate(zip(labels, images)):
        if label.shape != axes.spatial_shape(image):
            raise ValueError(
                f"{name}[{i}] has shape {label.shape} but {images_name}[{i}] has shape "
                f"{image.shape}" + ("" if axes.channel_axis is None else
                                    f" (labels cover the axes {axes.spatial} only)")
            )
        if label.dtype.kind == "f" and not np.array_equal(label, np.round(label)):
            raise ValueError(
                f"{name}[{i}] must hold integer instance labels; got non-integer values"
            )
        if label.min() < 0:
            raise ValueError(
                f"{name}[{i}] holds negative labels (min {label.min()}); expected "
                "instance ids >= 0 with 0 for background"
            )
        if label.max() > np.iinfo(np.int32).max:
            raise ValueError(
                f"{name}[{i}] holds label ids above {np.iinfo(np.int32).max}"
            )
    return labels


def check_scalar(value, name, *, kind=numbers.Real, low=None, high=None,
                 low_inclusive=True, high_inclusive=True, allow=()):
    """Check one parameter's type and range; return it unchanged."""
    if allow and isinstance(value, (str, type(None))) and value in allow:
        return value
    if isinstance(value, bool) or not isinstance(value, kind):
        expected = "an integer" if kind is numbers.Integral else "a number"
        extra = f" or one of {allow}" if allow else ""
        raise TypeError(f"{name} must be {expected}{extra}; got {value!r}")
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    too_high = high is not None and (value > high if high_inclusive else value >= high)
    if too_low or too_high:
        left = "[" if low_inclusive else "("
        right = "]" if high_inclusive else ")"
        low_text = "-inf" if low is None else low
        high_text = "inf" if high is None else high
        raise ValueError(
            f"{name} must be in {left}{low_text}, {high_text}{right}; got {value!r}"
        )
    return value
