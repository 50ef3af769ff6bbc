import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg.datasets import make_blobs
from sklearn_denoiseg.exceptions import NoObjectsFoundWarning
from sklearn_denoiseg._instances import search_threshold
from sklearn_denoiseg.metrics import average_precision

from ._helpers import tiny_estimator


# ----------------------------------------------------------------- outputs


def test_output_forms_for_arrays(trained, blobs):
    X = blobs[0]
    labels = trained.predict(X)
    proba = trained.predict_proba(X)
    denoised = trained.transform(X)
    assert labels.shape == X.shape and labels.dtype == np.int32
    assert proba.shape == (*X.shape, 3) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=-1), 1.0, atol=1e-5)
    assert denoised.shape == X.shape and denoised.dtype == np.float32
    assert np.isfinite(denoised).all()


def test_lists_of_any_size_keep_their_shapes(trained, blobs):
    X = blobs[0]
    images = [X[0], X[1][:37, :21], X[2][:5, :9], np.tile(X[3], (3, 2))]
    for method in (trained.predict, trained.transform):
        out = method(images)
        assert isinstance(out, list)
        assert [o.shape for o in out] == [im.shape for im in images]
    assert [p.shape for p in trained.predict_proba(images)] == [
        (*im.shape, 3) for im in images
    ]


def test_predict_is_thresholded_foreground(trained, blobs):
    X = blobs[0][:2]
    foreground = trained.predict_proba(X)[..., 1]
    labels = trained.predict(X)
    np.testing.assert_array_equal(labels > 0, foreground > trained.threshold_)


def test_transform_is_in_input_units(blobs):
    X, _, y = blobs
    est = tiny_estimator().fit(X, y)
    scaled = tiny_estimator().fit(X * 1000 + 5000, y)
    np.testing.assert_allclose(
        scaled.transform(X * 1000 + 5000), est.transform(X) * 1000 + 5000, rtol=1e-3, atol=0.5
    )
    np.testing.assert_allclose(est.mean_, [X.mean()], rtol=1e-6)
    np.testing.assert_allclose(est.std_, [X.std()], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float16, np.float64])
def test_any_real_dtype(dtype, blobs):
    X, _, y = blobs
    X = (X - X.min()) * 50
    est = tiny_estimator().fit(X.astype(dtype), y)
    out = est.transform(X.astype(dtype))
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert est.predict(X.astype(dtype)).shape == X.shape


def test_tiled_prediction_matches_whole_image(trained):
    rng = np.random.default_rng(0)
    image = rng.normal(size=(150, 130)).astype(np.float32)
    whole = trained.predict_proba([image])[0]
    trained.set_params(tile_size=64)      # margin 28 for depth 2: several tiles
    try:
        tiled = trained.predict_proba([image])[0]
    finally:
        trained.set_params(tile_size=1024)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_score_is_mean_ap_over_annotated(trained, blobs):
    X, y, y_partial = blobs
    expected = average_precision(list(y_partial[:4]), list(trained.predict(X[:4])))
    assert trained.score(X, y_partial) == pytest.approx(expected)
    with pytest.raises(ValueError, match="no annotated image"):
        trained.score(X[4:], y_partial[4:])


# ---------------------------------------------------------------- learning


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_beats_untrained_network(precision):
    X, y = make_blobs(n_images=8, shape=(48, 48), random_state=1)
    X_test, y_test = make_blobs(n_images=4, shape=(48, 48), random_state=2)
    common = dict(depth=2, n_filters=8, patch_size=32, batch_size=8, lr=4e-3,
                  precision=precision, random_state=0, verbose=0)
    untrained = DenoiSegEstimator(**common, max_epochs=1, steps_per_epoch=1).fit(X, y)
    trained = DenoiSegEstimator(**common, max_epochs=12, steps_per_epoch=10).fit(X, y)
    assert trained.score(X_test, y_test) > 0.8
    assert trained.score(X_test, y_test) > untrained.score(X_test, y_test) + 0.5
    history = trained.history_
    assert history[-1, "train_seg_loss"] < history[0, "train_seg_loss"]


