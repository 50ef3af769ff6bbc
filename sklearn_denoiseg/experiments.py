"""The paper's few-shot experiment in kind, on the real nuclei image.

Figure 3 of the DenoiSeg paper compares three ways to segment noisy images
when only a few of them are annotated:

- **Baseline**: a segmentation-only network (``alpha=0``);
- **Sequential**: Noise2Void (``alpha=1``, trained on every image) followed by
  the Baseline trained on the denoised images, as a two-step
  :class:`~sklearn.pipeline.Pipeline`;
- **DenoiSeg**: one network trained for both tasks (``alpha=0.5``).

Table 1 compares the denoising quality (PSNR) of DenoiSeg with pure
Noise2Void. This module runs both on noisy versions of the annotated DSB2018
nuclei image shipped by ``stardist`` (see
:func:`~sklearn_denoiseg.demo.nuclei_split`), for several numbers of
annotated 128x128 training crops, noise levels and seeds, and writes a CSV
of every run, summary tables and the figure. Finished runs are appended to
the CSV as they complete, so an interrupted experiment resumes where it
stopped.

Run ``python -m sklearn_denoiseg.experiments --help``.
"""

import argparse
import csv
import json
import sys
import time
import warnings
from numbers import Integral
from pathlib import Path

import numpy as np
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline

from ._estimator import DenoiSegEstimator
from ._hardware import resolve_device, resolve_precision
from ._parameters import with_role
from .datasets import keep_annotated
from .demo import DEMO_PARAMS, evaluate, mean_psnr, nuclei_split
from .exceptions import FitInterruptedWarning, ThresholdOnTrainingImagesWarning
from .presets import preset

__all__ = [
    "EXPERIMENT_PARAMS",
    "FAST_PARAMS",
    "run_experiment",
    "summarize",
    "segmentation_table",
    "psnr_table",
    "plot_figure3",
    "main",
]

METHODS = ("Baseline", "Sequential", "DenoiSeg")
"""Segmentation methods of the paper's Figure 3, in plotting order."""

COLUMNS = ("sigma", "seed", "method", "n_annotated", "AP", "SEG", "PSNR", "fit_seconds")

EXPERIMENT_PARAMS = {**DEMO_PARAMS, "max_epochs": 8}
"""Training budget of every network in the full experiment: the demo's
network and batches for 8 epochs of 35 steps (about 9,000 patches)."""

FAST_PARAMS = preset("smoke")
"""A tiny budget that only checks the experiment runs end to end."""


def _read_rows(path):
    if path is None or not Path(path).exists():
        return []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None:  # empty file: killed before the first row
            return []
        if tuple(reader.fieldnames) != COLUMNS:
            raise ValueError(f"{path} is not a results file of this experiment: its columns "
                             f"are {reader.fieldnames}, expected {list(COLUMNS)}")
        rows = []
        for row in reader:
            try:
                for key in ("sigma", "AP", "SEG", "PSNR", "fit_seconds"):
                    row[key] = float(row[key]) if row[key] != "" else np.nan
                row["seed"], row["n_annotated"] = int(row["seed"]), int(row["n_annotated"])
            except (TypeError, ValueError):
                raise ValueError(f"{path}, line {reader.line_num}: damaged row {row}; "
                                 "delete that line to train its run again") from None
            rows.append(row)
    return rows


# entries of the training setup that "auto" resolves differently per machine
_MACHINE_SETTINGS = ("device", "precision")


def _training_setup(params):
    """What decides the results: every training and prediction parameter
    (defaults included) but the ones each run sets (alpha, random_state),
    and the device and precision that "auto" resolves to here."""
    all_params = DenoiSegEstimator(**params).get_params()
    setup = with_role(all_params, "training", "prediction")
    del setup["alpha"], setup["random_state"]
    device = resolve_device(all_params["device"])
    setup.update(device=device, precision=resolve_precision(all_params["precision"], device))
    return json.loads(json.dumps(setup, sort_keys=True))


