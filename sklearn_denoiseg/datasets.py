"""Data for examples, tests and experiments: synthetic blobs and nuclei, the real
annotated nuclei image shipped by ``stardist``, the published DenoiSeg
datasets, and the paper's noise and label-budget helpers."""

import importlib.util
import zipfile
from pathlib import Path

import numpy as np
from sklearn.utils import check_random_state

from ._synthetic_nuclei import make_nuclei

__all__ = [
    "make_blobs",
    "make_nuclei",
    "load_nuclei",
    "crop_grid",
    "DENOISEG_DATASETS",
    "load_denoiseg_npz",
    "fetch_denoiseg",
    "add_gaussian_noise",
    "keep_annotated",
]


def make_blobs(n_images=8, shape=(64, 64), *, n_blobs=6, radius=(3, 6), noise=0.3,
               random_state=None):
    """Noisy images of separate bright disks (balls, in 3D) and their
    instance labels.

    Disks keep at least two pixels of background between them (placement
    stops after ``100 * n_blobs`` tries), so the connected components of the
    clean foreground are exactly the instances.

    Parameters
    ----------
    n_images : int, default=8
    shape : tuple of 2 or 3 ints, default=(64, 64)
        ``(Y, X)``, or ``(Z, Y, X)`` for 3D stacks of balls.
    n_blobs : int, default=6
        Disks per image, at most.
    radius : tuple of 2 ints, default=(3, 6)
        Smallest and largest disk radius.
    noise : float, default=0.3
        Standard deviation of the added Gaussian noise; disks have intensity 1
        on a background of 0.
    random_state : int, RandomState instance or None

    Returns
    -------
    X : ndarray of shape (n_images, *shape), float32
    y : ndarray of shape (n_images, *shape), int32

    Examples
    --------
    >>> X, y = make_blobs(n_images=2, shape=(32, 48), random_state=0)
    >>> X.shape, y.dtype
    ((2, 32, 48), dtype('int32'))
    """
    rng = check_random_state(random_state)
    y = np.zeros((n_images, *shape), dtype=np.int32)
    for labels in y:
        placed = 0
        for _ in range(100 * n_blobs):
            if placed == n_blobs:
                break
            r = rng.randint(radius[0], radius[1] + 1)
            centre = [rng.randint(0, side) for side in shape]
            # only the disk's neighbourhood (radius + 2 px of background) matters
            window = tuple(
                slice(max(0, c - r - 2), min(side, c + r + 3))
                for c, side in zip(centre, shape)
            )
            distance2 = sum((grid - c) ** 2 for grid, c in zip(np.ogrid[window], centre))
            if labels[window][distance2 <= (r + 2) ** 2].any():
                continue
            placed += 1
            labels[window][distance2 <= r**2] = placed
    clean = (y > 0).astype(np.float32)
    X = clean + rng.normal(0, noise, size=clean.shape).astype(np.float32)
    return X, y


def _stardist_file(name):
    spec = importlib.util.find_spec("stardist")
    if spec is None:
        raise ImportError(
            "the nuclei image ships with the 'stardist' package; install it with "
            "pip install 'sklearn_denoiseg[demo]'"
        )
    return Path(spec.origin).parent / "data" / "images" / name


def load_nuclei():
    """The annotated DSB2018 nuclei image shipped by ``stardist``.

    A 512x512 fluorescence image (uint16, values 0-235) with 125 annotated
    nuclei, read from the installed ``stardist`` package without importing
    it (needs ``pip install 'sklearn_denoiseg[demo]'``).

    Returns
    -------
    image : ndarray of shape (512, 512), float32
    labels : ndarray of shape (512, 512), int32
    """
    import tifffile

    image = tifffile.imread(_stardist_file("img2d.tif")).astype(np.float32)
    labels = tifffile.imread(_stardist_file("mask2d.tif")).astype(np.int32)
    return image, labels