def test_history_records_both_terms(trained):
    keys = trained.history_[-1].keys()
    for key in ("train_n2v_loss", "train_seg_loss", "valid_n2v_loss", "valid_seg_loss"):
        assert key in keys
    row = trained.history_[-1]
    assert row["train_loss"] == pytest.approx(
        0.5 * row["train_n2v_loss"] + 0.5 * row["train_seg_loss"], rel=1e-5
    )


def test_best_weights_are_restored(blobs):
    X, _, y = blobs
    # a learning rate this high makes the validation loss worse after epoch 1
    diverging = tiny_estimator(max_epochs=4, steps_per_epoch=2, lr=0.05).fit(X, y)
    losses = diverging.history_[:, "valid_loss"]
    best = int(np.argmin(losses))
    assert best < len(losses) - 1
    # training is deterministic, so the same run stopped at the best epoch has
    # the weights that must have been restored
    stopped = tiny_estimator(max_epochs=best + 1, steps_per_epoch=2, lr=0.05).fit(X, y)
    np.testing.assert_array_equal(diverging.transform(X), stopped.transform(X))


def test_threshold_auto_searches(trained):
    assert 0 < trained.threshold_ < 1
    assert trained.threshold_scores_[trained.threshold_] == max(
        trained.threshold_scores_.values()
    )
    assert trained.decision_threshold() == trained.threshold_


def test_threshold_is_read_at_prediction_time(trained, blobs):
    X = blobs[0][:3]
    foreground = trained.predict_proba(X)[..., 1]
    tuned = trained.threshold_
    try:
        for threshold in (0.2, 0.7):
            trained.set_params(threshold=threshold)          # no refit
            assert trained.decision_threshold() == threshold
            np.testing.assert_array_equal(trained.predict(X) > 0, foreground > threshold)
        assert trained.threshold_ == tuned                   # the tuned value is kept
    finally:
        trained.set_params(threshold="auto")
    np.testing.assert_array_equal(trained.predict(X) > 0, foreground > tuned)


def test_a_float_threshold_still_tunes_threshold_(blobs):
    X, _, y = blobs
    est = tiny_estimator(threshold=0.3).fit(X, y)
    assert est.decision_threshold() == 0.3
    assert est.threshold_ in est.threshold_scores_
    assert est.set_params(threshold="auto").decision_threshold() == est.threshold_


def test_tune_threshold_on_other_images(trained, blobs):
    X, y, _ = blobs
    before = dict(trained.threshold_scores_)
    try:
        assert trained.tune_threshold(X[4:], y[4:]) is trained
        assert trained.threshold_scores_ != before
        assert trained.threshold_scores_[trained.threshold_] == max(
            trained.threshold_scores_.values())
        with pytest.raises(ValueError, match="no annotated image"):
            trained.tune_threshold(X[:2], np.zeros_like(y[:2]))
    finally:
        trained.threshold_ = before and max(sorted(before, reverse=True), key=before.get)
        trained.threshold_scores_ = before


def test_threshold_falls_back_to_training_images(blobs):
    X, y, _ = blobs
    y_one = np.zeros_like(y)
    y_one[0] = y[0]             # a single annotated image stays in training
    with pytest.warns(UserWarning, match="no annotated image in the validation"):
        est = tiny_estimator().fit(X, y_one)
    assert est.threshold_ is not None


@pytest.mark.parametrize("alpha, monitored", [(0.0, "train_loss"), (0.5, "valid_loss")])
def test_segmentation_only_without_annotated_validation_monitors_training(
        alpha, monitored, blobs):
    # A segmentation-only model's validation loss on unannotated images is
    # always 0, so "best validation loss" would keep the first epoch forever.
    X, y, _ = blobs
    y_one = np.zeros_like(y)
    y_one[0] = y[0]
    with pytest.warns(UserWarning, match="no annotated image in the validation") as caught:
        est = tiny_estimator(alpha=alpha, max_epochs=4).fit(X, y_one)
    assert ("valid_loss" in est.history_[-1]) == (alpha > 0)
    # the warning says when the kept weights were chosen on the training loss too
    message = next(str(w.message) for w in caught if "validation split" in str(w.message))
    assert ("lowest training loss" in message) == (alpha == 0)
    best = [row["epoch"] for row in est.history_ if row.get(f"{monitored}_best")]
    assert best[-1] > 1


