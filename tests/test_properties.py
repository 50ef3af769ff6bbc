"""Property-based tests: any input either gives outputs of the right shapes
with finite values, or a ValueError/TypeError that names the argument."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ._helpers import tiny_estimator

DTYPES = [np.uint8, np.uint16, np.int32, np.float16, np.float32, np.float64]
RUNS = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def image_sets(draw):
    n_images = draw(st.integers(1, 4))
    same_shape = draw(st.booleans())
    shapes = [(draw(st.integers(1, 70)), draw(st.integers(1, 70)))]
    for _ in range(n_images - 1):
        shapes.append(shapes[0] if same_shape else
                      (draw(st.integers(1, 70)), draw(st.integers(1, 70))))
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    content = draw(st.sampled_from(["random", "constant", "huge_range"]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    images = []
    for shape in shapes:
        if content == "constant":
            image = np.full(shape, 7)
        elif content == "huge_range" and dtype.kind == "f":
            finite_max = min(1e30, float(np.finfo(dtype).max) / 4)
            image = rng.choice([0.0, 1e-6, finite_max], size=shape) * rng.random(shape)
        elif dtype.kind == "f":
            image = rng.normal(100, 30, size=shape)
        else:
            info = np.iinfo(dtype)
            image = rng.integers(max(info.min, 0), info.max, size=shape, endpoint=True)
        images.append(image.astype(dtype))

    labels = []
    for shape in shapes:
        kind = draw(st.sampled_from(["none", "one", "gaps", "random"]))
        label = np.zeros(shape, dtype=np.int64)
        if kind == "one":
            label[: max(1, shape[0] // 2), : max(1, shape[1] // 2)] = 1
        elif kind == "gaps":
            label[::3, ::3] = 10**9
            label[1::3, 1::3] = 17
        elif kind == "random":
            label = rng.integers(0, 5, size=shape)
        labels.append(label)

    if draw(st.booleans()):               # views that are not contiguous
        images = [np.repeat(im, 2, axis=1)[:, ::2] for im in images]
    if draw(st.booleans()):
        for array in images + labels:
            array.setflags(write=False)
    as_array = same_shape and draw(st.booleans())
    if as_array:
        images, labels = np.stack(images), np.stack(labels)
    return images, labels


def check_outputs(result, X, trailing=()):
    assert isinstance(result, type(X)) if isinstance(X, np.ndarray) else isinstance(result, list)
    for out, image in zip(result, X):
        assert out.shape == (*image.shape, *trailing)
        assert np.isfinite(out).all()


@RUNS
@pytest.mark.filterwarnings("ignore:no annotated image in the validation split")
@given(data=image_sets(), annotate=st.booleans())
def test_any_input_works_or_fails_clearly(data, annotate):
    X, y = data
    est = tiny_estimator(max_epochs=1, steps_per_epoch=2)
    est.fit(X, y if annotate else None)
    check_outputs(est.transform(X), X)
    annotated = annotate and any(np.any(label) for label in y)
    if not annotated:
        with pytest.raises(ValueError, match="fitted without annotated labels"):
            est.predict(X)
        return
    check_outputs(est.predict(X), X)
    check_outputs(est.predict_proba(X), X, trailing=(3,))
    assert 0.0 <= est.score(X, y) <= 1.0
    for label in est.predict(X):
        assert label.dtype == np.int32 and label.min() >= 0


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    shape=st.lists(st.integers(0, 5), min_size=0, max_size=4).map(tuple),
    dtype=st.sampled_from(["float32", "int64", "complex64", "bool", "object", "U1"]),
    container=st.sampled_from(["array", "list", "dict", "none"]),
)
def test_malformed_input_raises_value_or_type_error(shape, dtype, container):
    try:
        array = np.zeros(shape, dtype=dtype)
    except (TypeError, ValueError):
        return
    X = {"array": array, "list": [array], "dict": {"a": array}, "none": None}[container]
    est = tiny_estimator(max_epochs=1, steps_per_epoch=1)
    try:
        est.fit(X)
    except (ValueError, TypeError) as error:
        message = str(error)
        assert message.startswith("X") and "torch" not in message
        return
    # accepted: only well-formed inputs may pass
    assert np.dtype(dtype).kind in "uif" and all(s > 0 for s in shape)
    assert (container == "array" and len(shape) == 3) or (container == "list" and len(shape) == 2)


def test_values_too_large_to_normalise():
    X = [np.full((8, 8), 1e300), np.zeros((8, 8))]
    with pytest.raises(ValueError, match="too large to normalise"):
        tiny_estimator().fit(X)