DENOISEG_DATASETS = {
    ("DSB2018", 0): ("https://zenodo.org/record/5156969/files/DSB2018_n0.zip?download=1",
                     "729d7683ccfa1ad437f666256b23e73b3b3b3da6a8e47bb37303f0c64376a299"),
    ("DSB2018", 10): ("https://zenodo.org/record/5156977/files/DSB2018_n10.zip?download=1",
                      "a4cf731aa0652f8198275f8ce29fb98e0c76c391a96b6092d0792fe447e4103a"),
    ("DSB2018", 20): ("https://zenodo.org/record/5156983/files/DSB2018_n20.zip?download=1",
                      "6a732a12bf18fecc590230b1cd4df5e32acfa1b35ef2fca42db811cb8277c67c"),
    ("Flywing", 0): ("https://zenodo.org/record/5156991/files/Flywing_n0.zip?download=1",
                     "3fb49ba44e7e3e20b4fc3c77754f1bbff7184af7f343f23653f258d50e5d5aca"),
    ("Flywing", 10): ("https://zenodo.org/record/5156993/files/Flywing_n10.zip?download=1",
                      "c599981b0900e6b43f0a742f84a5fde664373600dc5334f537b61a76a7be2a3c"),
    ("Flywing", 20): ("https://zenodo.org/record/5156995/files/Flywing_n20.zip?download=1",
                      "604b3a3a081eaa57ee25d708bc9b76b85d05235ba09d7c2b25b171e201ea966f"),
    ("MouseNuclei", 0): ("https://zenodo.org/record/5157001/files/Mouse_n0.zip?download=1",
                         "5d6fd2fc23ab991a8fde4bd0ec5e9fc9299f9a9ddc2a8acb7095f9b02ff3c9d7"),
    ("MouseNuclei", 10): ("https://zenodo.org/record/5157003/files/Mouse_n10.zip?download=1",
                          "de634496e3e46a4887907b713fe6f575e410c3006046054bce67ef9398523c2c"),
    ("MouseNuclei", 20): ("https://zenodo.org/record/5157008/files/Mouse_n20.zip?download=1",
                          "d3d1bf8c89bb97a673a0791874e5b75a6a516ccaaeece0244b4e1e0afe7ab3ec"),
}
"""The published DenoiSeg datasets: ``(name, noise sigma)`` -> (URL, SHA-256
of the zip archive). Each archive holds ``train/train_data.npz`` (X_train,
Y_train, X_val, Y_val) and ``test/test_data.npz`` (X_test, Y_test)."""

_NPZ_KEYS = ("X_train", "Y_train", "X_val", "Y_val", "X_test", "Y_test")


def _as_images(array, key, path):
    if array.dtype == object:  # images of different sizes
        images = [np.asarray(a) for a in array]
    else:
        images = array
    if key.startswith("X"):
        return (np.asarray(images, dtype=np.float32) if array.dtype != object
                else [image.astype(np.float32) for image in images])
    for image in images:
        if not np.issubdtype(image.dtype, np.integer) and not np.array_equal(image, np.round(image)):
            raise ValueError(f"{path}: {key} holds non-integer values; labels must be integers")
    return (np.asarray(images, dtype=np.int32) if array.dtype != object
            else [image.astype(np.int32) for image in images])


def load_denoiseg_npz(*paths, allow_pickle=False):
    """Read DenoiSeg ``.npz`` files into one dictionary of images and labels.

    The published datasets (:func:`fetch_denoiseg`) and the original
    DenoiSeg code store arrays named X_train, Y_train, X_val, Y_val, X_test
    and Y_test, usually split over a training and a test file. Images are
    returned as float32, labels as int32 (label images of all zeros are
    unannotated).

    Parameters
    ----------
    *paths : str or Path
        One or more ``.npz`` files.
    allow_pickle : bool, default=False
        Needed for files holding images of different sizes (stored as object
        arrays, as the published test sets are). Pickled data can run code
        when loaded: allow it only for files you trust or whose checksum you
        verified.

    Returns
    -------
    data : dict
        The arrays found, by name; images of different sizes as lists of 2D
        arrays.

    Raises
    ------
    TypeError
        Without any path.
    FileNotFoundError
        For a missing file.
    ValueError
        For a file that is not an ``.npz`` archive or holds none of the six
        arrays, an array given twice,
        images and labels of different shapes, non-integer labels, or an
        object array with ``allow_pickle=False``.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "data.npz")
    >>> np.savez(path, X_train=np.zeros((3, 8, 8)), Y_train=np.zeros((3, 8, 8), dtype=np.uint16))
    >>> data = load_denoiseg_npz(path)
    >>> data["X_train"].dtype, data["Y_train"].dtype
    (dtype('float32'), dtype('int32'))
    """
    if not paths:
        raise TypeError("load_denoiseg_npz() needs at least one path")
    data = {}
    for path in map(Path, paths):
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
        try:
            archive = np.load(path, allow_pickle=allow_pickle)
        except (ValueError, OSError, zipfile.BadZipFile) as error:
            raise ValueError(f"{path} is not a readable .npz file ({error})") from None
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError(f"{path} holds a single array, not an .npz file of named arrays")
        with archive:
            keys = [key for key in _NPZ_KEYS if key in archive.files]
            if not keys:
                raise ValueError(f"{path} holds none of {', '.join(_NPZ_KEYS)}; "
                                 f"found {', '.join(archive.files) or 'nothing'}")
            for key in keys:
                if key in data:
                    raise ValueError(f"{key} is in more than one of the files given")
                try:
                    array = archive[key]
                except ValueError as error:
                    if allow_pickle:
                        raise ValueError(f"{path}: cannot read {key} ({error})") from None
                    raise ValueError(
                        f"{path}: {key} holds images of different sizes (an object array); "
                        "pass allow_pickle=True if you trust this file") from None
                data[key] = _as_images(array, key, path)
    for split in ("train", "val", "test"):
        images, labels = data.get(f"X_{split}"), data.get(f"Y_{split}")
        if images is None or labels is None:
            continue
        shapes = [np.shape(x) for x in images], [np.shape(y) for y in labels]
        if shapes[0] != shapes[1]:
            raise ValueError(f"X_{split} and Y_{split} differ in number or shape of images")
    return data


