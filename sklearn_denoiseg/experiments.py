"""The paper's few-shot experiment: Baseline, Sequential and DenoiSeg for
a few annotated images beside many unannotated ones.

Figure 3 of the DenoiSeg paper compares three ways to segment noisy images
when only a few of them are annotated:

- **Baseline**: a segmentation-only network (``alpha=0``);
- **Sequential**: Noise2Void (``alpha=1``, trained on every image) followed by
  the Baseline trained on the denoised images, as a two-step
  :class:`~sklearn.pipeline.Pipeline`;
- **DenoiSeg**: one network trained for both tasks (``alpha=0.5``; other
  alphas give the paper's Figure 4a).

Table 1 compares the denoising quality (PSNR) of DenoiSeg with pure
Noise2Void. The data sets (``dataset``):

- ``"synthetic"``: the paper's regime, a pool of 400 synthetic nuclei images
  of 128x128 of which 1 to 50 keep their labels (0.25% to 12.5%), a fully
  annotated validation set, synthetic test images and the real nuclei image
  as a second test (:data:`~sklearn_denoiseg._experiment_data.SYNTHETIC`);
- ``"nuclei"``: the 12 training crops of the one real annotated image that
  ships with ``stardist``: annotations are 8% to 83% of the data, a regime
  the paper did not test;
- ``"DSB2018"``, ``"Flywing"``, ``"MouseNuclei"``: the published data sets
  (downloaded once by :func:`~sklearn_denoiseg.datasets.fetch_denoiseg`), for
  the paper's own protocol, with ``--budget paper`` on a GPU.

Two validation protocols (``protocols``): ``"separate"`` validates on the
data set's annotated validation images (``fit(X, y, X_val=, y_val=)``, the
paper's protocol; every annotated training image trains); ``"split"`` holds
out ``validation_fraction`` of the training images, annotated ones included,
as a user without a validation set would.

Every finished run is appended to a CSV as it completes, so an interrupted
experiment resumes where it stopped. Run
``python -m sklearn_denoiseg.experiments --help``.
"""

import argparse
import csv
import json
import sys
import time
import warnings
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline

from ._estimator import DenoiSegEstimator
from ._experiment_data import (
    DATASETS,
    SYNTHETIC,
    load_experiment_data,
    pool_size,
    published_noise,
)
from ._experiment_report import (
    MAIN_ALPHA,
    METHODS,
    alpha_table,
    gain_table,
    noise_table,
    plot_alpha,
    plot_figure3,
    psnr_table,
    segmentation_table,
    summarize,
)
from ._axes import ImageAxes
from ._hardware import resolve_device, resolve_precision
from ._parameters import with_role
from ._training import kept_epoch
from .datasets import keep_annotated
from .demo import DEMO_PARAMS, mean_psnr
from .exceptions import FitInterruptedWarning, ThresholdOnTrainingImagesWarning
from .metrics import average_precision, seg_score
from .presets import preset

__all__ = [
    "BUDGETS",
    "EXPERIMENT_PARAMS",
    "FAST_PARAMS",
    "METHODS",
    "PROTOCOLS",
    "run_experiment",
    "summarize",
    "segmentation_table",
    "gain_table",
    "alpha_table",
    "noise_table",
    "psnr_table",
    "plot_figure3",
    "plot_alpha",
    "main",
]

PROTOCOLS = ("separate", "split")

COLUMNS = ("protocol", "sigma", "seed", "method", "alpha", "n_annotated", "AP", "SEG",
           "AP_real", "PSNR", "threshold", "best_epoch", "fit_seconds")
_KEY = ("protocol", "sigma", "seed", "method", "alpha", "n_annotated")
_FLOATS = ("sigma", "AP", "SEG", "AP_real", "PSNR", "threshold", "fit_seconds")

EXPERIMENT_PARAMS = {**DEMO_PARAMS, "max_epochs": 8}
"""Training budget of every network in the CPU experiment: the demo's
network and batches for 8 epochs of 35 steps (about 9,000 patches)."""

