"""Export to the BioImage Model Zoo format: packages pass bioimageio.core's
own model test, predict what the estimator predicts everywhere, image border
included (whole images and tiles with the package's halo and padding, both
weight formats, 2D, 3D and channels) and load back as estimators.

Needs the extra ``bioimageio``; without it the module is skipped. Every test
runs with the network cut off, as CI has no internet: validation must
neither need it nor wait for it.
"""

import socket
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg._bioimageio import MODEL_FILE
from sklearn_denoiseg.cli import main
from sklearn_denoiseg.datasets import make_blobs

bioimageio_core = pytest.importorskip("bioimageio.core")

# precision="fp32": bioimage.io consumers compute in float32, while "bf16"
# (the "auto" choice on CPUs and GPUs with bfloat16 units) rounds activations
# to 8 bits of mantissa, which would differ from the package by far more than
# float rounding
TINY = dict(depth=2, n_filters=8, batch_size=4, max_epochs=1, steps_per_epoch=2,
            precision="fp32", random_state=0, verbose=0)
TOLERANCE = 1e-5
"""Largest difference allowed between the package run by bioimageio.core and
the estimator; float32 rounding gives about 1e-7 here."""
MARGIN = 28
"""Context margin (the package's halo) of a depth-2 U-Net."""


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("no network in tests")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture(scope="module")
def blobs():
    return make_blobs(n_images=4, shape=(32, 32), random_state=0)


@pytest.fixture(scope="module")
def fitted(blobs):
    return DenoiSegEstimator(patch_size=32, **TINY).fit(*blobs)


@pytest.fixture(scope="module")
def package(fitted, blobs, tmp_path_factory):
    path = tmp_path_factory.mktemp("bioimageio") / "blobs.zip"
    fitted.export_bioimageio(path, name="DenoiSeg tiny blobs", authors=["Jane Doe"],
                             description="A tiny DenoiSeg model for tests.",
                             test_image=blobs[0][0])
    return path


def model_test(path, weight_format=None):
    """bioimageio.core's test of a package: format validation, test outputs
    reproduced by every weight format (or one), inference at several sizes."""
    summary = bioimageio_core.test_model(path, weight_format=weight_format)
    assert summary.status == "passed", summary.format()


def predict_package(path, image, weight_format, blocksize_parameter=None):
    """What bioimageio.core predicts for a (batch, channel, *spatial) array
    with the package's halo and padding, in one pass or in tiles."""
    model = bioimageio_core.load_model_description(path, perform_io_checks=False)
    pipeline = bioimageio_core.create_prediction_pipeline(
        model, weight_format=weight_format, devices=["cpu"])
    output = bioimageio_core.predict(model=pipeline, inputs=image,
                                     blocksize_parameter=blocksize_parameter)
    return output.members["prediction"].data.to_numpy()


def estimator_outputs(estimator, images):
    """Denoised and probability channels of the estimator, in the package's
    layout (batch, channel, *spatial), for images in the estimator's axes."""
    denoised = estimator.transform(images)
    if "C" not in estimator.axes:
        denoised = denoised[:, np.newaxis]
    elif estimator.axes.endswith("C"):
        denoised = np.moveaxis(denoised, -1, 1)
    proba = np.moveaxis(estimator.predict_proba(images), -1, 1)
    return np.concatenate([denoised, proba], axis=1)


def stored_test_input(path):
    with zipfile.ZipFile(path) as archive, archive.open("test_input.npy") as handle:
        return np.load(handle)


def test_package_passes_the_bioimageio_model_test(package):
    model_test(package)


