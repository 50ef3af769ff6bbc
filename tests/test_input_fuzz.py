"""A corpus of odd inputs for stacks, channels and model files: each gives a
working result or a one-line error that names the argument, never a raw
NumPy or torch message and never a silently wrong output."""

import zipfile

import numpy as np
import pytest

from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg._bioimageio import MODEL_FILE
from sklearn_denoiseg._predictor import DenoiSegPredictor

from ._helpers import flip_byte_inside

STACK = (8, 32, 32)
TINY_3D = dict(depth=2, n_filters=8, patch_size=8, batch_size=4, max_epochs=1,
               steps_per_epoch=2, precision="fp32", random_state=0, verbose=0)


def stacks(n=4, channels=None, seed=0):
    """``n`` noisy stacks of shape STACK (with a last channel axis when
    ``channels`` is given), float32 in [0, 1)."""
    shape = (n, *STACK) + (() if channels is None else (channels,))
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def labels(n=4):
    """Two cubes per stack, ids 1 and 2."""
    y = np.zeros((n, *STACK), np.int32)
    y[:, 2:6, 4:12, 4:12] = 1
    y[:, 2:6, 18:28, 18:28] = 2
    return y


def with_value(X, value, index=(1, 3, 4, 5)):
    X = X.astype(np.float32, copy=True)
    X[index] = value
    return X


def estimator(axes="ZYX", **params):
    return DenoiSegEstimator(axes=axes, **{**TINY_3D, **params})


@pytest.fixture(scope="module")
def stack_model():
    return estimator().fit(stacks(), labels())


@pytest.fixture(scope="module")
def channel_model():
    """Two channels, axes ZYXC."""
    return estimator("ZYXC").fit(stacks(channels=2), labels())


def assert_one_line_error(call, error, argument):
    with pytest.raises(error) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message, message
    assert argument in message, message
    return message


# (axes, X, y, params) -> None for "trains and predicts", or (error, argument named)
FIT_CASES = {
    "NaN in a stack": ("ZYX", with_value(stacks(), np.nan), labels(), {}, (ValueError, "X[1]")),
    "inf in a stack": ("ZYX", with_value(stacks(), -np.inf), labels(), {}, (ValueError, "X[1]")),
    "NaN in a channel": ("ZYXC", with_value(stacks(channels=2), np.nan, (0, 1, 2, 3, 1)),
                         labels(), {}, (ValueError, "X[0]")),
    "constant stacks": ("ZYX", np.full((4, *STACK), 7.0, np.float32), labels(), {}, None),
    "one constant channel": ("ZYXC", np.concatenate(
        [stacks(channels=1), np.zeros((4, *STACK, 1), np.float32)], axis=-1), labels(), {},
        None),
    "one plane": ("ZYX", stacks()[:, :1], labels()[:, 3:4], {"patch_size": (4, 8, 8)}, None),
    "Z smaller than the patch": ("ZYX", stacks()[:, :5], labels()[:, :5],
                                 {"patch_size": (16, 8, 8)}, None),
    "stacks of different sizes": ("ZYX", [stacks()[0], stacks()[1][:5, :20, :17]],
                                  [labels()[0], labels()[1][:5, :20, :17]], {}, None),
    "mixed channel counts": ("ZYXC", [stacks(channels=2)[0], stacks(channels=3)[1]],
                             [labels()[0], labels()[1]], {}, (ValueError, "X[1] has 3 channels")),
    "2D images for ZYX": ("ZYX", stacks()[:, 0], labels()[:, 0], {}, (ValueError, "X has shape")),
    "stacks for YX": ("YX", stacks(), labels(), {"patch_size": 8}, (ValueError, "axes='ZYX'")),
    "channel last given as CZYX": ("CZYX", stacks(channels=2), labels(), {},
                                   (ValueError, "y[0] has shape")),
    "unknown axes": ("XYZ", stacks(), labels(), {}, (ValueError, "axes must be one of")),
    "int16 stacks": ("ZYX", (stacks() * 1000).astype(np.int16), labels(), {}, None),
    "uint8 stacks with channels": ("ZYXC", (stacks(channels=2) * 255).astype(np.uint8),
                                   labels(), {}, None),
    "float16 stacks": ("ZYX", stacks().astype(np.float16), labels(), {}, None),
    "bool stacks": ("ZYX", stacks() > 0.5, labels(), {}, (TypeError, "X[0] must hold real")),
    "bool labels": ("ZYX", stacks(), labels() > 0, {}, (TypeError, "y is a boolean mask")),
    "huge values": ("ZYX", stacks() * np.float32(1e30), labels(), {}, None),
    "labels with a channel axis": ("ZYXC", stacks(channels=2), labels()[..., None], {},
                                   (ValueError, "y has shape")),
    "labels of other planes": ("ZYX", stacks(), labels()[:, :4], {}, (ValueError, "y[0]")),
    "negative labels": ("ZYX", stacks(), -labels(), {}, (ValueError, "y[0] holds negative")),
    "complex stacks": ("ZYX", stacks().astype(np.complex64), labels(), {},
                       (TypeError, "X[0] must hold real")),
    "empty axis": ("ZYX", stacks()[:, :, :0], labels()[:, :, :0], {},
                   (ValueError, "X[0] is empty")),
}


@pytest.mark.parametrize("case", FIT_CASES)
def test_fit_on_odd_stacks(case):
    axes, X, y, params, expected = FIT_CASES[case]
    model = estimator(axes, **params)
    if expected is not None:
        assert_one_line_error(lambda: model.fit(X, y), *expected)
        return
    model.fit(X, y)
    denoised = model.transform(X)
    predicted = model.predict(X)
    for image, out, segmented in zip(X, denoised, predicted):
        assert out.shape == np.shape(image) and np.isfinite(out).all()
        assert segmented.shape == model.predict([image])[0].shape == np.shape(image)[:3]