def _check_same_setup(results_path, params, *, trains):
    """Refuse to mix runs of different training setups in one CSV: the setup
    is kept beside it, in ``<name>.params.json``. Runs only read back
    (``trains=False``) may come from another machine: then the device and
    precision they were trained with may differ, the parameters may not."""
    if results_path is None:
        return
    record = Path(results_path).with_suffix(".params.json")
    setup = _training_setup(params)
    if not Path(results_path).exists():
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(setup, indent=1, sort_keys=True) + "\n")
        return
    if not record.exists():
        raise ValueError(f"{results_path} exists but {record} is missing; "
                         "the training setup of its runs is unknown")
    recorded = json.loads(record.read_text())
    changed = sorted(k for k in setup.keys() | recorded.keys()
                     if setup.get(k) != recorded.get(k)
                     and (trains or k not in _MACHINE_SETTINGS))
    if changed:
        raise ValueError(f"{results_path} holds runs of another training setup "
                         f"({', '.join(changed)} differ from {record}); "
                         "use another results file")


def _append_row(path, row):
    if path is None:
        return
    path = Path(path)
    new = not path.exists() or path.stat().st_size == 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow({k: ("" if isinstance(v, float) and np.isnan(v) else v)
                         for k, v in row.items()})


def run_experiment(*, n_annotated=(1, 2, 5, 10), sigmas=(0, 10, 20), seeds=(0, 1, 2),
                   params=None, results_path=None, verbose=True):
    """Train and score Baseline, Sequential and DenoiSeg on the nuclei image.

    For every noise level ``sigma`` and ``seed`` the nuclei image gets its
    own Gaussian noise and its 12 training crops; for every entry of
    ``n_annotated`` that many crops keep their labels (chosen with the seed).
    The Noise2Void network of the Sequential method and of Table 1 is trained
    once per noise level and seed on all training crops without labels (as
    in the paper, it never sees annotations), then frozen in front of a
    Baseline for every label budget. All networks share ``params``; every
    network uses the seed as ``random_state``. Each estimator holds out its
    validation crops (``validation_fraction``, stratified by annotation)
    from the 12, annotated ones included: with the default fraction, of 1,
    2, 5 and 10 annotated crops segmentation trains on 1, 1, 4 and 8.

    Parameters
    ----------
    n_annotated : sequence of int, default=(1, 2, 5, 10)
        Annotated training crops, out of 12.
    sigmas : sequence of float, default=(0, 10, 20)
        Standard deviations of the added noise (image range 0-235).
    seeds : sequence of int, default=(0, 1, 2)
        Each seed draws its own noise, annotated crops and network
        initialisation and training batches.
    params : dict, default=None
        Estimator parameters shared by all networks;
        :data:`EXPERIMENT_PARAMS` when None.
    results_path : str or Path, default=None
        CSV file that every finished run is appended to. Runs already in it
        are read back instead of trained again. The training setup (every
        estimator parameter, the device and the precision) is kept beside it
        (``.params.json``); a file made with other parameters raises
        ValueError, and so does one made on another device or precision when
        runs are missing from it (a complete file reads on any machine).
        Nothing is written when None.
    verbose : bool, default=True
        Print one line per trained network.

    Raises
    ------
    ValueError
        For budgets outside 1..12, negative noise or seeds, or a results
        file of another training setup or with damaged lines.
    KeyboardInterrupt
        When a training is interrupted; the runs finished before are kept
        in ``results_path``.

    Returns
    -------
    rows : list of dict
        One row per requested (sigma, seed, method, n_annotated), read from
        ``results_path`` or trained, with keys ``sigma``, ``seed``, ``method``,
        ``n_annotated``, ``AP``, ``SEG``, ``PSNR`` (means over the 4 test
        crops; PSNR is NaN for Baseline and Sequential, whose denoiser is the
        ``"Noise2Void"`` row with ``n_annotated=0``) and ``fit_seconds``
        (the training time of that row's network; for Sequential, of its
        segmentation step).
        A row ``"Input"`` per noise level and seed holds the PSNR of the
        noisy test crops.
    """
    n_crops = len(nuclei_split(sigma=0, n_annotated=0)["X_train"])
    n_annotated = list(dict.fromkeys(n_annotated))
    sigmas = list(dict.fromkeys(map(float, sigmas)))
    seeds = list(dict.fromkeys(seeds))
    if not n_annotated or not all(isinstance(k, Integral) and 1 <= k <= n_crops
                                  for k in n_annotated):
        raise ValueError(f"n_annotated must hold integers from 1 to {n_crops}; got {n_annotated}")
    if not sigmas or not all(np.isfinite(s) and s >= 0 for s in sigmas):
        raise ValueError(f"sigmas must hold finite values >= 0; got {sigmas}")
    if not seeds or not all(isinstance(seed, Integral) and seed >= 0 for seed in seeds):
        raise ValueError(f"seeds must hold integers >= 0; got {seeds}")
    params = dict(EXPERIMENT_PARAMS if params is None else params, verbose=0)
    rows = _read_rows(results_path)
    done = {(r["sigma"], r["seed"], r["method"], r["n_annotated"]) for r in rows}
    wanted = [key for seed in seeds for sigma in sigmas
              for key in _row_keys(sigma, seed, n_annotated)]
    _check_same_setup(results_path, params, trains=not done.issuperset(wanted))

    def record(key, seconds, scores):
        row = {**dict(zip(("sigma", "seed", "method", "n_annotated"), key)), **scores,
               "fit_seconds": seconds}
        rows.append(row)
        done.add(key)
        _append_row(results_path, row)
        if verbose:
            scores = "  ".join(f"{name} {row[name]:.{digits}f}"
                               for name, digits in (("AP", 3), ("SEG", 3), ("PSNR", 2))
                               if not np.isnan(row[name]))
            print(f"sigma {key[0]:>4g}  seed {key[1]}  {key[2]:<10} {key[3]:>2} annotated  "
                  f"{scores}  ({seconds:.0f} s)", flush=True)

    for seed in seeds:  # seed first: an interrupted run has every noise level
        for sigma in map(float, sigmas):
            keys = _row_keys(sigma, seed, n_annotated)
            if done.issuperset(keys):
                continue
            input_key, n2v_key, *segmentation_keys = keys
            todo = [key for key in segmentation_keys if key not in done]
            data = nuclei_split(sigma=sigma, n_annotated=12, random_state=seed)
            if input_key not in done:
                psnr_input = mean_psnr(data["clean_test"], data["X_test"])
                record(input_key, 0.0, {"AP": np.nan, "SEG": np.nan, "PSNR": psnr_input})
            if n2v_key not in done or any(key[2] == "Sequential" for key in todo):
                n2v = DenoiSegEstimator(alpha=1.0, random_state=seed, **params)
                seconds = _timed_fit(n2v, data["X_train"])
                if n2v_key not in done:
                    psnr_n2v = mean_psnr(data["clean_test"], n2v.transform(data["X_test"]))
                    record(n2v_key, seconds, {"AP": np.nan, "SEG": np.nan, "PSNR": psnr_n2v})
            for key in todo:
                method, k = key[2], key[3]
                if method == "Sequential":
                    model = Pipeline([
                        ("denoise", FrozenEstimator(n2v)),
                        ("segment", DenoiSegEstimator(alpha=0.0, random_state=seed, **params)),
                    ])
                else:
                    alpha = 0.0 if method == "Baseline" else 0.5
                    model = DenoiSegEstimator(alpha=alpha, random_state=seed, **params)
                y = keep_annotated(data["y_train"], k, random_state=seed)
                seconds = _timed_fit(model, data["X_train"], y)
                record(key, seconds, evaluate(model, data, denoises=method == "DenoiSeg"))
    budgets = {0, *n_annotated}
    return [r for r in rows
            if r["sigma"] in sigmas and r["seed"] in seeds and r["n_annotated"] in budgets]


