"""The predictor object, the model file formats and outputs pinned from the
release before the predictor existed (tests/data, written by commit 97278e4)."""

import inspect
import io
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV

from sklearn_denoiseg import DenoiSegEstimator, DenoiSegPredictor, _net
from sklearn_denoiseg._parameters import ROLES, portable, with_role
from sklearn_denoiseg.datasets import make_blobs
from sklearn_denoiseg.model_selection import AnnotatedKFold

from ._helpers import tiny_estimator

DATA = Path(__file__).parent / "data"
MARGIN = 28
"""Context margin of the depth-2 network of the pinned model."""


@pytest.fixture(scope="module")
def pinned():
    with np.load(DATA / "outputs_v1.npz") as outputs:
        return dict(outputs), json.loads((DATA / "outputs_v1.json").read_text())


def test_a_version_1_file_loads_and_predicts_as_before(pinned):
    outputs, record = pinned
    est = DenoiSegEstimator.load(DATA / "model_v1.pt")
    assert est.threshold_ == record["threshold_"]
    np.testing.assert_allclose(est.mean_, [record["mean_"]])
    np.testing.assert_allclose(est.std_, [record["std_"]])
    X = outputs["X_test"]
    assert est.score(X, outputs["y_test"]) == pytest.approx(record["score"])
    # The pins predate the border rule of _tiling (mirroring by the margin on
    # every side), which changes outputs within one margin of the border
    # only: the rest of the large image checks that weights and
    # normalisation load unchanged. The small images lie within that band.
    inside = np.s_[MARGIN:-MARGIN, MARGIN:-MARGIN]
    big = outputs["big"]
    np.testing.assert_allclose(est.predict_proba([big])[0][inside],
                               outputs["big_proba"][inside], atol=1e-5)
    np.testing.assert_allclose(est.transform([big])[0][inside], outputs["big_denoised"][inside],
                               atol=1e-5)
    # the predictor alone reads the old file too
    predictor = DenoiSegPredictor.load(DATA / "model_v1.pt")
    np.testing.assert_array_equal(np.stack(predictor.denoise(X)), est.transform(X))


def test_training_gives_the_pinned_model(pinned):
    outputs, record = pinned
    X, y = make_blobs(n_images=8, shape=(48, 48), random_state=0)
    y[4:] = 0
    est = DenoiSegEstimator(**record["params"]).fit(X, y)
    # The pin was written on an Intel Xeon. The same code trains differently in
    # fp32 on other CPUs (their kernels sum in other orders): on an AMD EPYC the
    # losses differ by up to 1.0%, the threshold by 0.01 and the probabilities by
    # 0.043. Changed training does far more: another n2v_radius or border weight
    # moves the losses by 10% and the probabilities by 0.15 to 0.22.
    for key, values in record["history"].items():
        np.testing.assert_allclose(est.history_[:, key], values, rtol=3e-2, err_msg=key)
    # The threshold is tuned on predictions of the 48x48 training images, all
    # within one margin of their border, and the pinned one (0.36) predates
    # the border rule of _tiling; under the rule the AP is 1.0 from 0.35 to
    # 0.78 and the search keeps 0.78. Probabilities are compared with the
    # pinned network's under the rule too.
    assert est.threshold_ == pytest.approx(0.78, abs=0.015)
    pinned_model = DenoiSegEstimator.load(DATA / "model_v1.pt")
    np.testing.assert_allclose(est.predict_proba(outputs["X_test"]),
                               pinned_model.predict_proba(outputs["X_test"]), atol=0.07)


def test_save_load_round_trip_and_predictor_file(trained, blobs, tmp_path):
    X = blobs[0]
    trained.save(tmp_path / "model.pt")
    loaded = DenoiSegEstimator.load(tmp_path / "model.pt")
    np.testing.assert_array_equal(loaded.predict(X), trained.predict(X))
    assert loaded.get_params() == trained.get_params()
    assert list(loaded.history_) == list(trained.history_)
    trained.predictor_.save(tmp_path / "predictor.pt")
    for path in ("predictor.pt", "model.pt"):
        predictor = DenoiSegPredictor.load(tmp_path / path)
        np.testing.assert_array_equal(np.stack(predictor.denoise(X)), trained.transform(X))
    with pytest.raises(ValueError, match="not describe a valid DenoiSegEstimator"):
        DenoiSegEstimator.load(tmp_path / "predictor.pt")


def test_one_forward_pass_gives_every_output(trained, blobs):
    X = blobs[0][:3]
    outputs = trained.predictor_.predict_all(list(X))
    threshold = trained.decision_threshold()
    np.testing.assert_allclose(np.stack([o.denoised for o in outputs]), trained.transform(X),
                               atol=1e-6)
    np.testing.assert_allclose(np.stack([o.proba for o in outputs]), trained.predict_proba(X),
                               atol=1e-6)
    np.testing.assert_array_equal(np.stack([o.labels(threshold) for o in outputs]),
                                  trained.predict(X))


def test_predictor_checks_its_input(trained):
    with pytest.raises(ValueError, match=r"images\[1\] contains NaN"):
        trained.predictor_.denoise([np.zeros((8, 8)), np.full((8, 8), np.nan)])


def test_pickle_holds_no_optimizer_and_no_second_copy_of_the_weights(trained):
    buffer = io.BytesIO()
    torch.save(trained.predictor_.module.state_dict(), buffer)
    assert len(pickle.dumps(trained)) < 1.2 * buffer.tell()
    assert not any(isinstance(v, _net.DenoiSegNet) for v in vars(trained).values())


def test_every_parameter_has_one_role():
    assert set(ROLES) == set(inspect.signature(DenoiSegEstimator).parameters)
    assert set(ROLES.values()) == {"training", "prediction", "execution"}


def test_checkpoint_key_ignores_prediction_and_execution_parameters(blobs, tmp_path):
    X, _, y = blobs
    names = set()
    for params in ({}, {"threshold": 0.3, "tile_size": 512, "verbose": 0, "device": "cpu"},
                   {"alpha": 0.3}):
        tiny_estimator(checkpoint_dir=tmp_path, **params).fit(X, y)
        names.add(frozenset(p.name for p in tmp_path.iterdir()))
    # the first two share one file; changing alpha writes a second
    assert [len(n) for n in sorted(names, key=len)] == [1, 2]
    assert "threshold" not in portable(with_role(tiny_estimator().get_params(), "training"))


def test_threshold_grid_search_trains_once_per_fold(blobs, tmp_path, monkeypatch):
    X, _, y = blobs
    steps = []
    original = _net.DenoiSegNet.train_step

    def counting(self, batch, **fit_params):
        steps.append(1)
        return original(self, batch, **fit_params)

    monkeypatch.setattr(_net.DenoiSegNet, "train_step", counting)
    est = tiny_estimator(checkpoint_dir=tmp_path, max_epochs=4, steps_per_epoch=5, lr=4e-3)
    search = GridSearchCV(est, {"threshold": [0.05, 0.5, 0.7, 0.95]},
                          cv=AnnotatedKFold(2)).fit(X, y)
    per_fit = 4 * 5  # max_epochs x steps_per_epoch
    assert len(steps) == 3 * per_fit  # 2 folds + the refit, not 4 x 2 + 1
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and len(set(scores)) > 1