def test_validation_images_need_the_channels_of_the_training_images():
    assert_one_line_error(
        lambda: estimator("ZYXC").fit(stacks(channels=2), labels(), X_val=stacks(channels=1),
                                      y_val=labels()),
        ValueError, "X_val has 1 channels but X has 2")


# model -> method -> X: (error, argument named); a wrong channel count was
# once broadcast against the normalisation into an output of the model's channels
PREDICT_CASES = {
    "one channel for two": ("channel", stacks(channels=1), (ValueError, "X[0] has 1 channel(s)")),
    "three channels for two": ("channel", stacks(channels=3),
                               (ValueError, "X[0] has 3 channel(s)")),
    "no channel axis for two": ("channel", stacks(), (ValueError, "X has shape")),
    "NaN": ("stack", with_value(stacks(), np.nan), (ValueError, "X[1] contains NaN")),
    "2D images for a stack model": ("stack", stacks()[:, 0], (ValueError, "X has shape")),
    "bool stacks": ("stack", stacks() > 0.5, (TypeError, "X[0] must hold real")),
    "empty axis": ("stack", stacks()[:, :, :0], (ValueError, "X[0] is empty")),
}


@pytest.mark.parametrize("method", ["predict", "transform", "predict_proba"])
@pytest.mark.parametrize("case", PREDICT_CASES)
def test_prediction_refuses_what_the_model_cannot_read(case, method, stack_model,
                                                       channel_model):
    kind, X, (error, argument) = PREDICT_CASES[case]
    model = channel_model if kind == "channel" else stack_model
    assert_one_line_error(lambda: getattr(model, method)(X), error, argument)


@pytest.mark.parametrize("method", ["score", "tune_threshold"])
def test_scoring_refuses_other_channel_counts(method, channel_model):
    assert_one_line_error(lambda: getattr(channel_model, method)(stacks(channels=1), labels()),
                          ValueError, "X[0] has 1 channel(s)")


def test_predictor_refuses_other_channel_counts(channel_model):
    assert_one_line_error(lambda: channel_model.predictor_.denoise(list(stacks(channels=3))),
                          ValueError, "images[0] has 3 channel(s)")


@pytest.mark.parametrize("X", [np.full((2, *STACK), 3.0, np.float32),
                               stacks()[:2, :1], stacks()[:2, :3, :5, :7],
                               (stacks()[:2] * 60000).astype(np.uint16),
                               stacks()[:2] * np.float32(1e30)],
                         ids=["constant", "one plane", "tiny", "uint16", "huge"])
def test_prediction_on_odd_stacks_works(X, stack_model):
    denoised = stack_model.transform(X)
    assert denoised.shape == X.shape and np.isfinite(denoised).all()
    assert stack_model.predict(X).shape == X.shape
    proba = stack_model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=-1), 1, atol=1e-5)


# ------------------------------------------------------------ model files


@pytest.fixture(scope="module")
def model_file(stack_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "model.pt"
    stack_model.save(path)
    return path


def package(path, files):
    """A zip with a bioimage.io description and ``files`` {name: bytes}."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("rdf.yaml", "type: model\nformat_version: 0.5.4\nname: other\n")
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def test_a_package_with_the_model_file_loads(model_file, stack_model, tmp_path):
    path = package(tmp_path / "ours.zip", {MODEL_FILE: model_file.read_bytes()})
    X = stacks(2)
    for loaded in (DenoiSegEstimator.load(path).predictor_, DenoiSegPredictor.load(path)):
        np.testing.assert_array_equal(loaded.denoise(list(X)),
                                      stack_model.predictor_.denoise(list(X)))


@pytest.mark.parametrize("case, message", [
    ("truncated package", "is not a readable sklearn_denoiseg model file"),
    ("package cut at its end", "is not a readable sklearn_denoiseg model file"),
    ("corrupted model inside a package", "is a corrupted bioimage.io package"),
    ("package of another tool", "not one exported by sklearn_denoiseg"),
    ("garbage model inside a package", f"{MODEL_FILE} in"),
    ("zip without a description", "is not a readable sklearn_denoiseg model file"),
    ("empty file", "is not a readable sklearn_denoiseg model file"),
])
@pytest.mark.parametrize("loader", [DenoiSegEstimator.load, DenoiSegPredictor.load],
                         ids=["estimator", "predictor"])
def test_broken_model_files_are_one_line_errors_naming_the_file(case, message, loader,
                                                               model_file, tmp_path):
    ours = package(tmp_path / "ours.zip", {MODEL_FILE: model_file.read_bytes()})
    data = ours.read_bytes()
    path = tmp_path / "broken.zip"
    if case == "truncated package":
        path.write_bytes(data[:len(data) // 2])
    elif case == "package cut at its end":
        path.write_bytes(data[:-100])
    elif case == "corrupted model inside a package":
        # stored compressed, so that the flipped byte breaks decompression
        with zipfile.ZipFile(ours) as source, zipfile.ZipFile(
                path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name in source.namelist():
                archive.writestr(name, source.read(name))
        path = flip_byte_inside(path, MODEL_FILE, tmp_path / "flipped.zip")
    elif case == "package of another tool":
        package(path, {"weights.pt": b"\x00" * 64})
    elif case == "garbage model inside a package":
        package(path, {MODEL_FILE: b"not a model" * 10})
    elif case == "zip without a description":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("notes.txt", "hello")
    else:
        path.write_bytes(b"")
    text = assert_one_line_error(lambda: loader(path), ValueError, str(path))
    assert message in text
    assert "/tmp" not in text.replace(str(tmp_path), "")  # no temporary file named