def _row_keys(sigma, seed, n_annotated):
    """The (sigma, seed, method, n_annotated) rows of one noise level and
    seed: the noisy input, Noise2Void, then every method per budget."""
    return [(sigma, seed, "Input", 0), (sigma, seed, "Noise2Void", 0),
            *((sigma, seed, method, k) for k in n_annotated for method in METHODS)]


def _timed_fit(model, X, y=None):
    """Fit and return the seconds it took. An interrupted fit (the estimator
    keeps the weights so far and warns) raises KeyboardInterrupt, so that a
    half-trained run is never recorded as finished."""
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # with one annotated crop none is held out for validation: expected here
        warnings.simplefilter("ignore", ThresholdOnTrainingImagesWarning)
        model.fit(X, y)
    for warning in caught:
        if issubclass(warning.category, FitInterruptedWarning):
            raise KeyboardInterrupt(str(warning.message))
        warnings.warn_explicit(warning.message, warning.category, warning.filename,
                               warning.lineno)
    return time.perf_counter() - start


def _mean_se(values):
    values = np.asarray([v for v in values if not np.isnan(v)], dtype=float)
    if len(values) == 0:
        return np.nan, np.nan
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else np.nan
    return float(values.mean()), float(se)


def summarize(rows):
    """Mean and standard error over seeds of AP and SEG per configuration.

    Parameters
    ----------
    rows : list of dict
        As returned by :func:`run_experiment`.

    Returns
    -------
    list of dict
        One entry per (sigma, method, n_annotated) of the segmentation
        methods, with ``n_runs``, ``AP_mean``, ``AP_se``, ``SEG_mean`` and
        ``SEG_se`` (NaN standard error for a single run).
    """
    groups = {}
    for row in rows:
        if row["method"] in METHODS:
            groups.setdefault((row["sigma"], row["method"], row["n_annotated"]), []).append(row)
    order = sorted(groups, key=lambda g: (g[0], METHODS.index(g[1]), g[2]))
    summary = []
    for sigma, method, k in order:
        group = groups[(sigma, method, k)]
        entry = {"sigma": sigma, "method": method, "n_annotated": k, "n_runs": len(group)}
        for metric in ("AP", "SEG"):
            entry[f"{metric}_mean"], entry[f"{metric}_se"] = _mean_se([r[metric] for r in group])
        summary.append(entry)
    return summary


