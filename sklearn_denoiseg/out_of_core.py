"""Out-of-core prediction of dask arrays (``pip install 'sklearn_denoiseg[dask]'``).

A fitted :class:`~sklearn_denoiseg.DenoiSegEstimator` is applied chunk by
chunk, lazily, to images that do not fit in memory (zarr, TIFF stacks opened
with dask, or one huge 2D image). Dask is imported only here; the rest of the
package does not need it.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["predict_dask"]

OUTPUTS = ("labels", "denoised", "foreground")


def _import_dask():
    try:
        import dask
        import dask.array as da
        from dask_image import ndmeasure
    except ImportError as error:
        raise ImportError(
            "predict_dask needs dask and dask-image: pip install 'sklearn_denoiseg[dask]'"
        ) from error
    return dask, da, ndmeasure


def _aligned_chunks(chunks, grid, minimum):
    """Chunk sizes close to the given ones that are multiples of ``grid`` and
    at least ``minimum``; the remainder joins the last chunk. Every chunk then
    starts on the network's pooling grid and is larger than the overlap."""
    total = sum(chunks)
    size = max(minimum, int(round(max(chunks) / grid)) * grid)
    if total <= size:
        return (total,)
    sizes = [size] * (total // size)
    sizes[-1] += total % size
    return tuple(sizes)


def predict_dask(estimator, images, output="labels"):
    """Lazily predict a dask array of images with a fitted estimator.

    Parameters
    ----------
    estimator : DenoiSegEstimator
        Fitted.
    images : dask.array.Array of shape (H, W) or (n, H, W)
        One large 2D image, or a stack of 2D images. A 2D image is processed
        in chunks that overlap by the network's receptive field, so chunk
        borders do not show: the result equals the in-memory prediction up
        to float rounding. A stack is processed image by image.
    output : {"labels", "denoised", "foreground"}, default="labels"
        Instance labels (int32; numbered consistently across chunks of a 2D
        image with ``dask_image.ndmeasure.label``), denoised images (float32,
        in the units of ``images``) or foreground probabilities (float32).

    Returns
    -------
    dask.array.Array
        Same shape as ``images``; nothing is computed until you call
        ``.compute()``, ``.to_zarr()`` and so on, except for the labels of a
        2D image: there the foreground mask (one byte per pixel) is computed
        and kept in (cluster) memory when ``predict_dask`` is called, because
        labelling across chunks reads each chunk of the mask many times.

    Examples
    --------
    With a fitted ``estimator`` and a zarr store on disk::

        import dask.array as da

        big = da.from_zarr("slide.zarr")
        predict_dask(estimator, big).to_zarr("slide_labels.zarr")
    """
    dask, da, ndmeasure = _import_dask()
    check_is_fitted(estimator)
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}; got {output!r}")
    if output in ("labels", "foreground"):
        estimator._check_segmentation()
    if not isinstance(images, da.Array):
        raise TypeError(f"images must be a dask array; got {type(images).__name__}")
    if images.ndim == 3:
        return _predict_stack(estimator, images, output, da)
    if images.ndim != 2:
        raise ValueError(
            f"images must have shape (H, W) or (n, H, W); got shape {images.shape}"
        )
    if images.dtype.kind not in "uif":
        raise TypeError(f"images must hold real numbers; got dtype {images.dtype}")

    grid = 2**estimator.depth
    margin = estimator._margin()
    minimum = grid * -(-2 * margin // grid)
    images = images.rechunk(tuple(_aligned_chunks(c, grid, minimum) for c in images.chunks))
    channel = "_denoised" if output == "denoised" else "_foreground"
    result = da.map_overlap(
        _apply,
        images,
        # one shared graph key for the model, not a copy inside every task
        estimator=dask.delayed(estimator, pure=True),
        method=channel,
        depth=margin,
        boundary="none",
        trim=True,
        dtype=np.float32,
        meta=np.empty((0, 0), np.float32),
    )
    if output != "labels":
        return result
    # dask-image's labelling reads every chunk of its input many times; the
    # mask is computed once and kept (one byte per pixel) instead of running
    # the network again for each read
    mask = (result > estimator.threshold_).persist()
    labels, _ = ndmeasure.label(mask)
    return labels.astype(np.int32)


def _apply(block, estimator, method):
    return getattr(estimator, method)(np.asarray(block))


def _predict_stack(estimator, images, output, da):
    # whole images per chunk, several images per chunk as given
    images = images.rechunk({1: -1, 2: -1})
    method = {"labels": estimator.predict, "denoised": estimator.transform,
              "foreground": lambda X: estimator.predict_proba(X)[..., 1]}[output]
    dtype = np.int32 if output == "labels" else np.float32
    return images.map_blocks(lambda block: method(np.asarray(block)), dtype=dtype,
                             meta=np.empty((0, 0, 0), dtype))
