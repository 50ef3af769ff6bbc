"""Models that keep learning: warm start, fine-tuning with a frozen encoder,
DenoiSeg started from a Noise2Void model, and the command line's --init."""

import copy
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg.cli import main
from sklearn_denoiseg.datasets import make_blobs

from ._helpers import tiny_estimator

TINY = dict(precision="fp32", lr=4e-3, steps_per_epoch=4)


@pytest.fixture(scope="module")
def data():
    X, y = make_blobs(n_images=8, shape=(48, 48), random_state=0)
    return X[:6], y[:6], X[6:], y[6:]


@pytest.fixture(scope="module")
def fitted(data):
    X, y, X_val, y_val = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tiny_estimator(**TINY, max_epochs=3).fit(X, y, X_val=X_val, y_val=y_val)


def weights(estimator):
    return {name: tensor.clone() for name, tensor
            in estimator.predictor_.module.state_dict().items()}


def warm(estimator, **params):
    """A copy of a fitted estimator, set to continue from its network."""
    return copy.deepcopy(estimator).set_params(warm_start=True, **params)


def test_warm_start_continues_where_the_first_fit_ended(fitted, data):
    X, y, X_val, y_val = data
    before = weights(fitted)
    # a learning rate too small to move the weights: the validation loss of the
    # first epoch is that of the kept weights (up to batch statistics, which
    # training batches still update)
    continued = warm(fitted, lr=1e-12, max_epochs=2).fit(X, y, X_val=X_val, y_val=y_val)
    history = continued.history_
    assert history[:, "epoch"] == [1, 2, 3, 4, 5]
    assert history[:3, "valid_loss"] == fitted.history_[:, "valid_loss"]
    kept = min(fitted.history_[:, "valid_loss"])
    assert history[3]["valid_loss"] == pytest.approx(kept, rel=0.02)
    # a cold start from the same seed begins far above where the first fit ended
    cold = tiny_estimator(**TINY, max_epochs=1).fit(X, y, X_val=X_val, y_val=y_val)
    assert cold.history_[0]["valid_loss"] > 1.2 * kept
    after = weights(continued)
    for name, tensor in before.items():
        if "running" not in name and "num_batches" not in name:
            torch.testing.assert_close(after[name], tensor, rtol=0, atol=1e-6)
    assert continued.mean_ == fitted.mean_ and continued.std_ == fitted.std_


def test_warm_start_trains_on(fitted, data):
    X, y, X_val, y_val = data
    continued = warm(fitted, max_epochs=3).fit(X, y, X_val=X_val, y_val=y_val)
    assert len(continued.history_) == 6
    assert min(continued.history_[3:, "valid_loss"]) < min(fitted.history_[:, "valid_loss"])
    assert continued.threshold_ is not None


def test_without_a_fitted_model_warm_start_trains_from_scratch(data):
    X, y, X_val, y_val = data
    cold = tiny_estimator(**TINY, max_epochs=1).fit(X, y, X_val=X_val, y_val=y_val)
    warm_unfitted = tiny_estimator(**TINY, max_epochs=1, warm_start=True).fit(
        X, y, X_val=X_val, y_val=y_val)
    assert warm_unfitted.history_[:, "valid_loss"] == cold.history_[:, "valid_loss"]


def test_clone_drops_the_fitted_network(fitted):
    cloned = clone(warm(fitted))
    assert cloned.get_params()["warm_start"] is True
    assert not [name for name in vars(cloned) if name.endswith("_")]


@pytest.mark.parametrize("params, message", [
    ({"depth": 3}, "depth=3 differs from its depth=2: set depth=2, or warm_start=False"),
    ({"n_filters": 16}, "n_filters=16 differs from its n_filters=8"),
    ({"batch_norm": False}, "batch_norm=False differs from its batch_norm=True"),
    ({"n2v2": True}, "n2v2=True differs from its n2v2=False"),
])
def test_another_architecture_is_refused_and_the_model_kept(params, message, fitted, data):
    X, y, _, _ = data
    model = warm(fitted, **params)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")) as caught:
        model.fit(X, y)
    assert "\n" not in str(caught.value)
    # the failed fit keeps the model it was to start from
    np.testing.assert_array_equal(model.transform(X), fitted.transform(X))


def test_other_axes_or_channels_are_refused(fitted, data):
    X = data[0]
    with pytest.raises(ValueError, match="axes='YXC' differs from its axes='YX'"):
        warm(fitted, axes="YXC").fit(X[..., np.newaxis])
    one_channel = tiny_estimator(**TINY, max_epochs=1, axes="YXC").fit(X[..., np.newaxis])
    with pytest.raises(ValueError, match=r"X has 2 channel\(s\) and the network was trained on 1"):
        warm(one_channel).fit(np.stack([X, X], axis=-1))


def test_freeze_encoder_leaves_it_unchanged(fitted, data):
    X, y, X_val, y_val = data
    before = weights(fitted)
    tuned = warm(fitted, freeze="encoder", lr=1e-2, max_epochs=2).fit(
        X, y, X_val=X_val, y_val=y_val)
    after = weights(tuned)
    encoder = [name for name in before if name.startswith("encoder.")]
    assert any("running_mean" in name for name in encoder)  # batch statistics too
    for name in encoder:
        torch.testing.assert_close(after[name], before[name], rtol=0, atol=0)
    assert not all(torch.equal(after[name], before[name])
                   for name in before if name.startswith("decoder."))


