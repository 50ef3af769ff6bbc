"""Why does the Baseline collapse without a separate validation set?

In the synthetic experiment (``python -m sklearn_denoiseg.experiments
--dataset synthetic --protocols separate split``) the Baseline trained on 1
annotated image of 400 scored AP 0.483 with the separate annotated
validation set and 0.032 when validation is carved from the training images
(sigma 20, 5 seeds). With one annotated image none is held out, so ``fit``
keeps the epoch of the lowest training loss and tunes the threshold on the
training image itself; with two, one trains and one validates. This script
separates the two choices. For each seed it trains, on the experiment's data
and budget and with the split protocol, the Baseline (``alpha=0``) and
DenoiSeg (``alpha=0.5``), keeps a copy of the weights after every epoch, and
scores each copy on the test images at four thresholds:

- ``fit``: tuned where ``fit`` tunes it (the annotated validation images,
  else the annotated training images);
- ``0.5``: the midpoint of the probability, untuned (scored with 1
  annotated image only, where ``fit`` has no annotated validation image);
- ``validation set``: tuned on the experiment's 16 separate annotated
  validation images (which the network never saw);
- ``best``: the best threshold for the test images (an upper bound).

It reports the test AP at the epoch ``fit`` kept with each threshold, and
the best test AP over epochs with the validation set's threshold. One row
per epoch in a CSV; a rerun skips the runs already there.

    python benchmarks/split_protocol.py [--annotated 1 2] [--seeds 0 1 2 3 4] [--sigma 20]
"""

import argparse
import functools
import warnings
from pathlib import Path

import numpy as np

from _common import append_csv, machine, mean_se_text, read_csv, table
from epoch_selection import _fit_with_snapshots
from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg._experiment_data import load_experiment_data
from sklearn_denoiseg._instances import foreground_to_instances, search_threshold
from sklearn_denoiseg._training import kept_epoch
from sklearn_denoiseg.datasets import keep_annotated
from sklearn_denoiseg.exceptions import NoObjectsFoundWarning
from sklearn_denoiseg.experiments import EXPERIMENT_PARAMS
from sklearn_denoiseg.metrics import average_precision

VARIANTS = {"Baseline": 0.0, "DenoiSeg": 0.5}
THRESHOLDS = ("fit", "0.5", "validation set", "best")
FIELDS = ["variant", "sigma", "n_annotated", "seed", "epoch", "kept", "train_loss",
          *[f"threshold_{name}" for name in THRESHOLDS],
          *[f"test_AP_{name}" for name in THRESHOLDS]]


@functools.lru_cache(maxsize=1)
def _data(sigma, seed):
    """The experiment's data of one noise level and seed, made once."""
    return load_experiment_data("synthetic", sigma, seed)


def _tuned(foregrounds, labels):
    """The threshold that the threshold search picks for ``foregrounds``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoObjectsFoundWarning)
        return search_threshold(foregrounds, list(labels))[0]


def run(variant, sigma, k, seed):
    """One row per epoch of one network trained with the split protocol."""
    data = _data(sigma, seed)
    model = DenoiSegEstimator(alpha=VARIANTS[variant], random_state=seed,
                              **{**EXPERIMENT_PARAMS, "verbose": 0})
    y = keep_annotated(data["y_train"], k, random_state=seed)
    states, chosen = _fit_with_snapshots(model, data["X_train"], y)
    kept = kept_epoch(model.history_)
    predictor, y_test = model.predictor_, list(data["y_test"])
    rows = []
    for epoch, (state, history) in enumerate(zip(states, model.history_), 1):
        predictor.module.load_state_dict(state)
        test_foreground = predictor.foreground(list(data["X_test"]))
        thresholds = {
            "fit": _tuned(predictor.foreground(list(data["X_train"][chosen])), y[chosen]),
            "0.5": 0.5 if k == 1 else np.nan,
            "validation set": _tuned(predictor.foreground(list(data["X_val"])), data["y_val"]),
            "best": _tuned(test_foreground, y_test),
        }
        row = {"variant": variant, "sigma": sigma, "n_annotated": k, "seed": seed,
               "epoch": epoch, "kept": int(epoch == kept), "train_loss": history["train_loss"]}
        for name, threshold in thresholds.items():
            row[f"threshold_{name}"] = threshold
            row[f"test_AP_{name}"] = np.nan if np.isnan(threshold) else average_precision(
                y_test, [foreground_to_instances(fg, threshold) for fg in test_foreground])
        rows.append(row)
    return rows


def _read(path):
    return read_csv(path, text=("variant",))


def summary(all_rows):
    """Mean ± standard error over seeds of the test AP at the kept epoch
    with each threshold, and the best epoch's with the validation set's."""
    runs = {}
    for row in all_rows:
        key = (row["variant"], row["sigma"], int(row["n_annotated"]), int(row["seed"]))
        runs.setdefault(key, []).append(row)
    groups = {}
    for (variant, sigma, k, _), rows in runs.items():
        groups.setdefault((sigma, k, variant), []).append(sorted(rows, key=lambda r: r["epoch"]))
    lines = []
    for (sigma, k, variant), group in sorted(groups.items()):
        kept = [next(r for r in rows if r["kept"]) for rows in group]
        cells = [mean_se_text([r[f"test_AP_{name}"] for r in kept]) for name in THRESHOLDS]
        thresholds = [mean_se_text([r[f"threshold_{name}"] for r in kept], 2)
                      for name in ("fit", "validation set")]
        best_epoch = mean_se_text([max(r["test_AP_validation set"] for r in rows)
                                   for rows in group])
        epochs = "/".join(str(int(r["epoch"])) for r in kept)
        lines.append([f"{sigma:g}", k, variant, len(group), epochs, *thresholds, *cells,
                      best_epoch])
    return table(["sigma", "annotated", "variant", "seeds", "kept epochs", "threshold, fit",
                  "threshold, validation set", *[f"test AP, {name} threshold"
                                                 for name in THRESHOLDS],
                  "test AP, best epoch, validation set threshold"], lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotated", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--sigma", type=float, default=20.0)
    parser.add_argument("--csv", type=Path, default=Path("results/split_protocol.csv"))
    args = parser.parse_args()
    print(machine())
    rows = _read(args.csv)
    done = {(r["variant"], r["sigma"], int(r["n_annotated"]), int(r["seed"])) for r in rows}
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for k in args.annotated:
            for variant in VARIANTS:
                if (variant, args.sigma, k, seed) in done:
                    continue
                new = run(variant, args.sigma, k, seed)
                append_csv(args.csv, new, FIELDS)
                rows.extend(new)
                kept = next(r for r in new if r["kept"])
                print(f"{variant:9} {k} annotated seed {seed}: kept epoch {kept['epoch']}, test AP "
                      + ", ".join(f"{kept[f'test_AP_{name}']:.3f} ({name} threshold "
                                  f"{kept[f'threshold_{name}']:.2f})" for name in THRESHOLDS),
                      flush=True)
    print(summary(rows))


if __name__ == "__main__":
    main()
