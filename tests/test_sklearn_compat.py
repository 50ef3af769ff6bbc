"""scikit-learn's generic estimator checks that apply to image input, and
image versions of the checks that assume tabular data."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.utils import estimator_checks

from sklearn_denoiseg.datasets import make_blobs
from sklearn_denoiseg.metrics import ap_scorer, seg_scorer

from ._helpers import tiny_estimator

APPLICABLE_CHECKS = [
    "check_parameters_default_constructible",
    "check_no_attributes_set_in_init",
    "check_get_params_invariance",
    "check_set_params",
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_estimator_tags_renamed",
    "check_valid_tag_types",
    "check_mixin_order",
]


@pytest.mark.parametrize("check", APPLICABLE_CHECKS)
def test_sklearn_check(check):
    getattr(estimator_checks, check)("DenoiSegEstimator", tiny_estimator())


def test_tags_declare_image_input():
    tags = tiny_estimator().__sklearn_tags__()
    assert tags.input_tags.three_d_array and not tags.input_tags.two_d_array
    assert not tags.target_tags.required


def test_fit_returns_self_and_keeps_params(blobs):
    X, _, y = blobs
    est = tiny_estimator(alpha=0.3)
    params = est.get_params()
    assert est.fit(X, y) is est
    assert est.get_params() == params            # fit does not touch public params
    public_after = {k for k in vars(est) if not k.endswith("_") and not k.startswith("_")}
    assert public_after == set(params)


def test_fit_does_not_modify_inputs(blobs):
    X, _, y = blobs
    X_list, y_list = [x.copy() for x in X], [lab.copy() for lab in y]
    X_before, y_before = X.copy(), y.copy()
    tiny_estimator().fit(X_list, y_list)
    np.testing.assert_array_equal(np.stack(X_list), X_before)
    np.testing.assert_array_equal(np.stack(y_list), y_before)


def test_unfitted_raises(blobs):
    X, y, _ = blobs
    est = tiny_estimator()
    for method in (est.predict, est.predict_proba, est.transform):
        with pytest.raises(NotFittedError):
            method(X)
    with pytest.raises(NotFittedError):
        est.score(X, y)


def test_clone_is_unfitted(trained):
    cloned = clone(trained)
    assert cloned.get_params() == trained.get_params()
    assert not hasattr(cloned, "predictor_")


def test_prediction_does_not_change_state(trained, blobs):
    X = blobs[0]
    state = {k: v for k, v in vars(trained).items() if k != "predictor_"}
    weights = {k: v.clone() for k, v in trained.predictor_.module.state_dict().items()}
    trained.predict(X[:2])
    trained.transform(X[:2])
    assert {k: v for k, v in vars(trained).items() if k != "predictor_"}.keys() == state.keys()
    for name, value in trained.predictor_.module.state_dict().items():
        assert value.equal(weights[name]), name


def test_subset_and_order_invariance(trained, blobs):
    X = blobs[0]
    full = trained.predict_proba(X)
    np.testing.assert_allclose(trained.predict_proba(X[2:5]), full[2:5], atol=1e-6)
    order = np.array([3, 0, 2])
    np.testing.assert_allclose(trained.predict_proba(X[order]), full[order], atol=1e-6)


def test_readonly_and_non_contiguous_inputs(trained, blobs):
    X, _, y = blobs
    readonly = X.copy()
    readonly.setflags(write=False)
    np.testing.assert_array_equal(trained.predict(readonly), trained.predict(X))
    fortran = np.asfortranarray(X)
    np.testing.assert_allclose(trained.transform(fortran), trained.transform(X), atol=1e-6)
    strided = np.repeat(X, 2, axis=2)[:, :, ::2]
    np.testing.assert_allclose(trained.transform(strided), trained.transform(X), atol=1e-6)
    est = tiny_estimator().fit(readonly, y)
    assert est.transform(readonly).shape == X.shape


def test_pickle_round_trip(trained, blobs):
    X = blobs[0]
    restored = pickle.loads(pickle.dumps(trained))
    np.testing.assert_array_equal(restored.predict(X), trained.predict(X))
    np.testing.assert_array_equal(restored.transform(X), trained.transform(X))
    assert restored.threshold_ == trained.threshold_


def test_model_pickled_on_cuda_unpickles_on_cpu(blobs, monkeypatch):
    import torch

    from sklearn_denoiseg.exceptions import DeviceFallbackWarning

    X, _, y = blobs
    est = tiny_estimator().fit(X, y)
    expected = est.predict_proba(X)
    est.predictor_.device = "cuda"           # as if it had been trained on a GPU
    pickled = pickle.dumps(est)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(DeviceFallbackWarning, match="not available here; using 'cpu'"):
        restored = pickle.loads(pickled)
    assert restored.predictor_.device == "cpu"
    np.testing.assert_array_equal(restored.predict_proba(X), expected)


def test_pickle_size_does_not_grow_with_data():
    # validation batches and best-weight copies are not carried into pickles
    sizes = []
    for n_images in (6, 30):
        X, y = make_blobs(n_images=n_images, shape=(48, 48), random_state=0)
        # 40 steps allow up to 10 validation batches: 2 for 6 images, 8 for 30
        est = tiny_estimator(validation_fraction=0.5, steps_per_epoch=40, max_epochs=1)
        est.fit(X, y)
        sizes.append(len(pickle.dumps(est)))
    assert sizes[1] < 1.05 * sizes[0]


def test_fit_idempotent(blobs):
    X, _, y = blobs
    est = tiny_estimator()
    first = est.fit(X, y).transform(X)
    second = est.fit(X, y).transform(X)
    np.testing.assert_array_equal(first, second)


def test_same_random_state_same_results(blobs):
    X, _, y = blobs
    a = tiny_estimator(random_state=3).fit(X, y)
    b = tiny_estimator(random_state=3).fit(X, y)
    c = tiny_estimator(random_state=4).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(a.history_[:, "train_loss"], b.history_[:, "train_loss"])
    assert not np.array_equal(a.transform(X), c.transform(X))


def test_grid_search_over_alpha_and_threshold(blobs):
    X, y, _ = blobs
    search = GridSearchCV(
        tiny_estimator(threshold=0.5),
        {"alpha": [0.0, 0.5], "threshold": [0.3, 0.6]},
        cv=KFold(2),
        scoring={"ap": ap_scorer, "seg": seg_scorer},
        refit="ap",
        error_score="raise",
    )
    search.fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert np.isfinite(search.cv_results_["mean_test_ap"]).all()
    assert np.isfinite(search.cv_results_["mean_test_seg"]).all()
    assert search.best_params_["alpha"] in (0.0, 0.5)
    assert search.best_estimator_.predict(X).shape == X.shape


def test_cross_val_score_uses_estimator_score(blobs):
    X, y, _ = blobs
    scores = cross_val_score(tiny_estimator(), list(X), list(y), cv=2, error_score="raise")
    assert scores.shape == (2,) and ((scores >= 0) & (scores <= 1)).all()


def test_sequential_pipeline(blobs):
    X, _, y = blobs
    pipe = Pipeline([("n2v", tiny_estimator(alpha=1.0)), ("seg", tiny_estimator(alpha=0.0))])
    pipe.fit(X, y)
    denoised = pipe.named_steps["n2v"].transform(X)
    np.testing.assert_array_equal(pipe.predict(X), pipe.named_steps["seg"].predict(denoised))
    assert 0 <= pipe.score(X[:4], y[:4]) <= 1
