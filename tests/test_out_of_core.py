"""Dask: out-of-core prediction and grid search on a LocalCluster."""

import numpy as np
import pytest
import torch

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
pytest.importorskip("dask_image")

from sklearn.model_selection import GridSearchCV, KFold  # noqa: E402

from sklearn_denoiseg.datasets import make_blobs  # noqa: E402
from sklearn_denoiseg.metrics import average_precision  # noqa: E402
from sklearn_denoiseg.out_of_core import predict_dask  # noqa: E402

from ._helpers import tiny_estimator  # noqa: E402


@pytest.fixture(scope="module")
def large_image():
    """A 300x260 image of blobs with objects crossing every chunk border."""
    X, y = make_blobs(n_images=1, shape=(300, 260), n_blobs=60, radius=(4, 9),
                      random_state=3)
    return X[0], y[0]


def test_2d_prediction_in_chunks_equals_in_memory(trained, large_image):
    image, truth = large_image
    lazy = da.from_array(image, chunks=(70, 90))     # chunk borders everywhere
    foreground = predict_dask(trained, lazy, output="foreground")
    assert isinstance(foreground, da.Array) and foreground.shape == image.shape
    in_memory = trained.predict_proba([image])[0][..., 1]
    np.testing.assert_allclose(foreground.compute(), in_memory, atol=1e-5)

    labels = predict_dask(trained, lazy).compute()
    expected = trained.predict([image])[0]
    assert labels.dtype == np.int32
    # the same objects (ids may be numbered differently)
    assert average_precision(expected, labels, iou_threshold=0.99) == 1.0
    assert len(np.unique(labels)) == len(np.unique(expected))

    denoised = predict_dask(trained, lazy, output="denoised").compute()
    np.testing.assert_allclose(denoised, trained.transform([image])[0], rtol=1e-4, atol=1e-4)


def test_stack_prediction(trained, blobs):
    X = blobs[0]
    lazy = da.from_array(X, chunks=(3, 20, 20))
    np.testing.assert_array_equal(predict_dask(trained, lazy).compute(), trained.predict(X))
    np.testing.assert_allclose(predict_dask(trained, lazy, output="denoised").compute(),
                               trained.transform(X), rtol=1e-6)


def test_predict_dask_errors(trained, blobs):
    X = blobs[0]
    with pytest.raises(TypeError, match="must be a dask array"):
        predict_dask(trained, X)
    with pytest.raises(ValueError, match="output must be one of"):
        predict_dask(trained, da.from_array(X), output="probabilities")
    with pytest.raises(ValueError, match=r"shape \(Y, X\) or \(n, Y, X\) for a model with"):
        predict_dask(trained, da.zeros((2, 2, 8, 8)))
    denoiser = tiny_estimator().fit(X)
    with pytest.raises(ValueError, match="fitted without annotated labels"):
        predict_dask(denoiser, da.from_array(X[0]))
    assert predict_dask(denoiser, da.from_array(X[0]), output="denoised").shape == X[0].shape


def test_grid_search_on_local_cluster_equals_serial(blobs):
    from joblib import parallel_backend

    X, y, _ = blobs
    grid = {"alpha": [0.2, 0.8]}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # dask workers run torch with one thread
    try:
        serial = GridSearchCV(tiny_estimator(threshold=0.5), grid, cv=KFold(2))
        serial.fit(X, y)
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster), parallel_backend("dask"):
            parallel = GridSearchCV(tiny_estimator(threshold=0.5), grid, cv=KFold(2),
                                    n_jobs=-1)
            parallel.fit(X, y)
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(parallel.cv_results_["mean_test_score"],
                                  serial.cv_results_["mean_test_score"])


@pytest.mark.parametrize("shape", [(300, 260), (3, 48, 48)])
def test_dask_ships_the_predictor_not_the_estimator(trained, shape):
    from sklearn_denoiseg import DenoiSegEstimator, DenoiSegPredictor

    lazy = da.zeros(shape, chunks=(2, 48, 48) if len(shape) == 3 else (150, 130))
    graph = dict(predict_dask(trained, lazy, output="denoised").__dask_graph__())
    # graph nodes wrap constants (dask.DataNode has .value)
    values = [getattr(node, "value", node) for node in graph.values()]
    shipped = [value for value in values
               if isinstance(value, (DenoiSegEstimator, DenoiSegPredictor))]
    assert shipped and all(isinstance(value, DenoiSegPredictor) for value in shipped)


def score_after_being_killed_once(estimator, X, y):
    """A scorer whose first call, on any worker, writes its process id to
    ``$DENOISEG_KILL_DIR/started`` and waits there to be killed; every other
    call scores as the estimator does."""
    import os
    import time

    marker = os.path.join(os.environ["DENOISEG_KILL_DIR"], "started")
    try:
        # O_EXCL: exactly one call, across all worker processes, is the victim
        fd = os.open(marker + ".tmp", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return estimator.score(X, y)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    os.rename(marker + ".tmp", marker)     # the pid is complete once the name appears
    time.sleep(120)
    raise RuntimeError("the test did not kill this worker")


def _kill_the_scoring_worker(kill_dir, timeout=120):
    """Wait for the victim scorer to start, then SIGKILL its worker process.
    The other worker lives on, so the test does not depend on how fast a
    nanny restarts a worker on a busy machine."""
    import os
    import signal
    import time

    marker = os.path.join(kill_dir, "started")
    deadline = time.monotonic() + timeout
    while not os.path.exists(marker):
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)
    with open(marker) as file:
        os.kill(int(file.read()), signal.SIGKILL)


# a process cluster and a killed worker: 18-35 s on 2 cores
def test_grid_search_names_the_task_lost_with_a_killed_worker(blobs, tmp_path, monkeypatch):
    import os
    import threading

    import dask

    from sklearn_denoiseg.exceptions import WorkerLostError
    from sklearn_denoiseg.out_of_core import dask_backend

    X, y, _ = blobs
    search = GridSearchCV(tiny_estimator(threshold=0.5, max_epochs=1, steps_per_epoch=2),
                          {"alpha": [0.2, 0.8]}, cv=KFold(2), n_jobs=-1,
                          scoring=score_after_being_killed_once)
    monkeypatch.setenv("DENOISEG_KILL_DIR", str(tmp_path))
    # Dask gives a task up as soon as one worker dies running it
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        assert len(client.run(os.getpid)) == 2
        killer = threading.Thread(target=_kill_the_scoring_worker, args=(str(tmp_path),),
                                  daemon=True)
        killer.start()
        with dask_backend(), pytest.raises(
                WorkerLostError, match=r"candidate \d/2 \{'alpha': 0\.\d\} on CV split \d/2 "
                                       r"was lost with a Dask worker: every worker that ran it "
                                       r"died \(1 worker,") as error:
            search.fit(X, y)
        killer.join()
    assert os.path.exists(tmp_path / "started")
    assert isinstance(error.value.__cause__, distributed.KilledWorker)
