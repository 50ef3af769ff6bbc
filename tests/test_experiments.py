"""The paper's experiment: runs, resumes, and summarises as the paper does."""

import json
import math

import matplotlib
import numpy as np
import pytest

from sklearn_denoiseg import DenoiSegEstimator, experiments

matplotlib.use("Agg")

pytest.importorskip("stardist")


@pytest.fixture
def count_fits(monkeypatch):
    calls = []
    original = DenoiSegEstimator.fit

    def counted(self, X, y=None, **fit_params):
        calls.append(self.alpha)
        return original(self, X, y, **fit_params)

    monkeypatch.setattr(DenoiSegEstimator, "fit", counted)
    return calls


def test_runs_every_method_and_resumes(tmp_path, count_fits):
    path = tmp_path / "results.csv"
    params = {**experiments.FAST_PARAMS, "steps_per_epoch": 2, "max_epochs": 1}
    rows = experiments.run_experiment(n_annotated=(1, 2), sigmas=(10,), seeds=(0,),
                                      params=params, results_path=path, verbose=False)
    # one Noise2Void shared by both Sequential runs (frozen, never refitted),
    # and a Baseline, a Sequential and a DenoiSeg per label budget
    assert sorted(count_fits) == [0.0] * 4 + [0.5] * 2 + [1.0]
    assert [(r["method"], r["n_annotated"]) for r in rows] == [
        ("Input", 0), ("Noise2Void", 0),
        ("Baseline", 1), ("Sequential", 1), ("DenoiSeg", 1),
        ("Baseline", 2), ("Sequential", 2), ("DenoiSeg", 2)]
    for row in rows:
        if row["method"] in experiments.METHODS:
            assert 0 <= row["AP"] <= 1 and 0 <= row["SEG"] <= 1
        assert math.isnan(row["PSNR"]) == (row["method"] in ("Baseline", "Sequential"))
    assert 18 < rows[0]["PSNR"] < 26  # sigma 10 on a 0-235 image

    count_fits.clear()
    again = experiments.run_experiment(n_annotated=(1, 2), sigmas=(10,), seeds=(0,),
                                       params=params, results_path=path, verbose=False)
    assert count_fits == []
    assert len(again) == len(rows)
    for old, new in zip(rows, again):
        assert old.keys() == new.keys()
        for key in old:
            assert old[key] == new[key] or (isinstance(old[key], float) and np.isclose(
                old[key], new[key], equal_nan=True))

    # a new label budget with a Sequential run refits Noise2Void, which is
    # not recorded twice
    more = experiments.run_experiment(n_annotated=(1, 2, 3), sigmas=(10,), seeds=(0,),
                                      params=params, results_path=path, verbose=False)
    assert sorted(count_fits) == [0.0, 0.0, 0.5, 1.0]
    assert len(more) == len(rows) + 3
    assert sum(r["method"] == "Noise2Void" for r in more) == 1


def _rows():
    rows = []
    for seed, (ap_base, ap_ds) in enumerate([(0.2, 0.5), (0.4, 0.7)]):
        for method, ap in (("Baseline", ap_base), ("DenoiSeg", ap_ds)):
            rows.append({"protocol": "split", "sigma": 20.0, "seed": seed, "method": method,
                         "alpha": 0.5 if method == "DenoiSeg" else 0.0, "n_annotated": 2,
                         "AP": ap, "SEG": ap + 0.1, "fit_seconds": 1.0,
                         "PSNR": 30.0 + seed if method == "DenoiSeg" else float("nan")})
        rows.append({"protocol": "", "sigma": 20.0, "seed": seed, "method": "Noise2Void",
                     "alpha": 1.0, "n_annotated": 0,
                     "AP": float("nan"), "SEG": float("nan"), "PSNR": 31.0, "fit_seconds": 1.0})
    return rows


