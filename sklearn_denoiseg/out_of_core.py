"""Dask: searches on a cluster and out-of-core prediction.

Needs ``pip install 'sklearn_denoiseg[dask]'``.

:func:`dask_backend` runs ``GridSearchCV`` and other joblib-parallel searches
on a Dask cluster and survives workers that die on the way.
:func:`predict_dask` applies the predictor of a fitted
:class:`~sklearn_denoiseg.DenoiSegEstimator` (its network, normalisation and
tiling, without any training state) chunk by chunk, lazily, to images that do
not fit in memory (zarr, TIFF stacks opened with dask, or one huge 2D image).
Dask is imported only here; the rest of the package does not need it.
"""

import concurrent.futures
import functools

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .exceptions import WorkerLostError

__all__ = ["predict_dask", "dask_backend"]

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


def dask_backend(client=None):
    """joblib's Dask backend, made to survive workers that die mid-search.

    Use it where ``joblib.parallel_backend("dask")`` would go, around
    ``GridSearchCV(..., n_jobs=-1).fit``. joblib's own backend stores large
    arguments (the training images) once, on one worker; when that worker
    dies, Dask cannot compute them again and cancels every task that reads
    them (``FutureCancelledError: ... lost dependencies``). Here the
    arguments travel with each task instead, so a task lost with its worker
    is run again on another one by the Dask scheduler, up to its
    ``distributed.scheduler.allowed-failures`` setting (3 by default). The
    price is more traffic: the data are sent once per task (a batch of CV
    fits), not once per worker.

    Parameters
    ----------
    client : distributed.Client, default=None
        The cluster to run on; the current client when None.

    Returns
    -------
    joblib.parallel_config
        A context manager.

    Raises
    ------
    WorkerLostError
        From the search's ``fit``, when every worker that ran a task died
        (Dask's ``KilledWorker``: the task may need more memory than a worker
        has) or Dask cancelled it. The message names the parameter candidate
        and CV split and says why; the Dask error is its ``__cause__``.

    Examples
    --------
    With a Dask ``client`` and training images ``X``, ``y``::

        with dask_backend(client):
            GridSearchCV(estimator, {"alpha": [0.2, 0.5]}, n_jobs=-1).fit(X, y)
    """
    from joblib import parallel_config

    return parallel_config(backend=_self_contained_backend()(client=client))


@functools.cache
def _self_contained_backend():
    """The backend class, built on first use so that importing this module
    does not import Dask."""
    try:
        from distributed import KilledWorker
        # joblib's own Dask backend: the class behind parallel_backend("dask")
        from joblib._dask import DaskDistributedBackend
    except ImportError as error:
        raise ImportError(
            "dask_backend needs dask.distributed: pip install 'sklearn_denoiseg[dask]'"
        ) from error

    class SelfContainedDaskBackend(DaskDistributedBackend):
        def start_call(self):
            super().start_call()
            # joblib scatters an argument only while this cache exists; without
            # it, tasks carry their data and any worker can run them again
            self.call_data_futures = None

        def stop_call(self):
            self.call_data_futures = {}     # joblib clears it here
            super().stop_call()

        def submit(self, func, callback=None):
            outcome = concurrent.futures.Future()
            outcome.get = outcome.result    # the AsyncResult API joblib expects
            future = super().submit(func, callback=lambda result: None)
            future.add_done_callback(
                lambda done: self._finished(done, func, callback, outcome))
            return outcome

        @staticmethod
        def _finished(done, func, callback, outcome):
            # joblib's backend hands over a cancelled task's CancelledError as
            # its result, and scheduler errors (KilledWorker) as exceptions,
            # which it does not pass to joblib's callback: the search would
            # wait for them forever
            result = done.exception() or done.result()
            if isinstance(result, (concurrent.futures.CancelledError, KilledWorker)):
                error = WorkerLostError(_describe_batch(func), _why_lost(result))
                error.__cause__ = result
                outcome.set_exception(error)
                result = error     # joblib raises a returned exception
            elif isinstance(result, BaseException):
                outcome.set_exception(result)
            else:
                outcome.set_result(result)
            if callback is not None:
                callback(result)

    return SelfContainedDaskBackend


def _describe_batch(batch, shown=3):
    """What a joblib batch computes, in words: the candidates and splits of a
    search's ``_fit_and_score`` calls, else the function names."""
    calls = []
    for function, _, kwargs in batch.items:
        candidate = kwargs.get("candidate_progress")
        split = kwargs.get("split_progress")
        if candidate and split and "parameters" in kwargs:
            calls.append(f"candidate {candidate[0] + 1}/{candidate[1]} "
                         f"{kwargs['parameters']} on CV split {split[0] + 1}/{split[1]}")
        else:
            calls.append(getattr(function, "__name__", repr(function)))
    more = f" and {len(calls) - shown} more" if len(calls) > shown else ""
    return "; ".join(calls[:shown]) + more


def _why_lost(error):
    if isinstance(error, concurrent.futures.CancelledError):
        return f"Dask cancelled its task ({getattr(error, 'reason', None) or 'unknown reason'})"
    tries = error.allowed_failures + 1
    return (f"every worker that ran it died ({tries} worker{'s' if tries > 1 else ''}, "
            f"Dask's distributed.scheduler.allowed-failures + 1; the last was "
            f"{error.last_worker.address}): it may need more memory than a worker has, "
            f"see the worker logs")