FAST_PARAMS = preset("smoke")
"""A tiny budget that only checks the experiment runs end to end."""

BUDGETS = {"experiment": EXPERIMENT_PARAMS, "fast": FAST_PARAMS, "paper": preset("paper")}
"""Training budgets by name: the CPU experiment's, the smoke test's, and the
paper's network and schedule (for a GPU)."""


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
                for key in _FLOATS:
                    row[key] = float(row[key]) if row[key] != "" else np.nan
                for key in ("seed", "n_annotated"):
                    row[key] = int(row[key])
                # the noisy input has no alpha, a run cut short no best epoch
                row["alpha"] = float(row["alpha"]) if row["alpha"] else None
                row["best_epoch"] = int(row["best_epoch"]) if row["best_epoch"] else None
            except (TypeError, ValueError):
                raise ValueError(f"{path}, line {reader.line_num}: damaged row {row}; "
                                 "delete that line to train its run again") from None
            rows.append(row)
    return rows


# entries of the training setup that "auto" resolves differently per machine
_MACHINE_SETTINGS = ("device", "precision")


def _training_setup(params, dataset):
    """What decides the results: the data set, every training and
    prediction parameter (defaults included) but the ones each run sets
    (alpha, random_state), and the device and precision that "auto"
    resolves to here."""
    all_params = DenoiSegEstimator(**params).get_params()
    setup = with_role(all_params, "training", "prediction")
    del setup["alpha"], setup["random_state"]
    device = resolve_device(all_params["device"])
    n_dims = ImageAxes(all_params["axes"]).n_spatial
    setup.update(device=device,
                 precision=resolve_precision(all_params["precision"], device, n_dims))
    setup["dataset"] = {"name": dataset, **(SYNTHETIC if dataset == "synthetic" else {})}
    return json.loads(json.dumps(setup, sort_keys=True))


def _check_same_setup(results_path, params, dataset, *, trains):
    """Refuse to mix runs of different training setups in one CSV: the setup
    is kept beside it, in ``<name>.params.json``. Runs only read back
    (``trains=False``) may come from another machine: then the device and
    precision they were trained with may differ, the parameters may not.
    A parameter missing from the record (added to the estimator after the
    runs) counts as its default value, which is how those runs trained."""
    if results_path is None:
        return
    record = Path(results_path).with_suffix(".params.json")
    setup = _training_setup(params, dataset)
    if not Path(results_path).exists():
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(setup, indent=1, sort_keys=True) + "\n")
        return
    if not record.exists():
        raise ValueError(f"{results_path} exists but {record} is missing; "
                         "the training setup of its runs is unknown")
    # a parameter the record predates ran as its default does
    defaults = _training_setup({}, dataset)
    recorded = {**{k: v for k, v in defaults.items() if k not in _MACHINE_SETTINGS},
                **json.loads(record.read_text())}
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
        writer.writerow({k: ("" if v is None or (isinstance(v, float) and np.isnan(v)) else v)
                         for k, v in row.items()})


def _check_grid(dataset, protocols, n_annotated, sigmas, seeds, alphas, data_home):
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {dataset!r}")
    if not protocols or not set(protocols) <= set(PROTOCOLS):
        raise ValueError(f"protocols must hold values of {PROTOCOLS}; got {protocols}")
    if dataset == "nuclei" and "separate" in protocols:
        raise ValueError("the nuclei data set has no separate validation images; "
                         "use protocols=('split',)")
    if not sigmas or not all(isinstance(s, Real) and np.isfinite(s) and s >= 0
                             for s in sigmas):
        raise ValueError(f"sigmas must hold finite values >= 0; got {sigmas}")
    if dataset not in ("nuclei", "synthetic") and not set(sigmas) <= set(published_noise(dataset)):
        raise ValueError(f"the {dataset} data sets exist for noise {published_noise(dataset)}; "
                         f"got sigmas {sigmas}")
    if not seeds or not all(isinstance(seed, Integral) and seed >= 0 for seed in seeds):
        raise ValueError(f"seeds must hold integers >= 0; got {seeds}")
    if not alphas or not all(isinstance(a, Real) and 0 < a < 1 for a in alphas):
        raise ValueError(f"alphas must hold values strictly between 0 and 1; got {alphas}")
    n_pool = pool_size(dataset, sigmas[0], data_home)
    if not n_annotated or not all(isinstance(k, Integral) and 1 <= k <= n_pool
                                  for k in n_annotated):
        raise ValueError(f"n_annotated must hold integers from 1 to {n_pool}; got {n_annotated}")