def _cell(mean, se, digits=3):
    if np.isnan(mean):
        return ""
    return f"{mean:.{digits}f}" if np.isnan(se) else f"{mean:.{digits}f} ± {se:.{digits}f}"


def segmentation_table(rows, metric="AP"):
    """The paper's Figure 3 in numbers, as a Markdown table.

    Parameters
    ----------
    rows : list of dict
        As returned by :func:`run_experiment`.
    metric : {"AP", "SEG"}, default="AP"

    Returns
    -------
    str
        One line per noise level and method, one column per number of
        annotated crops; cells hold the mean ± standard error over seeds.
    """
    if metric not in ("AP", "SEG"):
        raise ValueError(f"metric must be 'AP' or 'SEG'; got {metric!r}")
    summary = summarize(rows)
    budgets = sorted({s["n_annotated"] for s in summary})
    lines = ["| sigma | method | " + " | ".join(f"{k} annotated" for k in budgets) + " |",
             "|---|---|" + "---|" * len(budgets)]
    for sigma in sorted({s["sigma"] for s in summary}):
        for method in METHODS:
            cells = {s["n_annotated"]: _cell(s[f"{metric}_mean"], s[f"{metric}_se"])
                     for s in summary if s["sigma"] == sigma and s["method"] == method}
            if cells:
                lines.append(f"| {sigma:g} | {method} | "
                             + " | ".join(cells.get(k, "") for k in budgets) + " |")
    return "\n".join(lines)