def test_summary_and_tables_give_mean_and_standard_error():
    summary = experiments.summarize(_rows())
    assert [(s["method"], s["n_runs"]) for s in summary] == [("Baseline", 2), ("DenoiSeg", 2)]
    assert summary[0]["AP_mean"] == pytest.approx(0.3)
    assert summary[0]["AP_se"] == pytest.approx(0.1)  # std 0.1414 / sqrt(2)
    assert summary[1]["SEG_mean"] == pytest.approx(0.7)
    table = experiments.segmentation_table(_rows(), "AP")
    assert "| split | 20 | Baseline | 0.300 ± 0.100 |" in table
    assert "| split | 20 | DenoiSeg | 0.600 ± 0.100 |" in table
    psnr = experiments.psnr_table(_rows())
    assert "| split | 20 |  | 31.00 ± 0.00 | 30.50 ± 0.50 |" in psnr
    # seed by seed, DenoiSeg adds 0.3 to the Baseline both times
    assert "| split | 20 | DenoiSeg - Baseline | 0.300 ± 0.000 |" in experiments.gain_table(_rows())


def test_figure_has_one_column_per_noise_level_and_a_row_per_protocol(tmp_path):
    rows = _rows() + [{**r, "sigma": 0.0} for r in _rows()]
    fig = experiments.plot_figure3(rows, tmp_path / "figure.png")
    assert len(fig.axes) == 2
    separate = [{**r, "protocol": "separate"} for r in rows if r["protocol"]]
    assert len(experiments.plot_figure3(rows + separate).axes) == 4
    assert [ax.get_title() for ax in fig.axes[:2]] == ["split validation, sigma = 0",
                                                       "split validation, sigma = 20"]
    assert (tmp_path / "figure.png").stat().st_size > 10_000


def test_command_writes_results_tables_and_figure(tmp_path, capsys):
    out = tmp_path / "out"
    experiments.main(["--out", str(out), "--fast", "--annotated", "1", "--sigmas", "10",
                      "--seeds", "0", "1"])
    printed = capsys.readouterr().out
    tables = (out / "tables.md").read_text()
    assert "## AP" in tables and "## SEG" in tables and "## PSNR" in tables
    assert "| split | 10 | DenoiSeg |" in tables and tables in printed
    assert len((out / "results.csv").read_text().splitlines()) == 1 + 2 * 5
    assert (out / "figure3.png").stat().st_size > 10_000


def test_complete_results_of_another_machine_read_back(tmp_path, count_fits):
    path = tmp_path / "results.csv"
    params = {**experiments.FAST_PARAMS, "steps_per_epoch": 1, "max_epochs": 1}
    grid = dict(n_annotated=(1,), sigmas=(10,), params=params, results_path=path, verbose=False)
    trained = experiments.run_experiment(seeds=(0,), **grid)
    record = tmp_path / "results.params.json"
    setup = json.loads(record.read_text())
    record.write_text(json.dumps({**setup, "device": "cuda", "precision": "bf16-on-gpu"}))
    fits = len(count_fits)
    assert experiments.run_experiment(seeds=(0,), **grid) == trained
    assert len(count_fits) == fits
    # new runs would mix machines: refused, naming what differs
    with pytest.raises(ValueError, match="device, precision differ"):
        experiments.run_experiment(seeds=(0, 1), **grid)
    assert len(count_fits) == fits


def test_results_of_other_parameters_are_not_mixed(tmp_path):
    path = tmp_path / "results.csv"
    params = {**experiments.FAST_PARAMS, "steps_per_epoch": 1, "max_epochs": 1}
    experiments.run_experiment(n_annotated=(1,), sigmas=(10,), seeds=(0,), params=params,
                               results_path=path, verbose=False)
    assert (tmp_path / "results.params.json").exists()
    with pytest.raises(ValueError, match="other|not with"):
        experiments.run_experiment(n_annotated=(1,), sigmas=(10,), seeds=(0,),
                                   params={**params, "max_epochs": 2},
                                   results_path=path, verbose=False)
    (tmp_path / "results.params.json").unlink()
    with pytest.raises(ValueError, match="unknown"):
        experiments.run_experiment(n_annotated=(1,), sigmas=(10,), seeds=(0,), params=params,
                                   results_path=path, verbose=False)
    # deleting the results starts over, with any setup
    path.unlink()
    experiments.run_experiment(n_annotated=(1,), sigmas=(10,), seeds=(0,),
                               params={**params, "max_epochs": 2}, results_path=path,
                               verbose=False)
    assert '"max_epochs": 2' in (tmp_path / "results.params.json").read_text()