def fetch_denoiseg(name="DSB2018", noise=20, *, data_home=None):
    """Download (once) and load a published DenoiSeg dataset.

    The archive (12 to 370 MB) is downloaded with ``pooch`` (``pip install
    pooch``) with a progress bar, checked against its SHA-256 checksum,
    unpacked and cached; later calls read the cache without network access.
    Its ``train/train_data.npz`` and ``test/test_data.npz`` are loaded.

    Parameters
    ----------
    name : {"DSB2018", "Flywing", "MouseNuclei"}, default="DSB2018"
    noise : {0, 10, 20}, default=20
        Standard deviation of the Gaussian noise added to the images.
    data_home : str or Path, default=None
        Cache folder; the user cache folder of ``sklearn_denoiseg`` when None.

    Returns
    -------
    data : dict
        X_train, Y_train, X_val, Y_val, X_test, Y_test as described in
        :func:`load_denoiseg_npz`.
    """
    if isinstance(noise, float) and noise.is_integer():
        noise = int(noise)
    if (name, noise) not in DENOISEG_DATASETS:
        available = ", ".join(f"({n!r}, {s})" for n, s in DENOISEG_DATASETS)
        raise ValueError(f"no DenoiSeg dataset ({name!r}, {noise!r}); available: {available}")
    try:
        import pooch
    except ImportError:
        raise ImportError("fetch_denoiseg needs pooch: pip install pooch") from None
    url, sha256 = DENOISEG_DATASETS[(name, noise)]
    files = pooch.retrieve(
        url,
        known_hash=f"sha256:{sha256}",
        fname=f"{name}_n{noise}.zip",
        path=data_home if data_home is not None else pooch.os_cache("sklearn_denoiseg"),
        processor=pooch.Unzip(),
        progressbar=True,
    )
    wanted = [f for f in files if Path(f).name in ("train_data.npz", "test_data.npz")
              and "__MACOSX" not in Path(f).parts]
    # checksum-verified archive, whose test images are stored as object arrays
    return load_denoiseg_npz(*sorted(wanted), allow_pickle=True)


def crop_grid(image, size):
    """Non-overlapping ``size`` x ``size`` crops, row by row.

    Parameters
    ----------
    image : ndarray of shape (H, W)
    size : int

    Returns
    -------
    ndarray of shape (n_crops, size, size)
        ``(H // size) * (W // size)`` crops; the remainder is dropped.
    """
    rows, cols = image.shape[0] // size, image.shape[1] // size
    cropped = image[: rows * size, : cols * size]
    return cropped.reshape(rows, size, cols, size).swapaxes(1, 2).reshape(-1, size, size)


def add_gaussian_noise(images, sigma, random_state=None):
    """Add zero-mean Gaussian noise of standard deviation ``sigma``.

    As in the paper: float32 output, not clipped.

    Parameters
    ----------
    images : ndarray or list of ndarray
    sigma : float
        Noise level in image units (10 and 20 in the paper for 0-255 images).
    random_state : int, RandomState instance or None

    Returns
    -------
    noisy : float32 ndarray, or list of them for a list input
    """
    rng = check_random_state(random_state)
    if isinstance(images, np.ndarray):
        return (images + rng.normal(0, sigma, size=images.shape)).astype(np.float32)
    return [add_gaussian_noise(image, sigma, rng) for image in images]


def keep_annotated(labels, n_annotated, random_state=None):
    """Keep the labels of ``n_annotated`` randomly chosen images, zero the rest.

    Zeroed label images count as unannotated in
    :meth:`~sklearn_denoiseg.DenoiSegEstimator.fit`.

    Parameters
    ----------
    labels : ndarray of shape (n, H, W) or list of 2D arrays
    n_annotated : int
    random_state : int, RandomState instance or None

    Returns
    -------
    kept : same form as ``labels``
        A copy; the input is not modified.
    """
    rng = check_random_state(random_state)
    if not 0 <= n_annotated <= len(labels):
        raise ValueError(
            f"n_annotated must be in [0, {len(labels)}]; got {n_annotated}"
        )
    keep = set(rng.choice(len(labels), size=n_annotated, replace=False).tolist())
    kept = [np.array(lab) if i in keep else np.zeros_like(lab) for i, lab in enumerate(labels)]
    return np.stack(kept) if isinstance(labels, np.ndarray) else kept
