"""Nothing lost, nothing executed: interruption, divergence, checkpoints,
safe save/load, parallel search and memory under repeated prediction."""

import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold

import sklearn_denoiseg
from sklearn_denoiseg import DenoiSegEstimator, TrainingDivergedError
from sklearn_denoiseg import _net, _persistence
from sklearn_denoiseg._persistence import FORMAT_VERSION, _checksum
from sklearn_denoiseg.datasets import make_blobs
from sklearn_denoiseg.exceptions import UnreadableCheckpointWarning

from ._helpers import TINY, flip_byte_inside, tiny_estimator


def interrupt_at(monkeypatch, epoch):
    """Make training raise KeyboardInterrupt at the first step of ``epoch``."""
    original = _net.DenoiSegNet.train_step

    def train_step(self, batch, **fit_params):
        if len(self.history) == epoch:
            raise KeyboardInterrupt
        return original(self, batch, **fit_params)

    monkeypatch.setattr(_net.DenoiSegNet, "train_step", train_step)


# -------------------------------------------------------------- interrupt


def test_keyboard_interrupt_keeps_usable_model_with_best_weights(blobs, monkeypatch):
    X, _, y = blobs
    interrupt_at(monkeypatch, epoch=3)
    with pytest.warns(UserWarning, match=r"interrupted after 2 of 5 epochs.*weights of epoch"):
        est = tiny_estimator(max_epochs=5).fit(X, y)
    assert len(est.history_) == 2
    assert est.threshold_ is not None
    assert est.predict(X).shape == X.shape
    monkeypatch.undo()
    # the weights kept are those of the best of the two epochs, as in a 2-epoch run
    complete = tiny_estimator(max_epochs=2).fit(X, y)
    np.testing.assert_array_equal(est.transform(X), complete.transform(X))


@pytest.mark.parametrize("n_annotated", [4, 1])
def test_interrupt_in_first_epoch_still_returns_a_model(n_annotated, blobs, monkeypatch):
    X, y_all, _ = blobs
    y = y_all.copy()
    y[n_annotated:] = 0  # with 1, no annotated image validates: the threshold's warning too
    interrupt_at(monkeypatch, epoch=1)
    with pytest.warns(UserWarning, match="weights reached during its first epoch"):
        est = tiny_estimator().fit(X, y)
    assert len(est.history_) == 0
    assert np.isfinite(est.transform(X)).all()


# ------------------------------------------------------------- divergence


def test_divergence_raises_clear_error_and_leaves_estimator_unfitted(blobs):
    X, _, y = blobs
    est = tiny_estimator(batch_norm=False, steps_per_epoch=5).fit(X, y)
    est.set_params(lr=1e6)
    with pytest.raises(TrainingDivergedError, match="lower learning rate"):
        est.fit(X, y)
    # nothing of the earlier fit survives to mix with the failed one
    with pytest.raises(NotFittedError):
        est.predict(X)
    assert not [name for name in vars(est) if name.endswith("_")]


# ------------------------------------------------------------- checkpoint


def test_resume_after_interrupt_equals_uninterrupted_run(blobs, tmp_path, monkeypatch):
    X, _, y = blobs
    params = dict(max_epochs=4, checkpoint_dir=tmp_path, lr=2e-3)
    interrupt_at(monkeypatch, epoch=2)
    with pytest.warns(UserWarning, match="interrupted"):
        tiny_estimator(**params).fit(X, y)
    monkeypatch.undo()
    resumed = tiny_estimator(**params).fit(X, y)
    reference = tiny_estimator(max_epochs=4, lr=2e-3).fit(X, y)
    assert len(resumed.history_) == 4
    # exactly: a tolerance would hide a piece of training state left out of
    # the checkpoint that changes the losses only slightly
    np.testing.assert_array_equal(
        resumed.history_[:, "train_loss"], reference.history_[:, "train_loss"]
    )
    np.testing.assert_array_equal(resumed.transform(X), reference.transform(X))


def test_checkpoints_are_separate_per_configuration_and_data(blobs, tmp_path):
    X, _, y = blobs
    for alpha in (0.3, 0.7):
        tiny_estimator(alpha=alpha, max_epochs=1, checkpoint_dir=tmp_path).fit(X, y)
    tiny_estimator(alpha=0.3, max_epochs=1, checkpoint_dir=tmp_path).fit(X[:6], y[:6])
    assert len(list(tmp_path.glob("denoiseg-*.pt"))) == 3
    assert not list(tmp_path.glob("*.partial"))


# ------------------------------------------------------------------ crash