# --------------------------------------------------- without segmentation


@pytest.mark.parametrize("case", ["y_none", "all_zero", "alpha_one"])
def test_denoising_only_models(case, blobs):
    X, y, _ = blobs
    if case == "y_none":
        est = tiny_estimator().fit(X)
    elif case == "all_zero":
        est = tiny_estimator().fit(X, np.zeros_like(y))
    else:
        est = tiny_estimator(alpha=1.0).fit(X, y)
    assert est.transform(X).shape == X.shape
    assert est.threshold_ is None
    for method in (est.predict, est.predict_proba):
        with pytest.raises(ValueError, match="fitted without annotated labels"):
            method(X)
    with pytest.raises(ValueError, match="cannot segment"):
        est.score(X, y)


def test_fit_transform(blobs):
    X = blobs[0]
    est = tiny_estimator()
    np.testing.assert_array_equal(est.fit_transform(X), est.transform(X))


# ------------------------------------------------------------ odd inputs


def test_single_small_image_trains_without_validation():
    X, y = make_blobs(n_images=1, shape=(20, 27), random_state=0)
    with pytest.warns(UserWarning, match="no annotated image in the validation"):
        est = tiny_estimator().fit(list(X), list(y))
    assert "valid_loss" not in est.history_[-1]
    assert est.predict(list(X))[0].shape == (20, 27)


def test_steps_per_epoch_auto():
    X, _ = make_blobs(n_images=3, shape=(64, 64), random_state=0)
    est = tiny_estimator(steps_per_epoch=None, max_epochs=1, validation_fraction=0.0)
    # 3 images x 4 patches x 8 transforms / 8 per batch = 12 -> at least 100
    assert est.fit(X).steps_per_epoch_ == 100
    assert est.history_[-1, "train_batch_count"] == 100


def test_more_steps_than_patches_never_stop_early():
    X, _ = make_blobs(n_images=2, shape=(32, 32), random_state=0)
    est = tiny_estimator(steps_per_epoch=50, max_epochs=1).fit(X)
    assert est.history_[-1, "train_batch_count"] == 50


# ------------------------------------------------------------------ errors


def bad(message):
    return re.escape(message)


@pytest.mark.parametrize(
    "X, y, error, message",
    [
        ([np.zeros((8, 8))], [np.zeros((8, 8)), np.zeros((8, 8))], ValueError,
         "y holds 2 label images but X holds 1 images"),
        ([np.zeros((64, 64))], [np.zeros((64, 60), int)], ValueError,
         "y[0] has shape (64, 60) but X[0] has shape (64, 64)"),
        ([np.full((8, 8), np.nan)], None, ValueError, "X[0] contains NaN or infinite"),
        ([np.full((8, 8), np.inf)], None, ValueError, "X[0] contains NaN or infinite"),
        ([np.zeros((8, 8))], [np.full((8, 8), 0.5)], ValueError, "y[0] must hold integer"),
        ([np.zeros((8, 8))], [-np.ones((8, 8), int)], ValueError, "y[0] holds negative"),
        ([np.zeros((8, 8, 3))], None, ValueError,
         "X[0] has shape (8, 8, 3), but axes='YX' implies an image of shape (Y, X)"),
        (np.zeros((8, 8)), None, ValueError, "it reads as a single image: pass X[np.newaxis]"),
        (np.zeros((2, 8, 8, 1)), None, ValueError, "for Z-stacks use axes='ZYX'"),
        ("images", None, TypeError, "X must be a numpy array"),
        ([], None, ValueError, "X holds no image"),
        ([np.zeros((0, 8))], None, ValueError, "X[0] is empty"),
        ([np.zeros((8, 8), complex)], None, TypeError, "X[0] must hold real numbers"),
        ([np.array([["a"]])], None, TypeError, "X[0] must hold real numbers"),
        ([np.zeros((8, 8))], [np.zeros((8, 8), bool)], TypeError,
         "y[0] is a boolean mask, but instance labels"),
    ],
)
def test_bad_input(X, y, error, message):
    with pytest.raises(error, match=bad(message)):
        tiny_estimator().fit(X, y)