def run_experiment(*, dataset="nuclei", protocols=("split",), n_annotated=(1, 2, 5, 10),
                   sigmas=(0, 10, 20), seeds=(0, 1, 2), alphas=(MAIN_ALPHA,), params=None,
                   results_path=None, data_home=None, verbose=True):
    """Train and score Baseline, Sequential and DenoiSeg for few annotated
    images.

    For every noise level ``sigma`` and ``seed`` the data set gets its own
    noise (for the synthetic data, its own images too); for every entry of
    ``n_annotated`` that many training images keep their labels, chosen
    with the seed (the budgets are nested: the 2 annotated images include
    the 1). The Noise2Void network of the Sequential method and of Table 1
    is trained once per noise level and seed on all training images without
    labels (it never sees annotations), then frozen in front of a Baseline
    for every budget and protocol. All networks share ``params``; every
    network uses the seed as ``random_state``.

    Parameters
    ----------
    dataset : {"nuclei", "synthetic", "DSB2018", "Flywing", "MouseNuclei"}, default="nuclei"
        See the module's description.
    protocols : sequence of {"separate", "split"}, default=("split",)
        ``"separate"``: validate on the data set's annotated validation
        images (the paper's protocol); ``"split"``: hold out
        ``validation_fraction`` of the training images (stratified by
        annotation: of 2, 5, 10 and 50 annotated images, 1, 1, 2 and 8
        validate and do not train; a single one trains and also tunes the
        threshold).
    n_annotated : sequence of int, default=(1, 2, 5, 10)
        Annotated training images.
    sigmas : sequence of float, default=(0, 10, 20)
        Standard deviations of the added Gaussian noise (image range about
        0-235); for the published data sets, which of their noise levels.
    seeds : sequence of int, default=(0, 1, 2)
        Each seed draws its own noise, annotated images, network
        initialisation and training batches.
    alphas : sequence of float, default=(0.5,)
        Loss weights of the DenoiSeg runs; values besides 0.5 are the
        sensitivity runs of the paper's Figure 4a.
    params : dict, default=None
        Estimator parameters shared by all networks;
        :data:`EXPERIMENT_PARAMS` when None.
    results_path : str or Path, default=None
        CSV file that every finished run is appended to. Runs already in it
        are read back instead of trained again. The training setup (the data
        set, every estimator parameter, the device and the precision) is kept
        beside it (``.params.json``); a file made with another setup raises
        ValueError, and so does one made on another device or precision when
        runs are missing from it (a complete file reads on any machine).
        Nothing is written when None.
    data_home : str or Path, default=None
        Cache folder of the published data sets.
    verbose : bool, default=True
        Print one line per trained network.

    Raises
    ------
    ValueError
        For an unknown data set or protocol, budgets outside 1 to the pool
        size, negative noise or seeds, alphas outside (0, 1), or a results
        file of another training setup or with damaged lines.
    KeyboardInterrupt
        When a training is interrupted; the runs finished before are kept
        in ``results_path``.

    Returns
    -------
    rows : list of dict
        One row per requested (protocol, sigma, seed, method, alpha,
        n_annotated), read from ``results_path`` or trained, with the keys of
        :data:`COLUMNS`: ``AP`` and ``SEG`` (means over the test images),
        ``AP_real`` (the real nuclei image, for the synthetic data set),
        ``PSNR`` (NaN for Baseline and Sequential, whose denoiser is the
        ``"Noise2Void"`` row), the ``threshold`` used, the ``best_epoch``
        kept and ``fit_seconds`` (for Sequential, of its segmentation step).
        A row ``"Input"`` per noise level and seed holds the PSNR of the
        noisy test images; it and the Noise2Void row have protocol ``""``.
    """
    protocols = list(dict.fromkeys(protocols))
    n_annotated = list(dict.fromkeys(n_annotated))
    sigmas = list(dict.fromkeys(sigmas))
    seeds = list(dict.fromkeys(seeds))
    alphas = list(dict.fromkeys(alphas))
    _check_grid(dataset, protocols, n_annotated, sigmas, seeds, alphas, data_home)
    sigmas, alphas = [float(s) for s in sigmas], [float(a) for a in alphas]
    params = dict(EXPERIMENT_PARAMS if params is None else params, verbose=0)
    rows = _read_rows(results_path)
    done = {tuple(r[k] for k in _KEY) for r in rows}
    wanted = [key for seed in seeds for sigma in sigmas
              for key in _row_keys(sigma, seed, protocols, n_annotated, alphas)]
    _check_same_setup(results_path, params, dataset, trains=not done.issuperset(wanted))
    if verbose:
        n_done = sum(key in done for key in wanted)
        print(f"{len(wanted) - n_done} of {len(wanted)} runs to train"
              + (f" ({n_done} read from {results_path})" if n_done else ""), flush=True)

    def record(key, seconds, scores):
        row = {**dict(zip(_KEY, key)), "AP": np.nan, "SEG": np.nan, "AP_real": np.nan,
               "threshold": np.nan, "best_epoch": None, **scores, "fit_seconds": seconds}
        rows.append(row)
        done.add(key)
        _append_row(results_path, row)
        if verbose:
            scores = "  ".join(f"{name} {row[name]:.{digits}f}"
                               for name, digits in (("AP", 3), ("SEG", 3), ("AP_real", 3),
                                                    ("PSNR", 2)) if not np.isnan(row[name]))
            alpha = f"alpha {key[4]:g}" if key[3] == "DenoiSeg" else ""
            print(f"{key[0] or '-':<8} sigma {key[1]:>4g}  seed {key[2]}  {key[3]:<10} "
                  f"{alpha:<9} {key[5]:>3} annotated  {scores}  ({seconds:.0f} s)", flush=True)

    for seed in seeds:  # seed first: an interrupted run has every noise level
        for sigma in sigmas:
            keys = _row_keys(sigma, seed, protocols, n_annotated, alphas)
            todo = [key for key in keys if key not in done]
            if not todo:
                continue
            data = load_experiment_data(dataset, sigma, seed, data_home)
            _run_noise_level(data, todo, seed, params, record)
    keys = set(wanted)
    return [r for r in rows if tuple(r[k] for k in _KEY) in keys]