KILLED_FIT = """
import io, json, os, signal, sys
import torch
from sklearn_denoiseg import DenoiSegEstimator, _net
from sklearn_denoiseg.datasets import make_blobs

params, threads, where = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
torch.set_num_threads(threads)


def die():
    os.kill(os.getpid(), signal.SIGKILL)


if where == "in epoch 3":
    train_step = _net.DenoiSegNet.train_step

    def train_step_then_die(self, batch, **fit_params):
        result = train_step(self, batch, **fit_params)
        if len(self.history) == 3:
            die()
        return result

    _net.DenoiSegNet.train_step = train_step_then_die
elif where == "writing epoch 3":
    save, saves = torch.save, []

    def save_half_then_die(obj, file, *args, **kwargs):
        saves.append(file)
        if len(saves) < 3:
            return save(obj, file, *args, **kwargs)
        whole = io.BytesIO()
        save(obj, whole, *args, **kwargs)
        if isinstance(file, (str, os.PathLike)):
            file = open(file, "wb")
        file.write(whole.getvalue()[: whole.tell() // 2])
        file.flush()
        die()

    torch.save = save_half_then_die

X, y = make_blobs(n_images=8, shape=(32, 32), random_state=0)
DenoiSegEstimator(**params).fit(X, y)
"""
"""A fit in a new process that SIGKILLs itself (no exception, no cleanup:
what the OOM killer or a cluster scheduler does) at a point of its own
progress rather than after a delay, so that a loaded machine cannot move
the kill: one training step into epoch 3, when the weights in memory have
already left the epoch-2 checkpoint behind, or halfway through writing the
bytes of the epoch-3 checkpoint."""

CRASH_FIT = dict(TINY, max_epochs=4, steps_per_epoch=3, lr=2e-3, precision="fp32",
                 random_state=0)


def crash_data():
    return make_blobs(n_images=8, shape=(32, 32), random_state=0)


