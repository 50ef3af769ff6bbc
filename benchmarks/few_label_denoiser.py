"""Does co-learning with one annotated image cost the denoiser?

In the synthetic experiment (``python -m sklearn_denoiseg.experiments
--dataset synthetic``, noise sigma 20, a separate annotated validation set)
DenoiSeg with 1 annotated image of 400 denoised 3.4 dB worse than Noise2Void
on average. This script looks for the cause. For each seed it trains, on the
experiment's data and budget,

- ``DenoiSeg``: ``alpha=0.5``, a quarter of every batch from the annotated
  image (``label_fraction=0.25``, the default);
- ``DenoiSeg, area``: the same with ``label_fraction=None`` (patches in
  proportion to area, as in the paper: the annotated image is 1 of 400);
- ``Noise2Void``: ``alpha=1``,

keeps a copy of the weights after every epoch and measures the PSNR of the
denoised test images at each. It reports the PSNR at the epoch that ``fit``
kept (lowest combined validation loss), at the last epoch and the range over
epochs, and the test AP of the kept weights. One row per epoch in a CSV; a
rerun skips the runs already there.

    python benchmarks/few_label_denoiser.py [--seeds 0 4] [--annotated 1]
"""

import argparse
import functools
from pathlib import Path

import numpy as np

from _common import append_csv, machine, mean_se_text, read_csv, table
from epoch_selection import _fit_with_snapshots
from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg._experiment_data import load_experiment_data
from sklearn_denoiseg._training import kept_epoch
from sklearn_denoiseg.datasets import keep_annotated
from sklearn_denoiseg.demo import mean_psnr
from sklearn_denoiseg.experiments import EXPERIMENT_PARAMS
from sklearn_denoiseg.metrics import average_precision

SIGMA = 20.0
VARIANTS = {"DenoiSeg": {"alpha": 0.5}, "DenoiSeg, area": {"alpha": 0.5, "label_fraction": None},
            "Noise2Void": {"alpha": 1.0}}
FIELDS = ["variant", "n_annotated", "seed", "epoch", "kept", "valid_n2v_loss", "valid_seg_loss",
          "PSNR", "test_AP"]


@functools.lru_cache(maxsize=1)
def _data(seed):
    """The experiment's data of one seed, made once for all its variants."""
    return load_experiment_data("synthetic", SIGMA, seed)


def run(variant, k, seed):
    """One row per epoch of one network; ``test_AP`` (of the kept weights,
    what ``fit`` returns) on the kept epoch's row only."""
    data = _data(seed)
    params = {**EXPERIMENT_PARAMS, **VARIANTS[variant], "verbose": 0}
    segments = params["alpha"] < 1
    model = DenoiSegEstimator(random_state=seed, **params)
    y = keep_annotated(data["y_train"], k, random_state=seed) if segments else None
    states, _ = _fit_with_snapshots(model, data["X_train"], y, data["X_val"],
                                    data["y_val"] if segments else None)
    kept = kept_epoch(model.history_)
    test_ap = (average_precision(list(data["y_test"]), list(model.predict(data["X_test"])))
               if segments else np.nan)
    rows = []
    for epoch, (state, history) in enumerate(zip(states, model.history_), 1):
        model.predictor_.module.load_state_dict(state)
        denoised = model.predictor_.denoise(list(data["X_test"]))
        rows.append({"variant": variant, "n_annotated": k, "seed": seed, "epoch": epoch,
                     "kept": int(epoch == kept),
                     "valid_n2v_loss": history.get("valid_n2v_loss", np.nan),
                     "valid_seg_loss": history.get("valid_seg_loss", np.nan),
                     "PSNR": mean_psnr(data["clean_test"], denoised),
                     "test_AP": test_ap if epoch == kept else np.nan})
    return rows


def _read(path):
    return read_csv(path, text=("variant",))


def summary(all_rows):
    """A line per run, then mean ± standard error over seeds per variant."""
    runs = {}
    for row in all_rows:
        runs.setdefault((row["variant"], int(row["n_annotated"]), int(row["seed"])),
                        []).append(row)
    per_run, groups = [], {}
    for variant, k, seed in sorted(runs, key=lambda run: (run[2], list(VARIANTS).index(run[0]))):
        rows = sorted(runs[(variant, k, seed)], key=lambda r: r["epoch"])
        kept = next(r for r in rows if r["kept"])
        psnr = [r["PSNR"] for r in rows]
        ap = "" if np.isnan(kept["test_AP"]) else f"{kept['test_AP']:.3f}"
        per_run.append([variant, k, seed, int(kept["epoch"]), f"{kept['PSNR']:.2f}",
                        f"{psnr[-1]:.2f}", f"{min(psnr):.2f} to {max(psnr):.2f}", ap])
        group = groups.setdefault((variant, k), {"kept": [], "last": [], "best": [], "AP": []})
        group["kept"].append(kept["PSNR"])
        group["last"].append(psnr[-1])
        group["best"].append(max(psnr))
        group["AP"].append(kept["test_AP"])
    means = [[variant, k, len(g["kept"]), mean_se_text(g["kept"], 2), mean_se_text(g["last"], 2),
              mean_se_text(g["best"], 2), mean_se_text(g["AP"], missing="")]
             for (variant, k), g in sorted(groups.items(),
                                           key=lambda item: list(VARIANTS).index(item[0][0]))]
    return "\n\n".join([
        table(["variant", "annotated", "seed", "kept epoch", "PSNR kept", "PSNR last",
               "PSNR over epochs", "test AP"], per_run),
        table(["variant", "annotated", "seeds", "PSNR kept", "PSNR last", "PSNR, best epoch",
               "test AP"], means)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotated", type=int, nargs="+", default=[1])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 4])
    parser.add_argument("--csv", type=Path, default=Path("results/few_label_denoiser.csv"))
    args = parser.parse_args()
    print(machine())
    rows = _read(args.csv)
    done = {(r["variant"], int(r["n_annotated"]), int(r["seed"])) for r in rows}
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    for k in args.annotated:
        for seed in args.seeds:
            for variant, settings in VARIANTS.items():
                n_annotated = k if settings["alpha"] < 1 else 0  # Noise2Void uses no labels
                if (variant, n_annotated, seed) in done:
                    continue
                done.add((variant, n_annotated, seed))
                new = run(variant, n_annotated, seed)
                append_csv(args.csv, new, FIELDS)
                rows.extend(new)
                kept = next(r for r in new if r["kept"])
                print(f"{variant:15} {n_annotated} annotated seed {seed}: kept epoch {kept['epoch']}, "
                      f"PSNR {kept['PSNR']:.2f}", flush=True)
    print(summary(rows))


if __name__ == "__main__":
    main()
