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

    def counted(self, X, y=None):
        calls.append(self.alpha)
        return original(self, X, y)

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
            rows.append({"sigma": 20.0, "seed": seed, "method": method, "n_annotated": 2,
                         "AP": ap, "SEG": ap + 0.1, "fit_seconds": 1.0,
                         "PSNR": 30.0 + seed if method == "DenoiSeg" else float("nan")})
        rows.append({"sigma": 20.0, "seed": seed, "method": "Noise2Void", "n_annotated": 0,
                     "AP": float("nan"), "SEG": float("nan"), "PSNR": 31.0, "fit_seconds": 1.0})
    return rows


def test_summary_and_tables_give_mean_and_standard_error():
    summary = experiments.summarize(_rows())
    assert [(s["method"], s["n_runs"]) for s in summary] == [("Baseline", 2), ("DenoiSeg", 2)]
    assert summary[0]["AP_mean"] == pytest.approx(0.3)
    assert summary[0]["AP_se"] == pytest.approx(0.1)  # std 0.1414 / sqrt(2)
    assert summary[1]["SEG_mean"] == pytest.approx(0.7)
    table = experiments.segmentation_table(_rows(), "AP")
    assert "| 20 | Baseline | 0.300 ± 0.100 |" in table
    assert "| 20 | DenoiSeg | 0.600 ± 0.100 |" in table
    psnr = experiments.psnr_table(_rows())
    assert "| 20 |  | 31.00 ± 0.00 | 30.50 ± 0.50 |" in psnr


def test_figure_has_one_column_per_noise_level(tmp_path):
    rows = _rows() + [{**r, "sigma": 0.0} for r in _rows()]
    fig = experiments.plot_figure3(rows, tmp_path / "figure.png")
    assert len(fig.axes) == 4
    assert [ax.get_title() for ax in fig.axes[:2]] == ["added noise sigma = 0",
                                                       "added noise sigma = 20"]
    assert (tmp_path / "figure.png").stat().st_size > 10_000


def test_command_writes_results_tables_and_figure(tmp_path, capsys):
    out = tmp_path / "out"
    experiments.main(["--out", str(out), "--fast", "--annotated", "1", "--sigmas", "10",
                      "--seeds", "0", "1"])
    printed = capsys.readouterr().out
    tables = (out / "tables.md").read_text()
    assert "## AP" in tables and "## SEG" in tables and "## PSNR" in tables
    assert "| 10 | DenoiSeg |" in tables and tables in printed
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
    methods = [line.split(",")[2] for line in path.read_text().splitlines()[1:]]
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
    assert len(rows) == 5 and path.read_text().startswith("sigma,seed,method")


def test_command_line_errors_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        experiments.main(["--out", str(tmp_path), "--annotated", "20", "--fast"])
    assert exit_info.value.code == 2
    assert "n_annotated must hold integers from 1 to 12" in capsys.readouterr().err


def test_figure_needs_segmentation_runs():
    with pytest.raises(ValueError, match="no Baseline"):
        experiments.plot_figure3([r for r in _rows() if r["method"] == "Noise2Void"])