def test_a_record_older_than_a_parameter_reads_it_as_its_default(tmp_path, count_fits):
    # results recorded before the estimator had warm_start: they ran as its default does
    path = tmp_path / "results.csv"
    params = {**experiments.FAST_PARAMS, "steps_per_epoch": 1, "max_epochs": 1}
    grid = dict(n_annotated=(1,), sigmas=(10,), seeds=(0,), results_path=path, verbose=False)
    trained = experiments.run_experiment(params=params, **grid)
    record = tmp_path / "results.params.json"
    setup = json.loads(record.read_text())
    del setup["warm_start"], setup["refit_normalization"]
    record.write_text(json.dumps(setup))
    fits = len(count_fits)
    assert experiments.run_experiment(params=params, **grid) == trained
    assert len(count_fits) == fits
    # a value other than the default is still another setup
    with pytest.raises(ValueError, match="refit_normalization differ"):
        experiments.run_experiment(params={**params, "refit_normalization": True}, **grid)


TINY_RUN = dict(sigmas=(10,), seeds=(0,), verbose=False,
                params={**experiments.FAST_PARAMS, "steps_per_epoch": 1, "max_epochs": 1})


@pytest.mark.parametrize("grid, message", [
    ({"n_annotated": (0,)}, "n_annotated"),
    ({"n_annotated": (13,)}, "n_annotated"),
    ({"n_annotated": (1.5,)}, "n_annotated"),
    ({"sigmas": (-1,)}, "sigmas"),
    ({"sigmas": (float("nan"),)}, "sigmas"),
    ({"seeds": (-1,)}, "seeds"),
    ({"seeds": ()}, "seeds"),
])
def test_bad_grids_fail_before_any_training(grid, message, count_fits):
    with pytest.raises(ValueError, match=message):
        experiments.run_experiment(**{**TINY_RUN, "n_annotated": (1,), **grid})
    assert count_fits == []


def test_repeated_grid_values_run_once(count_fits):
    rows = experiments.run_experiment(**{**TINY_RUN, "seeds": (0, 0), "sigmas": (10, 10.0)},
                                      n_annotated=(1, 1))
    assert len(count_fits) == 4 and len(rows) == 5


def test_an_interrupted_fit_is_not_recorded(tmp_path, monkeypatch):
    path = tmp_path / "results.csv"
    original = DenoiSegEstimator.fit
    calls = []

    def interrupted_on_third(self, X, y=None):
        calls.append(1)
        original(self, X, y)
        if len(calls) == 3:  # what the estimator does after Ctrl-C
            import warnings

            from sklearn_denoiseg.exceptions import FitInterruptedWarning
            warnings.warn("training was interrupted after 0 of 1 epochs",
                          FitInterruptedWarning)
        return self

    monkeypatch.setattr(DenoiSegEstimator, "fit", interrupted_on_third)
    with pytest.raises(KeyboardInterrupt):
        experiments.run_experiment(**TINY_RUN, n_annotated=(1,), results_path=path)
    methods = [line.split(",")[3] for line in path.read_text().splitlines()[1:]]
    assert methods == ["Input", "Noise2Void", "Baseline"]  # not the interrupted Sequential


def test_damaged_results_files(tmp_path):
    path = tmp_path / "results.csv"
    experiments.run_experiment(**TINY_RUN, n_annotated=(1,), results_path=path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1] + [lines[-1][:12]]) + "\n")  # cut by a kill
    with pytest.raises(ValueError, match="line 6"):
        experiments.run_experiment(**TINY_RUN, n_annotated=(1,), results_path=path)
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="columns"):
        experiments.run_experiment(**TINY_RUN, n_annotated=(1,), results_path=path)
    path.write_text("")  # killed before the header was written
    rows = experiments.run_experiment(**TINY_RUN, n_annotated=(1,), results_path=path)
    assert len(rows) == 5 and path.read_text().startswith("protocol,sigma,seed,method")


def test_command_line_errors_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        experiments.main(["--out", str(tmp_path), "--annotated", "20", "--fast"])
    assert exit_info.value.code == 2
    assert "n_annotated must hold integers from 1 to 12" in capsys.readouterr().err


def test_figure_needs_segmentation_runs():
    with pytest.raises(ValueError, match="no Baseline"):
        experiments.plot_figure3([r for r in _rows() if r["method"] == "Noise2Void"])