def test_normalisation_is_kept_unless_refitted(fitted, data):
    X, y, X_val, y_val = data
    brighter = [image * 3 + 100 for image in X]
    kept = warm(fitted, max_epochs=1).fit(brighter, y)
    assert kept.mean_ == fitted.mean_ and kept.std_ == fitted.std_
    refitted = warm(fitted, max_epochs=1, refit_normalization=True).fit(brighter, y)
    assert refitted.mean_[0] == pytest.approx(np.mean(brighter), rel=1e-6)
    assert refitted.std_[0] == pytest.approx(np.std(brighter), rel=1e-5)


def test_denoiseg_starts_from_a_noise2void_model(data):
    X, y, X_val, y_val = data
    n2v = tiny_estimator(**TINY, max_epochs=3).fit(X, X_val=X_val)
    assert n2v.threshold_ is None
    joint = warm(n2v, alpha=0.5, max_epochs=1).fit(X, y, X_val=X_val, y_val=y_val)
    cold = tiny_estimator(**TINY, max_epochs=1).fit(X, y, X_val=X_val, y_val=y_val)
    assert len(joint.history_) == 4 and joint.threshold_ is not None
    # the pre-trained denoiser starts far ahead of a random one
    assert joint.history_[3]["valid_n2v_loss"] < 0.8 * cold.history_[0]["valid_n2v_loss"]


def test_a_saved_model_continues_and_resumes_from_its_checkpoint(fitted, data, tmp_path,
                                                                monkeypatch):
    from .test_reliability import interrupt_at

    X, y, X_val, y_val = data
    fitted.save(tmp_path / "model.pt")

    def continued(**params):
        return DenoiSegEstimator.load(tmp_path / "model.pt").set_params(
            warm_start=True, max_epochs=3, **params).fit(X, y, X_val=X_val, y_val=y_val)

    interrupt_at(monkeypatch, epoch=2)
    with pytest.warns(UserWarning, match="interrupted after 1 of 3 epochs"):
        continued(checkpoint_dir=tmp_path / "checkpoints")
    monkeypatch.undo()
    resumed = continued(checkpoint_dir=tmp_path / "checkpoints")
    reference = continued()
    assert resumed.history_[:, "train_loss"] == reference.history_[:, "train_loss"]
    np.testing.assert_array_equal(resumed.transform(X), reference.transform(X))
    # another starting model does not resume from that checkpoint
    other = warm(reference, max_epochs=1, checkpoint_dir=tmp_path / "checkpoints")
    assert len(other.fit(X, y, X_val=X_val, y_val=y_val).history_) == 7


def test_stacks_with_channels_continue():
    rng = np.random.default_rng(0)
    X = rng.random((3, 8, 32, 32, 2)).astype(np.float32)
    y = np.zeros((3, 8, 32, 32), np.int32)
    y[:, 2:6, 4:12, 4:12] = 1
    params = dict(axes="ZYXC", depth=2, n_filters=8, patch_size=8, batch_size=4,
                  max_epochs=1, steps_per_epoch=2, precision="fp32", random_state=0, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = DenoiSegEstimator(**params).fit(X, y)
        second = warm(first, freeze="encoder").fit(X, y)
    assert len(second.history_) == 2
    assert second.transform(X).shape == X.shape


def test_command_line_init_continues_a_model(tmp_path):
    import tifffile

    X, y = make_blobs(n_images=4, shape=(48, 48), random_state=0)
    for sub in ("raw", "masks"):
        (tmp_path / sub).mkdir()
    for i in range(4):
        tifffile.imwrite(tmp_path / "raw" / f"img{i}.tif", X[i])
    for i in range(2):
        tifffile.imwrite(tmp_path / "masks" / f"img{i}.tif", y[i].astype(np.uint16))
    options = ["--depth", "2", "--n_filters", "8", "--patch-size", "32", "--batch_size", "8",
               "--steps_per_epoch", "3", "--random_state", "0", "--verbose", "0"]
    first, second = tmp_path / "first.pt", tmp_path / "second.pt"
    assert main(["train", str(tmp_path / "raw"), "--masks", str(tmp_path / "masks"),
                 "--model", str(first), "--max_epochs", "2", *options]) == 0
    # the model's parameters apply; the options given replace them
    assert main(["train", str(tmp_path / "raw"), "--masks", str(tmp_path / "masks"),
                 "--init", str(first), "--model", str(second), "--max_epochs", "1",
                 "--freeze", "encoder"]) == 0
    continued = DenoiSegEstimator.load(second)
    assert len(continued.history_) == 3
    assert continued.get_params()["freeze"] == "encoder"
    assert continued.get_params()["n_filters"] == 8
    start = DenoiSegEstimator.load(first)
    encoder = [name for name in weights(start) if name.startswith("encoder.")]
    for name in encoder:
        torch.testing.assert_close(weights(continued)[name], weights(start)[name])
