"""The loader of DenoiSeg npz files and the cached, checksum-verified
downloader, tested on files the tests write and a local HTTP server."""

import functools
import hashlib
import http.server
import threading
import zipfile

import numpy as np
import pytest

from sklearn_denoiseg import datasets
from sklearn_denoiseg.datasets import fetch_denoiseg, load_denoiseg_npz


def _published_layout(folder):
    """A train and a test file like the published archives: equal-sized
    training crops, test images of different sizes in object arrays."""
    rng = np.random.default_rng(0)
    train = folder / "train_data.npz"
    np.savez(train,
             X_train=rng.normal(size=(4, 16, 16)), Y_train=np.arange(4 * 256).reshape(4, 16, 16) % 3,
             X_val=rng.normal(size=(2, 16, 16)), Y_val=np.zeros((2, 16, 16), dtype=np.uint16))
    sizes = [(20, 24), (16, 16)]
    X_test = np.empty(2, dtype=object)
    Y_test = np.empty(2, dtype=object)
    for i, shape in enumerate(sizes):
        X_test[i] = rng.normal(size=shape).astype(np.float32)
        Y_test[i] = np.ones(shape, dtype=np.uint16)
    test = folder / "test_data.npz"
    np.savez(test, X_test=X_test, Y_test=Y_test)
    return train, test


def test_load_train_and_test_files(tmp_path):
    train, test = _published_layout(tmp_path)
    data = load_denoiseg_npz(train, test, allow_pickle=True)
    assert sorted(data) == sorted(["X_train", "Y_train", "X_val", "Y_val", "X_test", "Y_test"])
    assert data["X_train"].shape == (4, 16, 16) and data["X_train"].dtype == np.float32
    assert data["Y_val"].dtype == np.int32 and not data["Y_val"].any()
    np.testing.assert_array_equal(data["Y_train"], np.arange(4 * 256).reshape(4, 16, 16) % 3)
    assert [x.shape for x in data["X_test"]] == [(20, 24), (16, 16)]
    assert all(y.dtype == np.int32 for y in data["Y_test"])


def test_object_arrays_need_allow_pickle(tmp_path):
    _, test = _published_layout(tmp_path)
    with pytest.raises(ValueError, match="allow_pickle=True"):
        load_denoiseg_npz(test)


@pytest.mark.parametrize("arrays, message", [
    ({"images": np.zeros((2, 4, 4))}, "holds none of"),
    ({"X_train": np.zeros((2, 4, 4)), "Y_train": np.zeros((2, 4, 5))}, "differ"),
    ({"X_train": np.zeros((2, 4, 4)), "Y_train": np.zeros((3, 4, 4))}, "differ"),
    ({"X_test": np.zeros((1, 4, 4)), "Y_test": np.full((1, 4, 4), 0.5)}, "non-integer"),
])
def test_malformed_files_are_refused(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message):
        load_denoiseg_npz(path)


def test_missing_duplicate_and_junk_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_denoiseg_npz(tmp_path / "missing.npz")
    path = tmp_path / "a.npz"
    np.savez(path, X_train=np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match="more than one"):
        load_denoiseg_npz(path, path)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="not a readable"):
        load_denoiseg_npz(junk)
    with pytest.raises(TypeError):
        load_denoiseg_npz()
    single = tmp_path / "single.npy"
    np.save(single, np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="single array"):
        load_denoiseg_npz(single)


@pytest.fixture
def served_archive(tmp_path, monkeypatch):
    """A published-style zip archive served on localhost and registered as
    ("Test", 20); yields a function that stops the server."""
    pytest.importorskip("pooch")
    content = tmp_path / "content"
    (content / "Test_n20" / "train").mkdir(parents=True)
    (content / "Test_n20" / "test").mkdir(parents=True)
    train, test = _published_layout(content)
    served = tmp_path / "served"
    served.mkdir()
    archive = served / "Test_n20.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(train, "Test_n20/train/train_data.npz")
        zf.write(test, "Test_n20/test/test_data.npz")
        zf.writestr("__MACOSX/Test_n20/train/._train_data.npz", b"resource fork, not npz")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=served)
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/Test_n20.zip"
    registry = {**datasets.DENOISEG_DATASETS, ("Test", 20): (url, digest)}
    monkeypatch.setattr(datasets, "DENOISEG_DATASETS", registry)
    def stop():
        server.shutdown()
        server.server_close()

    yield stop
    stop()


def test_fetch_downloads_verifies_and_caches(served_archive, tmp_path):
    cache = tmp_path / "cache"
    data = fetch_denoiseg("Test", 20, data_home=cache)
    assert data["X_train"].shape == (4, 16, 16)
    assert [x.shape for x in data["X_test"]] == [(20, 24), (16, 16)]
    served_archive()  # no server any more: the cache must be enough
    again = fetch_denoiseg("Test", 20.0, data_home=cache)
    np.testing.assert_array_equal(again["X_val"], data["X_val"])


def test_fetch_refuses_a_wrong_checksum(served_archive, tmp_path, monkeypatch):
    url, _ = datasets.DENOISEG_DATASETS[("Test", 20)]
    monkeypatch.setitem(datasets.DENOISEG_DATASETS, ("Test", 20), (url, "0" * 64))
    with pytest.raises(ValueError, match="(?i)hash"):
        fetch_denoiseg("Test", 20, data_home=tmp_path / "cache")


def test_fetch_unknown_dataset():
    with pytest.raises(ValueError, match="available"):
        fetch_denoiseg("DSB2018", 30)


def test_registry_is_complete():
    names = {name for name, _ in datasets.DENOISEG_DATASETS}
    assert names == {"DSB2018", "Flywing", "MouseNuclei"}
    for (name, noise), (url, digest) in datasets.DENOISEG_DATASETS.items():
        assert noise in (0, 10, 20) and url.startswith("https://zenodo.org/")
        assert len(digest) == 64 and int(digest, 16) >= 0