@pytest.fixture
def small_synthetic(monkeypatch):
    """The synthetic data set shrunk to a pool of 6 images of 64x64."""
    from sklearn_denoiseg import _experiment_data

    for key, value in {"n_pool": 6, "n_val": 2, "n_test": 2, "shape": (64, 64)}.items():
        monkeypatch.setitem(_experiment_data.SYNTHETIC, key, value)
    return _experiment_data


def test_synthetic_data_is_seeded_noisy_and_fully_labelled(small_synthetic):
    data = small_synthetic.load_experiment_data("synthetic", 20.0, seed=3)
    assert data["X_train"].shape == (6, 64, 64) and data["X_val"].shape == (2, 64, 64)
    assert data["X_test"].shape == data["clean_test"].shape == (2, 64, 64)
    assert all(labels.max() > 0 for labels in data["y_train"])  # the experiment keeps a few
    assert data["X_real"].shape == (16, 128, 128) and data["y_real"].max() > 0
    # about 20 of added noise over the little camera noise of 1000 photons
    residual = data["X_test"] - data["clean_test"]
    assert 19 < residual.std() < 23
    # background at 21 and nuclei 40 above it in the median, as in the real image
    clean, labels = data["clean_test"], data["y_test"]
    assert 18 < np.median(clean[labels == 0]) < 24
    assert 35 < np.median(clean[labels > 0]) - np.median(clean[labels == 0]) < 45
    again = small_synthetic.load_experiment_data("synthetic", 20.0, seed=3)
    np.testing.assert_array_equal(data["X_train"], again["X_train"])
    other = small_synthetic.load_experiment_data("synthetic", 10.0, seed=3)
    np.testing.assert_array_equal(data["y_train"], other["y_train"])  # same nuclei, other noise
    assert not np.array_equal(data["X_train"], other["X_train"])


def test_separate_protocol_validates_on_the_validation_set(small_synthetic, monkeypatch):
    seen = []
    original = DenoiSegEstimator.fit

    def recording(self, X, y=None, **fit_params):
        n_annotated = 0 if y is None else sum(bool(np.any(labels)) for labels in y)
        seen.append((self.alpha, n_annotated, fit_params.get("X_val")))
        return original(self, X, y, **fit_params)

    monkeypatch.setattr(DenoiSegEstimator, "fit", recording)
    params = {**experiments.FAST_PARAMS, "steps_per_epoch": 1, "max_epochs": 1}
    rows = experiments.run_experiment(dataset="synthetic", protocols=("separate", "split"),
                                      n_annotated=(2,), sigmas=(20,), seeds=(0,),
                                      alphas=(0.3, 0.5), params=params, verbose=False)
    data = small_synthetic.load_experiment_data("synthetic", 20.0, seed=0)
    n2v, *segmentation = seen
    assert n2v[:2] == (1.0, 0) and n2v[2] is None
    separate, split = segmentation[:4], segmentation[4:]
    assert [s[0] for s in separate] == [s[0] for s in split] == [0.0, 0.0, 0.3, 0.5]
    assert all(s[1] == 2 for s in segmentation)
    np.testing.assert_array_equal(separate[0][2], data["X_val"])   # the Baseline's
    # Sequential's segmentation step validates on denoised validation images
    assert separate[1][2] is not None and not np.array_equal(separate[1][2], data["X_val"])
    assert all(s[2] is None for s in split)
    assert [(r["protocol"], r["method"], r["alpha"]) for r in rows] == [
        ("", "Input", None), ("", "Noise2Void", 1.0),
        ("separate", "Baseline", 0.0), ("separate", "Sequential", 0.0),
        ("separate", "DenoiSeg", 0.3), ("separate", "DenoiSeg", 0.5),
        ("split", "Baseline", 0.0), ("split", "Sequential", 0.0),
        ("split", "DenoiSeg", 0.3), ("split", "DenoiSeg", 0.5)]
    for row in rows[2:]:
        assert 0 <= row["AP_real"] <= 1 and 0 < row["threshold"] < 1 and row["best_epoch"] == 1