def _row_keys(sigma, seed, protocols, n_annotated, alphas):
    """The rows of one noise level and seed: the noisy input, Noise2Void,
    then per protocol and budget the Baseline, Sequential and every DenoiSeg
    alpha."""
    keys = [("", sigma, seed, "Input", None, 0), ("", sigma, seed, "Noise2Void", 1.0, 0)]
    for protocol in protocols:
        for k in n_annotated:
            keys += [(protocol, sigma, seed, "Baseline", 0.0, k),
                     (protocol, sigma, seed, "Sequential", 0.0, k)]
            keys += [(protocol, sigma, seed, "DenoiSeg", alpha, k) for alpha in alphas]
    return keys


def _run_noise_level(data, todo, seed, params, record):
    """Train and record the runs ``todo`` of one noise level and seed."""
    has_clean = data["clean_test"] is not None
    for key in todo:
        if key[3] == "Input":
            psnr = mean_psnr(data["clean_test"], data["X_test"]) if has_clean else np.nan
            record(key, 0.0, {"PSNR": psnr})
    n2v = None
    n2v_key = next((key for key in todo if key[3] == "Noise2Void"), None)
    if n2v_key is not None or any(key[3] == "Sequential" for key in todo):
        n2v = DenoiSegEstimator(alpha=1.0, random_state=seed, **params)
        seconds = _timed_fit(n2v, data["X_train"])
        if n2v_key is not None:
            psnr = (mean_psnr(data["clean_test"], n2v.transform(data["X_test"]))
                    if has_clean else np.nan)
            record(n2v_key, seconds, {"PSNR": psnr, "best_epoch": kept_epoch(n2v.history_)})
    for key in todo:
        protocol, _, _, method, alpha, k = key
        if method in ("Input", "Noise2Void"):
            continue
        y = keep_annotated(data["y_train"], k, random_state=seed)
        validation = ({} if protocol == "split"
                      else {"X_val": data["X_val"], "y_val": data["y_val"]})
        if method == "Sequential":
            model = Pipeline([
                ("denoise", FrozenEstimator(n2v)),
                ("segment", DenoiSegEstimator(alpha=0.0, random_state=seed, **params)),
            ])
            # the pipeline denoises what it fits on, not the validation images
            fit_params = {f"segment__{name}": n2v.transform(value) if name == "X_val" else value
                          for name, value in validation.items()}
        else:
            model = DenoiSegEstimator(alpha=alpha, random_state=seed, **params)
            fit_params = validation
        seconds = _timed_fit(model, data["X_train"], y, **fit_params)
        record(key, seconds, _scores(model, data, denoises=method == "DenoiSeg"))