def fit_and_kill(where, checkpoint_dir):
    """Run :data:`KILLED_FIT` to its kill; the path of the checkpoint it leaves."""
    root = str(Path(sklearn_denoiseg.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    params = {**CRASH_FIT, "checkpoint_dir": str(checkpoint_dir)}
    # the same thread count as this process: the parallel reductions of a
    # convolution's backward pass add in an order that depends on it
    result = subprocess.run(
        [sys.executable, "-c", KILLED_FIT, json.dumps(params), str(torch.get_num_threads()), where],
        env=env, capture_output=True, text=True,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    [checkpoint] = checkpoint_dir.glob("denoiseg-*.pt")
    return checkpoint


def resume_counting_steps(checkpoint_dir, monkeypatch):
    """Fit :data:`CRASH_FIT` with ``checkpoint_dir``; the estimator and the
    number of training steps it took."""
    steps = []
    train_step = _net.DenoiSegNet.train_step

    def counted(self, batch, **fit_params):
        steps.append(len(self.history))
        return train_step(self, batch, **fit_params)

    monkeypatch.setattr(_net.DenoiSegNet, "train_step", counted)
    X, y = crash_data()
    resumed = DenoiSegEstimator(**CRASH_FIT, checkpoint_dir=checkpoint_dir).fit(X, y)
    monkeypatch.undo()
    return resumed, len(steps)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The 4-epoch fit never killed, and its last checkpoint."""
    directory = tmp_path_factory.mktemp("uninterrupted")
    X, y = crash_data()
    estimator = DenoiSegEstimator(**CRASH_FIT, checkpoint_dir=directory).fit(X, y)
    [checkpoint] = directory.glob("denoiseg-*.pt")
    return estimator, checkpoint


def assert_identical(actual, expected, where="state"):
    """Nested dicts and lists of tensors and plain values, bit for bit."""
    if isinstance(expected, torch.Tensor):
        assert torch.equal(actual, expected), where
    elif isinstance(expected, dict):
        assert actual.keys() == expected.keys(), where
        for key in expected:
            assert_identical(actual[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), where
        for index, (a, e) in enumerate(zip(actual, expected)):
            assert_identical(a, e, f"{where}[{index}]")
    else:
        assert actual == expected, where


def without_durations(history):
    return [{key: value for key, value in row.items() if key != "dur"} for row in history]


def assert_resumed_exactly(resumed, checkpoint, uninterrupted):
    """Everything training produces, and everything a further epoch would
    depend on (optimiser, scheduler, best weights, batch seeds: the last
    checkpoint), equals the uninterrupted fit's, bit for bit: all randomness
    comes from seeds stored in the checkpoint, and float32 CPU arithmetic
    on the same thread count repeats itself exactly."""
    reference, reference_checkpoint = uninterrupted
    X = crash_data()[0]
    assert without_durations(resumed.history_) == without_durations(reference.history_)
    assert_identical(resumed.predictor_.weights(), reference.predictor_.weights())
    np.testing.assert_array_equal(resumed.transform(X), reference.transform(X))
    metadata, tensors, _ = _persistence.read(checkpoint)
    expected_metadata, expected_tensors, _ = _persistence.read(reference_checkpoint)
    assert_identical(tensors, expected_tensors, "tensors")
    for key in ("epoch", "best_epoch", "sampler_state", "seeds"):
        assert metadata[key] == expected_metadata[key], key


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_fit_killed_inside_an_epoch_resumes_to_the_uninterrupted_result(
        tmp_path, monkeypatch, uninterrupted):
    checkpoint = fit_and_kill("in epoch 3", tmp_path)
    assert _persistence.read(checkpoint)[0]["epoch"] == 2
    resumed, steps = resume_counting_steps(tmp_path, monkeypatch)
    assert steps == 2 * CRASH_FIT["steps_per_epoch"]       # epochs 3 and 4 only
    assert_resumed_exactly(resumed, checkpoint, uninterrupted)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_fit_killed_while_writing_a_checkpoint_keeps_the_previous_one(
        tmp_path, monkeypatch, uninterrupted):
    checkpoint = fit_and_kill("writing epoch 3", tmp_path)
    # the half-written epoch 3 lies beside the intact epoch 2, never over it
    [partial] = tmp_path.glob(f".{checkpoint.name}.*.partial")
    with pytest.raises(ValueError, match="corrupted, truncated"):
        _persistence.read(partial)
    assert _persistence.read(checkpoint)[0]["epoch"] == 2
    resumed, steps = resume_counting_steps(tmp_path, monkeypatch)
    assert steps == 2 * CRASH_FIT["steps_per_epoch"]
    assert_resumed_exactly(resumed, checkpoint, uninterrupted)
    # the dead process's leftover is cleared when the checkpoint is next opened
    assert sorted(path.name for path in tmp_path.iterdir()) == [checkpoint.name]


def test_unreadable_checkpoint_is_set_aside_and_training_starts_over(blobs, tmp_path):
    X, _, y = blobs
    tiny_estimator(checkpoint_dir=tmp_path).fit(X, y)
    [checkpoint] = tmp_path.glob("denoiseg-*.pt")
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[: len(data) // 2])       # damaged outside training
    with pytest.warns(UnreadableCheckpointWarning, match=rf"{checkpoint.name}.*corrupted"):
        restarted = tiny_estimator(checkpoint_dir=tmp_path).fit(X, y)
    aside = tmp_path / f"{checkpoint.name}.unreadable"
    assert aside.read_bytes() == data[: len(data) // 2]
    assert _persistence.read(checkpoint)[0]["epoch"] == 2
    np.testing.assert_array_equal(restarted.transform(X), tiny_estimator().fit(X, y).transform(X))


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    def full_disk(obj, file, *args, **kwargs):
        file.write(b"PK")
        raise OSError(28, "No space left on device")

    _persistence.write(tmp_path / "model.pt", {"epoch": 1}, {"weights": torch.zeros(3)})
    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match="No space"):
        _persistence.write(tmp_path / "model.pt", {"epoch": 2}, {"weights": torch.ones(3)})
    assert [path.name for path in tmp_path.iterdir()] == ["model.pt"]
    assert _persistence.read(tmp_path / "model.pt")[0] == {"epoch": 1}


@pytest.mark.skipif(os.name != "posix", reason="probes processes by pid")
def test_only_partial_files_of_dead_processes_here_are_removed(tmp_path):
    finished = subprocess.Popen([sys.executable, "-c", ""])
    finished.wait()                     # reaped: its pid names no process now
    host = socket.gethostname()
    names = {
        "dead": f".model.pt.{host}.{finished.pid}.partial",
        "alive": f".model.pt.{host}.{os.getpid()}.partial",
        "other host": f".model.pt.elsewhere.{finished.pid}.partial",
        "other file": f".other.pt.{host}.{finished.pid}.partial",
    }
    for name in names.values():
        (tmp_path / name).write_bytes(b"PK")
    _persistence.remove_stale_partials(tmp_path / "model.pt")
    kept = sorted(name for which, name in names.items() if which != "dead")
    assert sorted(path.name for path in tmp_path.iterdir()) == kept


def test_nothing_written_without_checkpoint_dir(blobs, tmp_path, monkeypatch):
    X, _, y = blobs
    monkeypatch.chdir(tmp_path)
    tiny_estimator().fit(X, y)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------- save/load


def test_save_load_round_trip(trained, blobs, tmp_path):
    X = blobs[0]
    path = tmp_path / "model.pt"
    trained.save(path)
    loaded = DenoiSegEstimator.load(path)
    np.testing.assert_array_equal(loaded.predict(X), trained.predict(X))
    np.testing.assert_array_equal(loaded.transform(X), trained.transform(X))
    assert loaded.threshold_ == trained.threshold_
    assert loaded.get_params() == trained.get_params()
    assert loaded.history_[:, "valid_seg_loss"] == trained.history_[:, "valid_seg_loss"]
    assert loaded.mean_ == trained.mean_ and loaded.std_ == trained.std_


def test_denoising_only_model_round_trip(blobs, tmp_path):
    X = blobs[0]
    est = tiny_estimator().fit(X)
    est.save(tmp_path / "n2v.pt")
    loaded = DenoiSegEstimator.load(tmp_path / "n2v.pt")
    assert loaded.threshold_ is None
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))


def test_model_saved_for_cuda_loads_on_cpu(trained, blobs, tmp_path, monkeypatch):
    X = blobs[0]
    cuda_model = pickle.loads(pickle.dumps(trained)).set_params(device="cuda")
    cuda_model.save(tmp_path / "gpu.pt")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="not available here; using 'cpu'"):
        loaded = DenoiSegEstimator.load(tmp_path / "gpu.pt")
    assert loaded.predictor_.device == "cpu"
    np.testing.assert_array_equal(loaded.predict(X), trained.predict(X))


def test_load_errors(trained, tmp_path):
    path = tmp_path / "model.pt"
    trained.save(path)
    data = path.read_bytes()

    with pytest.raises(FileNotFoundError):
        DenoiSegEstimator.load(tmp_path / "missing.pt")

    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupted"):
        DenoiSegEstimator.load(truncated)

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(os.urandom(2000))
    with pytest.raises(ValueError, match="not a readable"):
        DenoiSegEstimator.load(garbage)

    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ValueError, match="not an sklearn_denoiseg model file"):
        DenoiSegEstimator.load(foreign)


def rewrite(path, target, change):
    """Load a model file as plain data, apply ``change`` and save it again."""
    payload = torch.load(path, weights_only=True)
    change(payload)
    torch.save(payload, target)


def test_other_format_versions_are_refused(trained, tmp_path):
    path = tmp_path / "model.pt"
    trained.save(path)
    newer = tmp_path / "newer.pt"
    rewrite(path, newer, lambda p: p.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ValueError, match=f"format version {FORMAT_VERSION + 1}.*upgrade"):
        DenoiSegEstimator.load(newer)
    older = tmp_path / "older.pt"
    rewrite(path, older, lambda p: p.update(format_version=0))
    with pytest.raises(ValueError, match="format version 0"):
        DenoiSegEstimator.load(older)


def test_tampered_weights_are_refused(trained, tmp_path):
    path = tmp_path / "model.pt"
    trained.save(path)
    tampered = tmp_path / "tampered.pt"

    def shrink(payload):
        weights = payload["tensors"]["weights"]
        name = next(iter(weights))
        weights[name] = weights[name][:1]
        # a deliberate tamperer can recompute the checksum; loading must still fail
        payload["checksum"] = _checksum(payload["metadata"], payload["tensors"])

    rewrite(path, tampered, shrink)
    with pytest.raises(ValueError, match="does not describe a valid DenoiSegEstimator"):
        DenoiSegEstimator.load(tampered)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch exploited",))


def test_loading_never_executes_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    malicious = tmp_path / "malicious.pt"
    torch.save({"format": "sklearn_denoiseg", "format_version": 1, "x": _Exploit()}, malicious)
    with pytest.raises(ValueError, match="not a readable"):
        DenoiSegEstimator.load(malicious)
    assert not (tmp_path / "exploited").exists()


def test_corrupted_byte_inside_is_detected(trained, tmp_path):
    path = tmp_path / "model.pt"
    trained.save(path)
    with zipfile.ZipFile(path) as archive:
        largest = max(archive.infolist(), key=lambda info: info.file_size)
    # one byte inside a weight (stored uncompressed)
    flipped = flip_byte_inside(path, largest.filename, tmp_path / "flipped.pt")
    with pytest.raises(ValueError, match="corrupted"):
        DenoiSegEstimator.load(flipped)


# ---------------------------------------------------------- under load


def test_parallel_grid_search_equals_serial(blobs):
    X, y, _ = blobs
    results = []
    threads = torch.get_num_threads()
    # joblib's workers run torch with one thread; bit-identical results need
    # the same thread count in the serial run
    torch.set_num_threads(1)
    try:
        for n_jobs in (1, 2):
            search = GridSearchCV(tiny_estimator(threshold=0.5), {"alpha": [0.2, 0.8]},
                                  cv=KFold(2), n_jobs=n_jobs, error_score="raise")
            results.append(search.fit(X, y).cv_results_["mean_test_score"])
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(results[0], results[1])


def _rss_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_repeated_prediction_does_not_grow_memory(trained, blobs):
    X = blobs[0][:2]
    for _ in range(20):                         # allocator warm-up
        trained.predict(X)
    before = _rss_mb()
    for _ in range(200):
        trained.predict(X)
        trained.transform(X)
    assert _rss_mb() - before < 20