@pytest.mark.parametrize(
    "params, error, message",
    [
        ({"alpha": 1.5}, ValueError, "alpha must be in [0, 1]; got 1.5"),
        ({"alpha": "high"}, TypeError, "alpha must be a number"),
        ({"depth": 0}, ValueError, "depth must be in [1, 8]"),
        ({"depth": 2.0}, TypeError, "depth must be an integer"),
        ({"patch_size": 30}, ValueError, "patch_size must be a multiple of 2**depth = 4"),
        ({"depth": 4, "patch_size": 16, "batch_size": 1}, ValueError,
         "batch_size=1 with patch_size=16 leaves one value per channel at the bottleneck of a "
         "U-Net of depth=4"),
        ({"batch_size": 0}, ValueError, "batch_size must be in [1, inf]"),
        ({"steps_per_epoch": 0}, ValueError, "steps_per_epoch must be in [1, inf]"),
        ({"lr": 0}, ValueError, "lr must be in (0, inf]"),
        ({"n2v_perc_pix": 0}, ValueError, "n2v_perc_pix must be in (0, 100]"),
        ({"class_weights": (1, 1)}, ValueError, "class_weights must be 3 non-negative"),
        ({"label_fraction": 2}, ValueError, "label_fraction must be in (0, 1]"),
        ({"label_fraction": 0.0}, ValueError, "label_fraction must be in (0, 1]"),
        ({"validation_fraction": 1.0}, ValueError, "validation_fraction must be in [0, 1)"),
        ({"threshold": "best"}, TypeError, "threshold must be a number or one of ('auto',)"),
        ({"threshold": 1.0}, ValueError, "threshold must be in [0, 1)"),
        ({"tile_size": 32}, ValueError, "tile_size must be in [60, inf]"),
        ({"batch_norm": "yes"}, TypeError, "batch_norm must be True or False"),
        ({"device": "tpu"}, ValueError, "device must be 'auto', 'cpu' or 'cuda[:index]'"),
        ({"verbose": -1}, ValueError, "verbose must be in [0, inf]"),
        ({"precision": "fp16"}, ValueError, "precision must be one of ('auto', 'bf16', 'fp32')"),
        ({"checkpoint_dir": 3}, TypeError, "checkpoint_dir must be a path or None"),
        ({"warm_start": "yes"}, TypeError, "warm_start must be True or False; got 'yes'"),
        ({"refit_normalization": 1}, TypeError, "refit_normalization must be True or False"),
        ({"freeze": "decoder"}, ValueError, "freeze must be None or 'encoder'; got 'decoder'"),
    ],
)
def test_bad_params(params, error, message, blobs):
    X = blobs[0]
    with pytest.raises(error, match=bad(message)):
        tiny_estimator(**params).fit(X)


def test_one_value_per_channel_at_the_bottleneck_trains_without_batch_norm(blobs):
    X = blobs[0]
    estimator = tiny_estimator(depth=4, patch_size=16, batch_size=1, batch_norm=False,
                               max_epochs=1, steps_per_epoch=2).fit(X)
    assert np.isfinite(estimator.transform(X[:1])).all()


