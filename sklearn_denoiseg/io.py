"""Reading and writing images and masks as files: TIFF, ``.npy`` and ``.npz``.

These functions back the ``denoiseg`` command line and serve notebooks too::

    from sklearn_denoiseg.io import find_images, read_images, read_masks

    paths = find_images("raw/")          # a folder, a glob, a file, or a list of them
    X = read_images(paths)
    y = read_masks(paths, "masks/", [x.shape for x in X])   # no mask: unannotated
"""

import glob
import os
import warnings
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage

from ._axes import AXES, ImageAxes
from .exceptions import BinaryMaskWarning

__all__ = ["IMAGE_SUFFIXES", "MASK_SUFFIXES", "find_images", "read_image", "read_images",
           "read_masks", "write_tiff"]

IMAGE_SUFFIXES = (".tif", ".tiff", ".npy", ".npz")
"""File types read as images and masks."""

MASK_SUFFIXES = ("", "_mask", "_masks", "_label", "_labels", "_seg")
"""Endings after an image's name that mark its mask: the mask of ``img.tif``
is ``img.tif``, ``img_mask.tif``, ... in the mask folder."""


def find_images(sources):
    """Image files of folders, glob patterns or files, sorted by name.

    Parameters
    ----------
    sources : str, Path or list of them
        Each a folder (its ``.tif``, ``.tiff``, ``.npy`` and ``.npz`` files),
        a glob pattern such as ``"raw/*.tif"``, or one file. A list, as a
        shell makes from an unquoted ``raw/*.tif``, combines the files of
        all; a file named twice is returned once.

    Returns
    -------
    list of Path

    Raises
    ------
    FileNotFoundError
        If a source names nothing, or no image file.
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    # keyed by the resolved path so that "raw/" and "raw/*.tif" name a file once
    unique = {}
    for source in sources:
        for path in _images_at(str(source)):
            unique.setdefault(path.resolve(), path)
    return sorted(unique.values())


def _images_at(source):
    path = Path(source)
    if path.is_dir():
        paths = [p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    elif path.is_file():
        paths = [path]
    else:
        paths = [Path(p) for p in glob.glob(source) if Path(p).is_file()]
    if not paths:
        raise FileNotFoundError(f"no image files (.tif, .tiff, .npy, .npz) at {source}")
    return paths


def read_image(path, axes="YX"):
    """Read one image with the given axes.

    TIFF files say which axis is which (tifffile's series axes, from OME or
    ImageJ metadata): the image is then transposed into ``axes``, and axes
    of size 1 that ``axes`` does not name are dropped. Without that
    information (``.npy``, ``.npz``, plain TIFF stacks) every axis of size 1
    is dropped and the rest must already be in the order of ``axes``.

    Parameters
    ----------
    path : str or Path
        A ``.tif``/``.tiff`` file, a ``.npy`` file, or a ``.npz`` file holding
        exactly one array.
    axes : str, default="YX"
        Axes of the image to return, e.g. "YX", "ZYX" or "YXC".

    Returns
    -------
    ndarray with one axis per letter of ``axes``

    Raises
    ------
    ValueError
        If the file cannot be read or does not hold an image with these axes
        (a stack or an RGB image read as 2D, ...), naming the file.
    """
    spec = ImageAxes(axes)
    path = Path(path)
    suffix = path.suffix.lower()
    file_axes = None
    try:
        if suffix in (".tif", ".tiff"):
            with tifffile.TiffFile(path) as tiff:
                series = tiff.series[0]
                array, file_axes = series.asarray(), series.axes.replace("S", "C")
        elif suffix == ".npy":
            array = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                if len(archive.files) != 1:
                    raise ValueError(
                        f"holds {len(archive.files)} arrays ({', '.join(archive.files)}); "
                        "expected exactly one"
                    )
                array = archive[archive.files[0]]
        else:
            raise ValueError(f"unsupported file type {suffix!r}; use one of {IMAGE_SUFFIXES}")
    except FileNotFoundError:
        raise
    except Exception as error:  # every reader has its own exceptions
        raise ValueError(f"{path}: cannot read it as an image ({error})") from error
    if file_axes is not None and len(file_axes) == array.ndim and set(file_axes) <= set("ZYXC"):
        kept = [i for i, (side, axis) in enumerate(zip(array.shape, file_axes))
                if side > 1 or axis in spec.axes]
        array = array.reshape([array.shape[i] for i in kept])
        file_axes = "".join(file_axes[i] for i in kept)
        if sorted(file_axes) == sorted(spec.axes):
            return np.transpose(array, [file_axes.index(axis) for axis in spec.axes])
        raise ValueError(f"{path}: has shape {array.shape} with axes {file_axes!r}, but "
                         f"axes={spec.axes!r} was asked for{_axes_hint(file_axes, spec)}")
    squeezed = np.squeeze(array)
    if squeezed.ndim != len(spec.axes):
        raise ValueError(f"{path}: has shape {array.shape}, but axes={spec.axes!r} implies "
                         f"{len(spec.axes)} dimensions{_shape_hint(array, spec)}")
    return squeezed


def _axes_hint(file_axes, spec):
    hint = f"; pass --axes {file_axes} (axes={file_axes!r})" if file_axes in AXES else ""
    if spec.axes == "YX" and "C" in file_axes:
        return f" (it looks like an RGB image or channels: convert it to grayscale{hint})"
    if spec.axes == "YX" and "Z" in file_axes:
        return f" (it looks like a stack{hint})"
    return hint


def _shape_hint(array, spec):
    if spec.axes != "YX":
        return ""
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        return " (it looks like an RGB image; convert it to grayscale, or pass --axes YXC)"
    if array.ndim >= 3:
        return (" (it looks like a stack: pass --axes ZYX, or save each 2D image as its own "
                "file)")
    return ""


def read_images(paths, axes="YX"):
    """Read images with :func:`read_image`; returns a list of arrays."""
    return [read_image(path, axes) for path in paths]


def _describe_suffixes(suffixes):
    names = [repr(suffix) if suffix else "nothing" for suffix in suffixes]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _some_names(names, limit=3):
    """The first ``limit`` names and how many more there are."""
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _no_mask_matches(image_paths, mask_dir, suffixes):
    files = sorted(p.name for p in mask_dir.iterdir() if p.is_file())
    held = f"holds {_some_names(files)}" if files else "holds no file"
    return ValueError(
        f"no file in the mask folder {mask_dir} matches an image: the images are "
        f"{_some_names(p.name for p in image_paths)}, and {mask_dir} {held}; the mask of "
        f"IMAGE.tif is found as IMAGE followed by {_describe_suffixes(suffixes)}, then "
        f"{', '.join(IMAGE_SUFFIXES)}; rename the masks or give their ending with "
        "--mask-suffix (mask_suffix= in Python)"
    )


def _label_binary(mask):
    """Connected components of a mask holding 0 and a single other value, and
    their number; None for an instance mask (0 and several ids)."""
    foreground = mask[mask != 0]
    if foreground.size == 0 or np.any(foreground != foreground[0]):
        return None
    return ndimage.label(mask)


def read_masks(image_paths, mask_dir, shapes, *, mask_suffix=None, axes="YX"):
    """Instance masks for images, matched by file name.

    Parameters
    ----------
    image_paths : list of Path
    mask_dir : str or Path
        Folder with one mask per annotated image: for ``raw/img_003.tif``,
        ``img_003`` followed by one of :data:`MASK_SUFFIXES` (or by
        ``mask_suffix``) and one of :data:`IMAGE_SUFFIXES`, e.g.
        ``img_003.tif`` or ``img_003_mask.tif``.
    shapes : list of tuple
        Shapes of the images, which the masks must have.
    mask_suffix : str, optional
        The only ending tried after the image's name, e.g. ``"_cp_masks"``;
        ``""`` for masks named like their image. By default every ending of
        :data:`MASK_SUFFIXES` is tried.
    axes : {"YX", "ZYX"}, default="YX"
        The spatial axes of the masks (those of the images without "C").

    Returns
    -------
    list of ndarray
        One label image per input image; an image without a mask gets an
        all-zero label image (unannotated).

    Raises
    ------
    FileNotFoundError
        If ``mask_dir`` is not a folder.
    ValueError
        If ``mask_dir`` has no mask for any image (naming some images, some
        files of ``mask_dir`` and the endings tried), if several files match
        one image, or if a mask cannot be read or its shape differs from its
        image's, naming the files.

    Warns
    -----
    BinaryMaskWarning
        Once per call, naming the masks read as binary masks that hold
        several connected components.

    Notes
    -----
    A mask holding 0 and a single other value (0/1, 0/255, bool) is read as
    a binary (semantic) mask: each connected component (face connectivity:
    4 in 2D, 6 in 3D) becomes one object, since a single id cannot tell
    objects apart.
    Touching objects then merge into one; save one id per object to keep
    them apart. A mask of exactly one object labelled 1 is read alike: its
    single component stays one object, so no warning is given for it.
    """
    mask_dir = Path(mask_dir)
    if not mask_dir.is_dir():
        raise FileNotFoundError(f"mask folder {mask_dir} does not exist")
    if mask_suffix is None:
        suffixes = MASK_SUFFIXES
    elif isinstance(mask_suffix, str):
        suffixes = (mask_suffix,)
    else:
        raise TypeError(f"mask_suffix must be a string or None, got {mask_suffix!r}")
    image_paths = [Path(p) for p in image_paths]
    candidates = {}
    for path in mask_dir.iterdir():
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            candidates.setdefault(path.stem, []).append(path)
    masks, binary, matched = [], [], False
    for image_path, shape in zip(image_paths, shapes):
        shape = tuple(shape)
        matches = sorted(m for suffix in suffixes
                         for m in candidates.get(image_path.stem + suffix, []))
        if len(matches) > 1:
            raise ValueError(f"several masks match {image_path.name} in {mask_dir}: "
                             + ", ".join(m.name for m in matches))
        if not matches:
            masks.append(np.zeros(shape, dtype=np.int32))
            continue
        matched = True
        mask_path = matches[0]
        mask = read_image(mask_path, axes)
        if mask.shape != shape:
            raise ValueError(
                f"{mask_path} has shape {mask.shape} but {image_path} has shape {shape}"
            )
        components = _label_binary(mask)
        if components is not None:
            mask, n_objects = components
            if n_objects > 1:
                binary.append(mask_path.name)
        masks.append(mask)
    if image_paths and not matched:
        raise _no_mask_matches(image_paths, mask_dir, suffixes)
    if binary:
        warnings.warn(
            f"{len(binary)} mask(s) in {mask_dir} hold a single nonzero value and several "
            f"objects ({_some_names(binary)}); each connected component is read as one "
            "object, so touching objects merge: save masks with one id per object to "
            "keep them apart",
            BinaryMaskWarning, stacklevel=2,
        )
    return masks


def write_tiff(path, array, *, overwrite=False):
    """Write an image, a stack or a label volume as TIFF, never replacing a
    file unless asked to.

    Integer label images are stored as uint16 when their largest id fits,
    uint32 otherwise; floating-point images as float32.

    Parameters
    ----------
    path : str or Path
    array : ndarray (2D or 3D)
    overwrite : bool, default=False

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    array = np.asarray(array)
    if array.dtype.kind in "iub":
        dtype = np.uint16 if array.max(initial=0) < 2**16 else np.uint32
    else:
        dtype = np.float32
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, array.astype(dtype, copy=False))