def _scores(model, data, denoises):
    """AP, SEG (and AP on the real nuclei, PSNR) of a fitted model, with the
    threshold it used and the epoch it kept."""
    estimator = model[-1] if isinstance(model, Pipeline) else model
    labels = model.predict(data["X_test"])
    scores = {"AP": average_precision(list(data["y_test"]), list(labels)),
              "SEG": seg_score(list(data["y_test"]), list(labels)),
              "threshold": estimator.decision_threshold(),
              "best_epoch": kept_epoch(estimator.history_),
              "PSNR": np.nan}
    if data.get("X_real") is not None:
        scores["AP_real"] = average_precision(list(data["y_real"]),
                                              list(model.predict(data["X_real"])))
    if denoises and data["clean_test"] is not None:
        scores["PSNR"] = mean_psnr(data["clean_test"], model.transform(data["X_test"]))
    return scores


def _timed_fit(model, X, y=None, **fit_params):
    """Fit and return the seconds it took. An interrupted fit (the estimator
    keeps the weights so far and warns) raises KeyboardInterrupt, so that a
    half-trained run is never recorded as finished."""
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # with one annotated image none is held out for validation: expected here
        warnings.simplefilter("ignore", ThresholdOnTrainingImagesWarning)
        model.fit(X, y, **fit_params)
    for warning in caught:
        if issubclass(warning.category, FitInterruptedWarning):
            raise KeyboardInterrupt(str(warning.message))
        warnings.warn_explicit(warning.message, warning.category, warning.filename,
                               warning.lineno)
    return time.perf_counter() - start