def test_package_predicts_what_the_estimator_predicts(package, fitted):
    raw = stored_test_input(package)  # (1, 1, 60, 60): the 32x32 image reflected to the minimum
    assert raw.shape == (1, 1, 2 * MARGIN + 4, 2 * MARGIN + 4)
    expected = estimator_outputs(fitted, raw[:, 0])
    by_format = {weight_format: predict_package(package, raw, weight_format)
                 for weight_format in ("pytorch_state_dict", "torchscript")}
    for output in by_format.values():
        np.testing.assert_allclose(output, expected, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(by_format["torchscript"], by_format["pytorch_state_dict"],
                               rtol=0, atol=1e-6)


@pytest.mark.parametrize("shape", [(68, 68), (61, 75), (72, 90)])
@pytest.mark.parametrize("blocksize_parameter", [None, 1])
def test_bioimageio_core_predicts_what_the_estimator_predicts_border_included(
        package, fitted, shape, blocksize_parameter):
    # in one pass or in tiles of 64 pixels (cores of 8), the package padded
    # by its halo gives the estimator's outputs up to the image border; sides
    # that are not multiples of the grid (4) are first mirrored at their end
    # up to one, as the package's README asks, since bioimageio.core refuses
    # them
    image = make_blobs(n_images=1, shape=shape, random_state=1)[0]
    to_grid = np.pad(image, [(0, 0), *[(0, -side % 4) for side in shape]], mode="symmetric")
    output = predict_package(package, to_grid[:, np.newaxis], "torchscript",
                             blocksize_parameter)[(..., *map(slice, shape))]
    np.testing.assert_allclose(output, estimator_outputs(fitted, image), rtol=0,
                               atol=TOLERANCE)


def test_tiles_of_a_large_image_match_the_estimator_everywhere(package, fitted):
    image = make_blobs(n_images=1, shape=(120, 136), random_state=1)[0]
    tiled = predict_package(package, image[:, np.newaxis], "pytorch_state_dict",
                            blocksize_parameter=12)
    np.testing.assert_allclose(tiled, estimator_outputs(fitted, image), rtol=0,
                               atol=TOLERANCE)


def test_package_loads_back_as_the_estimator(package, fitted, blobs):
    X, y = blobs
    loaded = DenoiSegEstimator.load(package)
    assert loaded.get_params() == fitted.get_params()
    assert loaded.threshold_ == fitted.threshold_
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(loaded.transform(X), fitted.transform(X))


def test_an_exported_package_continues_training(package, fitted, blobs):
    X, y = blobs
    # a learning rate too small to move the weights: they stay the package's
    continued = DenoiSegEstimator.load(package).set_params(warm_start=True, max_epochs=1,
                                                           lr=1e-12)
    continued.fit(X, y)
    assert len(continued.history_) == len(fitted.history_) + 1
    start, end = fitted.predictor_.weights(), continued.predictor_.weights()
    for name in start:
        if name.endswith(".weight") or name.endswith(".bias"):
            np.testing.assert_allclose(end[name], start[name], rtol=0, atol=1e-6)


def test_package_describes_outputs_normalisation_and_tiling(package, fitted):
    model = bioimageio_core.load_model_description(package, perform_io_checks=False)
    (raw,), (prediction,) = model.inputs, model.outputs
    assert [str(axis.id) for axis in raw.axes] == ["batch", "channel", "y", "x"]
    assert prediction.axes[1].channel_names == ["denoised", "background", "foreground",
                                                "border"]
    assert {axis.halo for axis in prediction.axes[2:]} == {MARGIN}
    assert raw.pad.mode == "symmetric"  # the estimator's border rule
    assert (raw.axes[2].size.min, raw.axes[2].size.step) == (2 * MARGIN + 4, 4)
    normalisation = raw.preprocessing[1].kwargs
    assert normalisation.mean == pytest.approx(fitted.mean_[0])
    assert normalisation.std == pytest.approx(fitted.std_[0])
    scaling = prediction.postprocessing[0].kwargs
    assert scaling.gain == pytest.approx([fitted.std_[0], 1, 1, 1])
    assert scaling.offset == pytest.approx([fitted.mean_[0], 0, 0, 0])
    assert any(entry.doi == "10.1007/978-3-030-66415-2_21" for entry in model.cite)
    with zipfile.ZipFile(package) as archive:
        readme = archive.read("README.md").decode()
        assert {"cover.png", MODEL_FILE} <= set(archive.namelist())
    assert f"{fitted.threshold_:.2f}" in readme and "## Validation" in readme


def test_3d_stacks_export(tmp_path):
    X, y = make_blobs(n_images=4, shape=(16, 32, 32), random_state=0)
    est = DenoiSegEstimator(axes="ZYX", patch_size=(16, 32, 32), **TINY).fit(X, y)
    path = est.export_bioimageio(tmp_path / "stacks.zip", name="DenoiSeg tiny balls",
                                 authors=[{"name": "Jane Doe", "affiliation": "Lab"}])
    model_test(path, "torchscript")  # the state dict runs below
    raw = stored_test_input(path)  # no test image: synthetic balls of the minimum size
    assert raw.shape == (1, 1, *(3 * [2 * MARGIN + 4]))
    np.testing.assert_allclose(predict_package(path, raw, "pytorch_state_dict"),
                               estimator_outputs(est, raw[:, 0]), rtol=0, atol=TOLERANCE)
    np.testing.assert_array_equal(DenoiSegEstimator.load(path).predict(X), est.predict(X))


def test_channels_get_their_own_normalisation_and_denoised_output(tmp_path):
    X, y = make_blobs(n_images=4, shape=(32, 32), random_state=0)
    X = np.stack([X, 100 + 20 * X[:, ::-1]], axis=-1)  # YXC, channels of different units
    est = DenoiSegEstimator(axes="YXC", patch_size=32, **TINY).fit(X, y)
    path = est.export_bioimageio(tmp_path / "channels.zip", name="DenoiSeg two channels",
                                 authors=["Jane Doe"], test_image=X[1])
    model = bioimageio_core.load_model_description(path, perform_io_checks=False)
    assert model.outputs[0].axes[1].channel_names == ["denoised_0", "denoised_1",
                                                      "background", "foreground", "border"]
    raw = stored_test_input(path)
    assert raw.shape[:2] == (1, 2)
    np.testing.assert_allclose(
        predict_package(path, raw, "pytorch_state_dict"),
        estimator_outputs(est, np.moveaxis(raw, 1, -1)), rtol=1e-6, atol=TOLERANCE)


def test_unfitted_models_and_pure_denoisers_are_refused(blobs, tmp_path):
    with pytest.raises(NotFittedError):
        DenoiSegEstimator().export_bioimageio(tmp_path / "x.zip", name="Unfitted",
                                              authors=["Jane Doe"])
    denoiser = DenoiSegEstimator(patch_size=32, **{**TINY, "max_epochs": 1}).fit(blobs[0])
    with pytest.raises(ValueError, match="threshold_ is None"):
        denoiser.export_bioimageio(tmp_path / "x.zip", name="Denoiser", authors=["Jane Doe"])
    assert not (tmp_path / "x.zip").exists()


def test_invalid_metadata_is_a_clear_error(fitted, tmp_path):
    with pytest.raises(ValueError, match="invalid metadata for bioimage.io: name: "):
        fitted.export_bioimageio(tmp_path / "x.zip", name="x/y", authors=["Jane Doe"])
    with pytest.raises(ValueError, match=r"cite\.1: .*'doi' or 'url'"):
        fitted.export_bioimageio(tmp_path / "x.zip", name="DenoiSeg blobs",
                                 authors=["Jane Doe"], cite=[{"text": "Our paper"}])
    with pytest.raises(ValueError, match="authors must be a non-empty list"):
        fitted.export_bioimageio(tmp_path / "x.zip", name="DenoiSeg blobs", authors="Jane")
    with pytest.raises(ValueError, match="channel"):
        fitted.export_bioimageio(tmp_path / "x.zip", name="DenoiSeg blobs",
                                 authors=["Jane Doe"], test_image=np.zeros((40, 40, 2)))


def test_a_package_of_another_tool_is_not_an_estimator(package, tmp_path):
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(package) as source, zipfile.ZipFile(other, "w") as target:
        for name in source.namelist():
            if name != MODEL_FILE:
                target.writestr(name, source.read(name))
    with pytest.raises(ValueError, match="not one exported by sklearn_denoiseg"):
        DenoiSegEstimator.load(other)


def test_cli_export(fitted, tmp_path, capsys):
    model = tmp_path / "blobs.pt"
    fitted.save(model)
    out = tmp_path / "blobs.zip"
    args = ["export", str(model), str(out), "--name", "DenoiSeg blobs", "--author", "Jane Doe",
            "--author", "John Roe", "--license", "MIT"]
    assert main(args) == 0
    assert "written to" in capsys.readouterr().out
    description = bioimageio_core.load_model_description(out, perform_io_checks=False)
    assert [a.name for a in description.authors] == ["Jane Doe", "John Roe"]
    assert description.license == "MIT"
    assert main(args) == 1  # never overwrites without --overwrite
    assert "--overwrite" in capsys.readouterr().err
    np.testing.assert_array_equal(DenoiSegEstimator.load(out).predict(np.zeros((1, 32, 32))),
                                  fitted.predict(np.zeros((1, 32, 32))))


def test_missing_extra_is_a_clear_import_error(fitted, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "bioimageio.spec", None)
    with pytest.raises(ImportError, match=r"sklearn_denoiseg\[bioimageio\]"):
        fitted.export_bioimageio(tmp_path / "x.zip", name="DenoiSeg blobs",
                                 authors=["Jane Doe"])


def test_the_package_imports_without_bioimageio():
    code = ("import sys, sklearn_denoiseg; "
            "sys.exit(any(m.startswith('bioimageio') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
