"""Out-of-core prediction of dask arrays (``pip install 'sklearn_denoiseg[dask]'``).

The predictor of a fitted :class:`~sklearn_denoiseg.DenoiSegEstimator` (its
network, normalisation and tiling, without any training state) is applied
chunk by chunk, lazily, to images that do not fit in memory (zarr, TIFF stacks opened
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
    images : dask.array.Array
        For a model of 2D images (``axes="YX"``): one large image ``(H, W)``
        or a stack of images ``(n, H, W)``. For a model of 3D stacks
        (``axes="ZYX"``): one large volume ``(Z, Y, X)`` or several
        ``(n, Z, Y, X)``. One image is processed in chunks that start on the
        network's grid and overlap by its context margin on every axis, so
        chunk borders do not show; at the image border each chunk is padded
        by the estimator's border rule, as the whole image is: the result
        equals the in-memory prediction up to float rounding. Several images
        are processed image by image.
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
    if estimator.axes not in ("YX", "ZYX"):
        raise ValueError(f"predict_dask handles models of single-channel images (axes='YX' "
                         f"or 'ZYX') only for now; this one has axes={estimator.axes!r}")
    n_dims = len(estimator.axes)
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}; got {output!r}")
    # raises when the model cannot segment
    threshold = estimator.decision_threshold() if output != "denoised" else None
    if not isinstance(images, da.Array):
        raise TypeError(f"images must be a dask array; got {type(images).__name__}")
    predictor = estimator.predictor_
    if images.ndim == n_dims + 1:
        # whole images per chunk, several images per chunk as given
        dtype = np.int32 if output == "labels" else np.float32
        return images.rechunk({axis: -1 for axis in range(1, n_dims + 1)}).map_blocks(
            _apply_stack, predictor=dask.delayed(predictor, pure=True), what=output,
            threshold=threshold, dtype=dtype, meta=np.empty((0,) * (n_dims + 1), dtype))
    if images.ndim != n_dims:
        axes = ", ".join(estimator.axes)
        raise ValueError(f"images must have shape ({axes}) or (n, {axes}) for a model with "
                         f"axes={estimator.axes!r}; got shape {images.shape}")
    if images.dtype.kind not in "uif":
        raise TypeError(f"images must hold real numbers; got dtype {images.dtype}")

    grid = 2**predictor.depth
    margin = predictor.margin
    minimum = grid * -(-2 * margin // grid)
    images = images.rechunk(tuple(_aligned_chunks(c, grid, minimum) for c in images.chunks))
    result = da.map_overlap(
        _apply,
        images,
        # one shared graph key for the predictor, not a copy inside every task
        predictor=dask.delayed(predictor, pure=True),
        method="denoise" if output == "denoised" else "foreground",
        # no overlap along an axis held by one chunk (a short Z axis); none
        # past the image border either, where the predictor pads each block
        # by the border rule exactly as it pads the whole image
        depth={axis: margin if len(chunks) > 1 else 0
               for axis, chunks in enumerate(images.chunks)},
        boundary="none",
        trim=True,
        dtype=np.float32,
        meta=np.empty((0,) * n_dims, np.float32),
    )
    if output != "labels":
        return result
    # dask-image's labelling reads every chunk of its input many times; the
    # mask is computed once and kept (one byte per pixel) instead of running
    # the network again for each read
    mask = (result > threshold).persist()
    labels, _ = ndmeasure.label(mask)
    return labels.astype(np.int32)


def _apply(block, predictor, method):
    return getattr(predictor, method)([np.asarray(block)])[0]


def _apply_stack(block, predictor, what, threshold):
    images = list(np.asarray(block))
    if what == "labels":
        return np.stack(predictor.segment(images, threshold))
    method = predictor.denoise if what == "denoised" else predictor.foreground
    return np.stack(method(images))