def _write_report(rows, out):
    """Write ``tables.md`` (AP, SEG, AP on real nuclei, gains, alpha,
    PSNR), ``figure3.png`` and, with several alphas, ``figure4a.png`` to
    the folder ``out``; return the tables' text."""
    sections = [("AP", segmentation_table(rows, "AP")), ("SEG", segmentation_table(rows, "SEG"))]
    if any(not np.isnan(r.get("AP_real", np.nan)) for r in rows):
        sections.append(("AP on the real nuclei image", segmentation_table(rows, "AP_real")))
    sections.append(("AP gain over the Baseline, same seed", gain_table(rows)))
    noise, alphas = noise_table(rows), alpha_table(rows)
    if noise:
        sections.append(("AP change from the lowest noise level, same seed (Figure 4b)", noise))
    if alphas:
        sections.append(("AP gain of DenoiSeg over the Baseline per alpha (Figure 4a)", alphas))
    sections.append(("PSNR (dB)", psnr_table(rows)))
    text = "\n\n".join(f"## {title}\n\n{body}" for title, body in sections) + "\n"
    out = Path(out)
    (out / "tables.md").write_text(text)
    import matplotlib.pyplot as plt

    plt.close(plot_figure3(rows, out / "figure3.png"))
    figure = plot_alpha(rows, out / "figure4a.png")
    if figure is not None:
        plt.close(figure)
    return text


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
        description="Baseline, Sequential and DenoiSeg for few annotated images (the paper's "
                    "Figure 3, Figure 4a and Table 1). Writes results.csv (one line per "
                    "trained network; resumed when present), tables.md and figure3.png to "
                    "--out.",
        epilog="examples:\n"
               "  the paper's regime on synthetic nuclei, on a CPU:\n"
               "    python -m sklearn_denoiseg.experiments --dataset synthetic "
               "--protocols separate split --annotated 1 2 5 10 50 --seeds 0 1 2 3 4 "
               "--out results/synthetic\n"
               "  the published DSB2018 data with the paper's schedule, on a GPU:\n"
               "    python -m sklearn_denoiseg.experiments --dataset DSB2018 --protocols "
               "separate --annotated 10 19 38 76 3800 --seeds 0 1 2 3 4 --budget paper "
               "--out results/dsb2018",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default="experiment_results",
                        help="output folder (default experiment_results)")
    parser.add_argument("--dataset", default="nuclei", choices=DATASETS,
                        help="data set (default nuclei: the one real image, 12 crops)")
    parser.add_argument("--protocols", nargs="+", default=["split"], choices=PROTOCOLS,
                        help="validation protocols (default split)")
    parser.add_argument("--annotated", type=int, nargs="+", default=[1, 2, 5, 10],
                        help="numbers of annotated training images (default 1 2 5 10)")
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0, 10, 20],
                        help="added noise levels (default 0 10 20)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="random seeds (default 0 1 2)")
    parser.add_argument("--alphas", type=float, nargs="+", default=[MAIN_ALPHA],
                        help="alphas of the DenoiSeg runs (default 0.5; more for Figure 4a)")
    parser.add_argument("--budget", default="experiment", choices=BUDGETS,
                        help="training budget: experiment (CPU, default), paper (GPU), fast "
                             "(a tiny network, to check that everything runs)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="train every network this many epochs instead of the budget's "
                             "(a longer or shorter schedule at the same network and batches)")
    parser.add_argument("--fast", action="store_true", help="the same as --budget fast")
    parser.add_argument("--data-home", default=None,
                        help="cache folder of the published data sets")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    params = BUDGETS["fast" if args.fast else args.budget]
    if args.epochs is not None:
        if args.epochs < 1:
            parser.error(f"--epochs must be at least 1; got {args.epochs}")
        params = {**params, "max_epochs": args.epochs}
    try:
        rows = run_experiment(dataset=args.dataset, protocols=args.protocols,
                              n_annotated=args.annotated, sigmas=args.sigmas, seeds=args.seeds,
                              alphas=args.alphas, params=params,
                              results_path=out / "results.csv", data_home=args.data_home)
    except ValueError as error:
        parser.error(str(error))
    except KeyboardInterrupt:
        print(f"\ninterrupted; the finished runs are in {out / 'results.csv'}: "
              "run the same command again to go on", file=sys.stderr)
        raise SystemExit(130) from None
    tables = _write_report(rows, out)
    print(f"\n{tables}\nwrote {out / 'results.csv'}, {out / 'tables.md'} and the figures in "
          f"{time.perf_counter() - start:.0f} s")
    return rows


if __name__ == "__main__":
    main()
