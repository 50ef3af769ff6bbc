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
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline

from ._estimator import DenoiSegEstimator
from .datasets import keep_annotated
from .demo import DEMO_PARAMS, evaluate, nuclei_split
from .metrics import psnr

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

FAST_PARAMS = dict(depth=2, n_filters=8, patch_size=32, batch_size=8,
                   steps_per_epoch=4, max_epochs=2, lr=1e-3)
"""A tiny budget that only checks the experiment runs end to end."""


def _mean_psnr(clean, images):
    with np.errstate(divide="ignore"):  # inf for the input without added noise
        return float(np.mean([psnr(c, d) for c, d in zip(clean, images)]))


def _read_rows(path):
    if path is None or not Path(path).exists():
        return []
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key in ("sigma", "AP", "SEG", "PSNR", "fit_seconds"):
            row[key] = float(row[key]) if row[key] != "" else np.nan
        row["seed"], row["n_annotated"] = int(row["seed"]), int(row["n_annotated"])
    return rows


def _check_same_params(results_path, params):
    """Refuse to mix runs of different training parameters in one CSV: the
    parameters are kept beside it, in ``<name>.params.json``."""
    if results_path is None:
        return
    record = Path(results_path).with_suffix(".params.json")
    normalized = json.loads(json.dumps(params, sort_keys=True))
    if record.exists():
        if json.loads(record.read_text()) != normalized:
            raise ValueError(
                f"{results_path} holds runs trained with the parameters in {record}, "
                f"not with {normalized}; use another results file"
            )
    elif Path(results_path).exists():
        raise ValueError(f"{results_path} exists but {record} is missing; "
                         "the parameters of its runs are unknown")
    else:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(normalized, indent=1, sort_keys=True) + "\n")


def _append_row(path, row):
    if path is None:
        return
    path = Path(path)
    new = not path.exists()
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
    network uses the seed as ``random_state``.

    Parameters
    ----------
    n_annotated : sequence of int, default=(1, 2, 5, 10)
        Annotated training crops, out of 12.
    sigmas : sequence of float, default=(0, 10, 20)
        Standard deviations of the added noise (image range 0-235).
    seeds : sequence of int, default=(0, 1, 2)
    params : dict, default=None
        Estimator parameters shared by all networks;
        :data:`EXPERIMENT_PARAMS` when None.
    results_path : str or Path, default=None
        CSV file that every finished run is appended to. Runs already in it
        are read back instead of trained again. The training parameters are
        kept beside it (``.params.json``); a file made with other parameters
        raises ValueError. Nothing is written when None.
    verbose : bool, default=True
        Print one line per trained network.

    Returns
    -------
    rows : list of dict
        One row per (sigma, seed, method, n_annotated) with keys ``sigma``,
        ``seed``, ``method``, ``n_annotated``, ``AP``, ``SEG``, ``PSNR`` (mean
        over the 4 test crops; NaN for the Sequential rows, whose denoiser is
        the ``"Noise2Void"`` row with ``n_annotated=0``) and ``fit_seconds``
        (the training time of that row's network; for Sequential, of its
        segmentation step).
        A row ``"Input"`` per noise level and seed holds the PSNR of the
        noisy test crops.
    """
    params = dict(EXPERIMENT_PARAMS if params is None else params, verbose=0)
    _check_same_params(results_path, params)
    rows = _read_rows(results_path)
    done = {(r["sigma"], r["seed"], r["method"], r["n_annotated"]) for r in rows}

    def record(key, seconds, scores):
        row = {**dict(zip(("sigma", "seed", "method", "n_annotated"), key)), **scores,
               "fit_seconds": seconds}
        rows.append(row)
        _append_row(results_path, row)
        if verbose:
            scores = "  ".join(f"{name} {row[name]:.{digits}f}"
                               for name, digits in (("AP", 3), ("SEG", 3), ("PSNR", 2))
                               if not np.isnan(row[name]))
            print(f"sigma {key[0]:>4g}  seed {key[1]}  {key[2]:<10} {key[3]:>2} annotated  "
                  f"{scores}  ({seconds:.0f} s)", flush=True)

    for seed in seeds:  # seed first: an interrupted run has every noise level
        for sigma in map(float, sigmas):
            data = nuclei_split(sigma=sigma, n_annotated=12, random_state=seed)
            todo = [(sigma, seed, m, k) for k in n_annotated for m in METHODS
                    if (sigma, seed, m, k) not in done]
            input_key = (sigma, seed, "Input", 0)
            if input_key not in done:
                psnr_input = _mean_psnr(data["clean_test"], data["X_test"])
                record(input_key, 0.0, {"AP": np.nan, "SEG": np.nan, "PSNR": psnr_input})
            n2v_key = (sigma, seed, "Noise2Void", 0)
            if n2v_key not in done or any(key[2] == "Sequential" for key in todo):
                n2v = DenoiSegEstimator(alpha=1.0, random_state=seed, **params)
                seconds = _timed_fit(n2v, data["X_train"])
                if n2v_key not in done:
                    psnr_n2v = _mean_psnr(data["clean_test"], n2v.transform(data["X_test"]))
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
    return rows


def _timed_fit(model, X, y=None):
    start = time.perf_counter()
    with warnings.catch_warnings():
        # with one annotated crop none is left for validation; the estimator
        # then warns that the threshold is chosen on the training crop
        warnings.simplefilter("ignore", UserWarning)
        model.fit(X, y)
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


def _cell(mean, se):
    if np.isnan(mean):
        return ""
    return f"{mean:.3f}" if np.isnan(se) else f"{mean:.3f} ± {se:.3f}"


def segmentation_table(rows, metric="AP"):
    """Markdown table of ``metric`` (mean ± SE over seeds), like the paper's
    Figure 3 in numbers: one line per noise level and method, one column per
    number of annotated crops."""
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
    """Markdown table of the paper's Table 1 in kind: PSNR (dB, mean ± SE over
    seeds) of the noisy input, of Noise2Void (``alpha=1``) and of DenoiSeg
    (``alpha=0.5``) per number of annotated crops, for every noise level
    above 0 (without added noise there is no clean reference)."""
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
            cells.append("" if np.isnan(mean) else
                         f"{mean:.2f}" if np.isnan(se) else f"{mean:.2f} ± {se:.2f}")
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
    n_seeds = max(s["n_runs"] for s in summary)
    fig.suptitle(f"Nuclei image: mean ± standard error over {n_seeds} seeds")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def main(argv=None):
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
    rows = run_experiment(n_annotated=args.annotated, sigmas=args.sigmas, seeds=args.seeds,
                          params=FAST_PARAMS if args.fast else EXPERIMENT_PARAMS,
                          results_path=out / "results.csv")
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