def test_tables_of_alpha_and_noise_levels():
    rows = _rows() + [{**r, "alpha": 0.3, "AP": r["AP"] - 0.2} for r in _rows()
                      if r["method"] == "DenoiSeg"]
    table = experiments.alpha_table(rows)
    # gains per seed: alpha 0.3 adds 0.1, alpha 0.5 adds 0.3
    assert "| split | 20 | 2 | 0.100 ± 0.000 | 0.300 ± 0.000 | 0.5 |" in table
    assert experiments.alpha_table(_rows()) == ""
    # Figure 3 and its tables show DenoiSeg at alpha 0.5 only
    assert experiments.summarize(rows) == experiments.summarize(_rows())
    fig = experiments.plot_alpha(rows)
    assert len(fig.axes) == 1 and fig.axes[0].get_xlabel() == "alpha"

    # noise 10 raises DenoiSeg's AP by 0.05 and 0.15 over noise 0, same seed;
    # the Baseline's by 0.1 in both seeds
    assert experiments.noise_table(_rows()) == ""
    noisy = [{**r, "AP": r["AP"] + (0.1 if r["method"] == "Baseline" else 0.05 + 0.1 * r["seed"]),
              "sigma": 10.0} for r in _rows()]
    clean = [{**r, "sigma": 0.0} for r in _rows()]
    table = experiments.noise_table(clean + noisy + rows)
    assert "| split | 10 - 0 | Baseline | 0.100 ± 0.000 |" in table
    assert "| split | 10 - 0 | DenoiSeg | 0.100 ± 0.050 |" in table
    # sigma 20 holds the same APs as sigma 0; its alpha 0.3 runs are left out
    assert "| split | 20 - 0 | DenoiSeg | 0.000 ± 0.000 |" in table
    assert table.count("\n") == 5  # header, rule, 2 methods at 2 noise levels


def test_published_data_sets_run_the_same_way(monkeypatch, tmp_path):
    from sklearn_denoiseg import _experiment_data
    from sklearn_denoiseg.datasets import make_blobs

    asked = []

    def fake_fetch(name, noise, *, data_home=None):
        asked.append((name, noise, data_home))
        X, y = make_blobs(n_images=8, shape=(32, 32), random_state=noise)
        return {"X_train": X[:4], "Y_train": y[:4], "X_val": X[4:6], "Y_val": y[4:6],
                "X_test": X[6:], "Y_test": y[6:]}

    monkeypatch.setattr(_experiment_data, "fetch_denoiseg", fake_fetch)
    params = {**experiments.FAST_PARAMS, "steps_per_epoch": 1, "max_epochs": 1}
    rows = experiments.run_experiment(dataset="DSB2018", protocols=("separate",),
                                      n_annotated=(1,), sigmas=(10,), seeds=(0,),
                                      params=params, data_home=tmp_path, verbose=False)
    assert {noise for _, noise, _ in asked} == {10}  # no other noise level is downloaded
    assert ("DSB2018", 10, tmp_path) in asked
    assert len(rows) == 5 and all(np.isnan(r["PSNR"]) for r in rows)  # no clean images
    with pytest.raises(ValueError, match="n_annotated must hold integers from 1 to 4"):
        experiments.run_experiment(dataset="DSB2018", n_annotated=(5,), params=params,
                                   data_home=tmp_path, verbose=False)
    with pytest.raises(ValueError, match="noise"):
        experiments.run_experiment(dataset="DSB2018", sigmas=(10, 15), n_annotated=(1,),
                                   params=params, data_home=tmp_path, verbose=False)


@pytest.mark.parametrize("grid, message", [
    ({"dataset": "cells"}, "dataset"),
    ({"protocols": ("cross",)}, "protocols"),
    ({"dataset": "nuclei", "protocols": ("separate",)}, "no separate validation"),
    ({"alphas": (0.0,)}, "alphas"),
    ({"alphas": (1.0,)}, "alphas"),
])
def test_bad_settings_fail_before_any_training(grid, message, count_fits):
    with pytest.raises(ValueError, match=message):
        experiments.run_experiment(**{**TINY_RUN, "n_annotated": (1,), **grid})
    assert count_fits == []


def test_command_sets_the_epochs_of_every_network(tmp_path, capsys):
    out = tmp_path / "out"
    experiments.main(["--out", str(out), "--fast", "--epochs", "3", "--annotated", "1",
                      "--sigmas", "10", "--seeds", "0"])
    assert '"max_epochs": 3' in (out / "results.params.json").read_text()
    with pytest.raises(SystemExit):
        experiments.main(["--out", str(out), "--fast", "--epochs", "0"])
    assert "--epochs must be at least 1" in capsys.readouterr().err
