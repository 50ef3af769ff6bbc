"""Reading and writing images and masks as files: TIFF, ``.npy`` and ``.npz``.

These functions back the ``denoiseg`` command line and serve notebooks too::

    from sklearn_denoiseg.io import find_images, read_images, read_masks

    paths = find_images("raw/")                        # a folder, a glob or a file
    X = read_images(paths)
    y = read_masks(paths, "masks/", [x.shape for x in X])   # no mask: unannotated
"""

import glob
from pathlib import Path

import numpy as np
import tifffile

__all__ = ["IMAGE_SUFFIXES", "find_images", "read_image", "read_images", "read_masks",
           "write_tiff"]

IMAGE_SUFFIXES = (".tif", ".tiff", ".npy", ".npz")
"""File types read as images and masks."""


def find_images(source):
    """Image files of a folder, a glob pattern or a single file, sorted by name.

    Parameters
    ----------
    source : str or Path
        A folder (its ``.tif``, ``.tiff``, ``.npy`` and ``.npz`` files), a glob
        pattern such as ``"raw/*.tif"``, or one file.

    Returns
    -------
    list of Path

    Raises
    ------
    FileNotFoundError
        If ``source`` names nothing, or no image file.
    """
    source = str(source)
    path = Path(source)
    if path.is_dir():
        paths = [p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    elif path.is_file():
        paths = [path]
    else:
        paths = [Path(p) for p in glob.glob(source) if Path(p).is_file()]
    if not paths:
        raise FileNotFoundError(f"no image files (.tif, .tiff, .npy, .npz) at {source}")
    return sorted(paths)


def read_image(path):
    """Read one 2D grayscale image.

    Singleton dimensions (as in ImageJ TIFFs of shape (1, H, W)) are dropped.

    Parameters
    ----------
    path : str or Path
        A ``.tif``/``.tiff`` file, a ``.npy`` file, or a ``.npz`` file holding
        exactly one array.

    Returns
    -------
    ndarray of shape (H, W)

    Raises
    ------
    ValueError
        If the file cannot be read or does not hold one 2D image (a stack,
        an RGB image, ...), naming the file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            array = tifffile.imread(path)
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
    squeezed = np.squeeze(array)
    if squeezed.ndim != 2:
        hint = ""
        if array.ndim == 3 and array.shape[-1] in (3, 4):
            hint = " (it looks like an RGB image; convert it to grayscale)"
        elif array.ndim >= 3:
            hint = " (it looks like a stack; save each 2D image as its own file)"
        raise ValueError(
            f"{path}: has shape {array.shape}, but only 2D grayscale images are "
            f"supported{hint}"
        )
    return squeezed


def read_images(paths):
    """Read images with :func:`read_image`; returns a list of 2D arrays."""
    return [read_image(path) for path in paths]


def _mask_for(image_path, mask_dir):
    matches = [mask_dir / f"{image_path.stem}{suffix}" for suffix in IMAGE_SUFFIXES]
    matches = [m for m in matches if m.is_file()]
    if len(matches) > 1:
        raise ValueError(
            f"several masks match {image_path.name} in {mask_dir}: "
            + ", ".join(m.name for m in matches)
        )
    return matches[0] if matches else None


def read_masks(image_paths, mask_dir, shapes):
    """Instance masks for images, matched by file name (without extension).

    Parameters
    ----------
    image_paths : list of Path
    mask_dir : str or Path
        Folder with one mask per annotated image, e.g. ``img_003.tif`` for
        ``raw/img_003.tif``.
    shapes : list of tuple
        Shapes of the images, which the masks must have.

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
        If a mask's shape differs from its image's, naming both files.
    """
    mask_dir = Path(mask_dir)
    if not mask_dir.is_dir():
        raise FileNotFoundError(f"mask folder {mask_dir} does not exist")
    masks = []
    for image_path, shape in zip(map(Path, image_paths), shapes):
        shape = tuple(shape)
        mask_path = _mask_for(image_path, mask_dir)
        if mask_path is None:
            masks.append(np.zeros(shape, dtype=np.int32))
            continue
        mask = read_image(mask_path)
        if mask.shape != shape:
            raise ValueError(
                f"{mask_path} has shape {mask.shape} but {image_path} has shape {shape}"
            )
        masks.append(mask)
    return masks


def write_tiff(path, array, *, overwrite=False):
    """Write a 2D array as TIFF, never replacing a file unless asked to.

    Integer label images are stored as uint16 when their largest id fits,
    uint32 otherwise; floating-point images as float32.

    Parameters
    ----------
    path : str or Path
    array : ndarray of shape (H, W)
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