def test_cuda_requested_without_cuda(blobs, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        tiny_estimator(device="cuda").fit(blobs[0])
    assert tiny_estimator(device="auto").fit(blobs[0]).predictor_.device == "cpu"


def test_bad_input_at_prediction(trained):
    with pytest.raises(ValueError, match=bad("X[1] contains NaN")):
        trained.predict([np.zeros((8, 8)), np.full((8, 8), np.nan)])
    with pytest.raises(ValueError, match=bad("X[0] has shape (4, 8, 8), but axes='YX'")):
        trained.transform([np.zeros((4, 8, 8))])


# --------------------------------------------------------------- precision


@pytest.mark.parametrize("native_bf16, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_precision_follows_the_cpu(native_bf16, expected, blobs, monkeypatch):
    from sklearn_denoiseg import _hardware

    monkeypatch.setattr(_hardware, "cpu_has_native_bf16", lambda: native_bf16)
    est = tiny_estimator(precision="auto").fit(blobs[0])
    assert est.precision_ == expected
    assert est.transform(blobs[0]).dtype == np.float32


def test_bf16_on_a_gpu_without_bf16_is_refused(blobs, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    with pytest.raises(ValueError, match="no bfloat16 support"):
        tiny_estimator(device="cuda", precision="bf16").fit(blobs[0])
    from sklearn_denoiseg._hardware import resolve_precision

    assert resolve_precision("auto", "cuda") == "fp32"


def test_module_is_channels_last(trained):
    import torch

    weight = trained.predictor_.module.encoder[0][0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last)


def test_progress_in_a_notebook_without_ipywidgets(blobs, monkeypatch, capsys):
    # In Jupyter, tqdm's notebook bar raises ImportError without ipywidgets:
    # the text bar must be used then.
    import sys
    import types

    from sklearn_denoiseg import _training

    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setattr(_training, "find_spec", lambda name: None)
    X, _, y = blobs
    tiny_estimator(verbose=1).fit(X, y)
    captured = capsys.readouterr()
    assert captured.err.count("0/6") == 1              # one bar over 2 epochs x 3 steps
    assert "6/6" in captured.err
    assert "training 2 epochs x 3 steps" in captured.out
    assert "epoch" not in captured.out.splitlines()[-1]  # no per-epoch table


EPOCH_LINE = re.compile(r"^epoch (\d+)/(\d+)  train_loss \d+\.\d{4}  valid_loss \d+\.\d{4}  "
                        r"valid_n2v_loss \d+\.\d{4}  valid_seg_loss \d+\.\d{4}  "
                        r"\d+[hms][\dms ]* so far, about \d+[hms][\dms ]* left$")


def test_one_plain_line_per_epoch_where_output_is_not_a_terminal(blobs, capsys):
    # pytest captures output: not a terminal, not a notebook
    X, _, y = blobs
    tiny_estimator(verbose=1, max_epochs=3).fit(X, y)
    captured = capsys.readouterr()
    lines = [line for line in captured.out.splitlines() if line.startswith("epoch")]
    assert [EPOCH_LINE.match(line).groups() for line in lines] == [
        ("1", "3"), ("2", "3"), ("3", "3")], captured.out
    assert "training 3 epochs x 3 steps" in captured.out
    assert lines[-1].endswith("about 0s left")
    assert captured.err == ""  # no progress bar in a file


def test_a_terminal_gets_the_bar_and_no_lines(blobs, capsys, monkeypatch):
    X, _, y = blobs
    for stream in (sys.stdout, sys.stderr):
        monkeypatch.setattr(stream, "isatty", lambda: True)
    tiny_estimator(verbose=1).fit(X, y)
    captured = capsys.readouterr()
    assert "6/6" in captured.err
    assert not [line for line in captured.out.splitlines() if line.startswith("epoch")]


def test_a_log_file_shows_progress_as_training_runs(tmp_path):
    # the user's case: python -m ... > train.log 2>&1; every line is flushed
    # when written, so the log shows the plan and each epoch while training
    # goes on, not at exit
    script = (
        "import sys\n"
        "from sklearn_denoiseg._net import DenoiSegNet\n"
        "from sklearn_denoiseg.datasets import make_blobs\n"
        "from tests._helpers import tiny_estimator\n"
        "log = sys.argv[1]\n"
        "original = DenoiSegNet.train_step\n"
        "def train_step(self, batch, **kwargs):\n"
        "    if len(self.history) == 2:  # in epoch 2, the log already shows epoch 1\n"
        "        with open(log) as handle:\n"
        "            assert 'epoch 1/2' in handle.read(), 'epoch 1 not in the log yet'\n"
        "    return original(self, batch, **kwargs)\n"
        "DenoiSegNet.train_step = train_step\n"
        "X, y = make_blobs(n_images=4, shape=(48, 48), random_state=0)\n"
        "tiny_estimator(verbose=1).fit(X, y)\n"
    )
    log = tmp_path / "train.log"
    with open(log, "w") as handle:
        result = subprocess.run([sys.executable, "-c", script, str(log)], stdout=handle,
                                stderr=subprocess.STDOUT, cwd=Path(__file__).parents[1])
    text = log.read_text()
    assert result.returncode == 0, text
    for expected in ("training 2 epochs", "epoch 1/2", "epoch 2/2", "threshold_"):
        assert expected in text, text


def test_quiet_in_joblib_workers(blobs):
    from joblib import Parallel, delayed

    X, _, y = blobs

    def fit_in_worker():
        import contextlib
        import io
        import warnings

        from sklearn_denoiseg._training import is_interactive

        out = io.StringIO()
        # progress is what must stay quiet; warnings (a tiny model may find no
        # object) are shown wherever they arise
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tiny_estimator(verbose=1).fit(X, y)
        return is_interactive(), out.getvalue()

    interactive, printed = Parallel(n_jobs=2, backend="loky")(
        delayed(fit_in_worker)() for _ in range(1))[0]
    assert interactive is False and printed == ""


def test_verbose_2_prints_the_epoch_table(blobs, capsys):
    X, _, y = blobs
    tiny_estimator(verbose=2).fit(X, y)
    out = capsys.readouterr().out
    assert "train_loss" in out and "valid_loss" in out and "threshold_" in out


def test_score_without_annotations_names_the_splitter(trained, blobs):
    X, y, _ = blobs
    with pytest.raises(ValueError, match="AnnotatedKFold"):
        trained.score(X[:2], np.zeros_like(y[:2]))


# ------------------------------------------------------ validation protocol


def test_separate_validation_set_trains_on_every_annotated_image(blobs, monkeypatch):
    from sklearn_denoiseg import _training

    X, y, y_partial = blobs
    seen = {}
    original = _training.PatchSampler

    def recording(images, classes, **kwargs):
        seen.setdefault("samplers", []).append(sum(c is not None for c in classes))
        return original(images, classes, **kwargs)

    monkeypatch.setattr(_training, "PatchSampler", recording)
    est = tiny_estimator().fit(X[:6], y_partial[:6], X_val=X[6:], y_val=y[6:])
    # validation batches first, then training: 2 annotated validation images,
    # and all 4 annotated training images train (none is held out)
    assert seen["samplers"] == [2, 4]
    assert "valid_seg_loss" in est.history_[-1]
    # the threshold is tuned on the validation set
    threshold, scores = search_threshold(est.predictor_.foreground(X[6:]), list(y[6:]))
    assert (est.threshold_, est.threshold_scores_) == (threshold, scores)


def test_validation_arguments_are_checked(blobs):
    X, y, _ = blobs
    with pytest.raises(ValueError, match="y_val was given without X_val"):
        tiny_estimator().fit(X, y, y_val=y[:2])
    with pytest.raises(ValueError, match=re.escape("y_val[0] has shape (48, 48) but X_val[0]")):
        tiny_estimator().fit(X, y, X_val=X[:2, :40], y_val=y[:2])


def test_threshold_search_never_settles_on_finding_nothing():
    # a network that finds no object: every threshold scores AP 0, and ties
    # (higher threshold wins) would pick 0.99, which predicts no object at all
    labels = np.zeros((2, 32, 32), np.int32)
    labels[:, 4:12, 4:12] = 1
    foregrounds = [np.full((32, 32), 0.02, np.float32)] * 2
    with pytest.warns(NoObjectsFoundWarning, match="every threshold scored AP 0 on the 2"):
        threshold, scores = search_threshold(foregrounds, list(labels))
    assert threshold == 0.5
    assert set(scores.values()) == {0.0}
    # a single informative threshold still wins
    foregrounds[0] = np.where(labels[0] > 0, 0.3, 0.02).astype(np.float32)
    threshold, scores = search_threshold(foregrounds, list(labels))
    assert 0.02 <= threshold < 0.3 and scores[threshold] > 0