def psnr_table(rows):
    """The paper's Table 1 in kind, as a Markdown table.

    Parameters
    ----------
    rows : list of dict
        As returned by :func:`run_experiment`.

    Returns
    -------
    str
        PSNR (dB, mean ± standard error over seeds) of the noisy input, of
        Noise2Void (``alpha=1``) and of DenoiSeg (``alpha=0.5``) per number of
        annotated crops; one line per noise level above 0 (without added noise
        there is no clean reference).
    """
    sigmas = sorted({r["sigma"] for r in rows if r["sigma"] > 0})
    budgets = sorted({r["n_annotated"] for r in rows if r["method"] == "DenoiSeg"})
    columns = [("Input", 0, "noisy input"), ("Noise2Void", 0, "Noise2Void")] + [
        ("DenoiSeg", k, f"DenoiSeg, {k} annotated") for k in budgets]
    lines = ["| sigma | " + " | ".join(title for _, _, title in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for sigma in sigmas:
        cells = []
        for method, k, _ in columns:
            mean, se = _mean_se([r["PSNR"] for r in rows if r["sigma"] == sigma
                                 and r["method"] == method and r["n_annotated"] == k])
            cells.append(_cell(mean, se, digits=2))
        lines.append(f"| {sigma:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_figure3(rows, path=None):
    """AP and SEG against the number of annotated crops, one panel per noise
    level, mean ± standard error over seeds, like the paper's Figure 3.

    Parameters
    ----------
    rows : list of dict
        As returned by :func:`run_experiment`.
    path : str or Path, default=None
        Where to save the figure; not saved when None.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    summary = summarize(rows)
    if not summary:
        raise ValueError("rows hold no Baseline, Sequential or DenoiSeg run to plot")
    sigmas = sorted({s["sigma"] for s in summary})
    colors = {"Baseline": "tab:blue", "Sequential": "tab:orange", "DenoiSeg": "tab:green"}
    fig, axes = plt.subplots(2, len(sigmas), figsize=(4 * len(sigmas), 6.5),
                             sharex=True, sharey="row", squeeze=False)
    for column, sigma in enumerate(sigmas):
        for row_index, metric in enumerate(("AP", "SEG")):
            ax = axes[row_index, column]
            for method in METHODS:
                points = [s for s in summary if s["sigma"] == sigma and s["method"] == method]
                if not points:
                    continue
                k = np.array([p["n_annotated"] for p in points])
                mean = np.array([p[f"{metric}_mean"] for p in points])
                se = np.nan_to_num([p[f"{metric}_se"] for p in points])
                ax.plot(k, mean, "o-", color=colors[method], label=method)
                ax.fill_between(k, mean - se, mean + se, color=colors[method], alpha=0.2)
            ax.set_xscale("log")
            ax.set_xticks(sorted({s["n_annotated"] for s in summary}))
            ax.get_xaxis().set_major_formatter(plt.ScalarFormatter())
            ax.grid(alpha=0.3)
            if row_index == 0:
                ax.set_title(f"added noise sigma = {sigma:g}")
            else:
                ax.set_xlabel("annotated training crops (of 12)")
            if column == 0:
                ax.set_ylabel(metric)
    axes[0, 0].legend(loc="lower right")
    n_seeds = len({r["seed"] for r in rows if r["method"] in METHODS})
    fig.suptitle(f"Nuclei image: mean ± standard error over {n_seeds} seeds")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def main(argv=None):
    """Run the experiment from the command line and write its results.

    Parameters
    ----------
    argv : list of str, default=None
        Command-line arguments; ``sys.argv[1:]`` when None. See
        ``python -m sklearn_denoiseg.experiments --help``.

    Returns
    -------
    rows : list of dict
        As returned by :func:`run_experiment`.
    """
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_denoiseg.experiments",
        description="Baseline, Sequential and DenoiSeg on the noisy nuclei image for few "
                    "annotated crops (the paper's Figure 3 and Table 1 in kind). Writes "
                    "results.csv (one line per trained network; resumed when present), "
                    "tables.md and figure3.png to --out.",
    )
    parser.add_argument("--out", default="experiment_results",
                        help="output folder (default experiment_results)")
    parser.add_argument("--annotated", type=int, nargs="+", default=[1, 2, 5, 10],
                        help="numbers of annotated crops out of 12 (default 1 2 5 10)")
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0, 10, 20],
                        help="added noise levels (default 0 10 20)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="random seeds (default 0 1 2)")
    parser.add_argument("--fast", action="store_true",
                        help="a tiny network and budget, to check that everything runs")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        rows = run_experiment(n_annotated=args.annotated, sigmas=args.sigmas, seeds=args.seeds,
                              params=FAST_PARAMS if args.fast else EXPERIMENT_PARAMS,
                              results_path=out / "results.csv")
    except ValueError as error:
        parser.error(str(error))
    except KeyboardInterrupt:
        print(f"\ninterrupted; the finished runs are in {out / 'results.csv'}: "
              "run the same command again to go on", file=sys.stderr)
        raise SystemExit(130) from None
    tables = (f"## AP\n\n{segmentation_table(rows, 'AP')}\n\n"
              f"## SEG\n\n{segmentation_table(rows, 'SEG')}\n\n"
              f"## PSNR (dB)\n\n{psnr_table(rows)}\n")
    (out / "tables.md").write_text(tables)
    plot_figure3(rows, out / "figure3.png")
    print(f"\n{tables}\nwrote {out / 'results.csv'}, {out / 'tables.md'} and "
          f"{out / 'figure3.png'} in {time.perf_counter() - start:.0f} s")
    return rows


if __name__ == "__main__":
    main()
