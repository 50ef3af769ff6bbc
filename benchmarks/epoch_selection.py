"""Which epoch to keep with few annotated crops: the combined validation
loss, its segmentation term alone, or the validation AP?

DenoiSeg keeps the weights of the epoch with the lowest validation loss,
``alpha * L_denoise + (1 - alpha) * L_segment`` (as the paper). With few
annotated images among many unannotated validation images the two terms can
have very different sizes, so "best" may follow one task only. This script
trains DenoiSeg (``alpha=0.5``) on the noisy real nuclei image (the
experiment's 12 training crops, the demo's budget for 8 epochs), keeps a copy
of the weights after every epoch and scores each copy afterwards: AP on the
annotated validation crops (threshold tuned there), AP on the 4 test crops
at that threshold, and the PSNR of the denoised test crops. From these it
reports the test AP that each rule of choosing the epoch would have given:

- ``loss``: lowest combined validation loss (what ``fit`` does);
- ``seg_loss``: lowest validation segmentation loss;
- ``AP``: highest validation AP (ties to the later epoch);
- ``last``: the final epoch;
- ``oracle``: the best test AP of any epoch (an upper bound, not a rule).

Two validation protocols: ``split`` holds out 15% of the crops as ``fit``
does by default (of 2 annotated crops, 1 validates and 1 trains); with
``separate``, 2 further annotated crops are taken out of the 12 and passed
as ``X_val, y_val`` (the paper's protocol), so every annotated training
crop trains. One row per epoch in a CSV; a rerun skips the runs already
there.

    python benchmarks/epoch_selection.py [--annotated 1 2 5] [--seeds 0 1 2] [--sigma 20]
"""

import argparse
import copy
import warnings
from pathlib import Path

import numpy as np
from skorch.callbacks import Callback

import sklearn_denoiseg._estimator as estimator_module
import sklearn_denoiseg._training as training_module
from _common import append_csv, machine, mean_se_text, read_csv, table
from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg._instances import search_threshold
from sklearn_denoiseg.datasets import keep_annotated
from sklearn_denoiseg.demo import mean_psnr, nuclei_split
from sklearn_denoiseg.exceptions import NoObjectsFoundWarning, ThresholdOnTrainingImagesWarning
from sklearn_denoiseg.experiments import EXPERIMENT_PARAMS
from sklearn_denoiseg.metrics import average_precision

FIELDS = ["protocol", "sigma", "n_annotated", "seed", "epoch", "valid_loss", "valid_n2v_loss",
          "valid_seg_loss", "valid_AP", "threshold", "test_AP", "PSNR"]
RULES = ("loss", "seg_loss", "AP", "last", "oracle")


class _Snapshots(Callback):
    """A copy of the module's weights after every epoch."""

    def initialize(self):
        self.states_ = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.states_.append(copy.deepcopy(net.module_.state_dict()))


def _fit_with_snapshots(model, X, y, X_val=None, y_val=None):
    """Fit ``model`` and return the weights of every epoch and the indices
    of the annotated validation images (into X followed by X_val)."""
    snapshots, trained = _Snapshots(), {}
    build_net, train_network = training_module._build_net, estimator_module.train_network

    def build_with_snapshots(*args, **kwargs):
        net = build_net(*args, **kwargs)
        net.callbacks.append(("snapshots", snapshots))
        return net

    def keep_result(*args, **kwargs):
        trained["result"] = train_network(*args, **kwargs)
        return trained["result"]

    training_module._build_net, estimator_module.train_network = build_with_snapshots, keep_result
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ThresholdOnTrainingImagesWarning)
            model.fit(X, y, X_val=X_val, y_val=y_val)
    finally:
        training_module._build_net, estimator_module.train_network = build_net, train_network
    result = trained["result"]
    return snapshots.states_, result.validation or result.annotated_training


def run(protocol, sigma, k, seed, params):
    data = nuclei_split(sigma=sigma, n_annotated=12, random_state=seed)
    X, y_full = data["X_train"], data["y_train"]
    X_val = y_val = None
    if protocol == "separate":
        rng = np.random.RandomState(1000 + seed)
        held = rng.choice(len(X), size=2, replace=False)
        rest = np.setdiff1d(np.arange(len(X)), held)
        X_val, y_val = X[held], y_full[held]
        X, y_full = X[rest], y_full[rest]
    y = keep_annotated(y_full, k, random_state=seed)
    model = DenoiSegEstimator(alpha=0.5, random_state=seed, **{**params, "verbose": 0})
    states, chosen = _fit_with_snapshots(model, X, y, X_val, y_val)
    all_X = [*X, *(X_val if X_val is not None else [])]
    all_y = [*y, *(y_val if y_val is not None else [])]
    val_X, val_y = [all_X[i] for i in chosen], [all_y[i] for i in chosen]
    rows = []
    module = model.predictor_.module
    for epoch, (state, history) in enumerate(zip(states, model.history_), 1):
        module.load_state_dict(state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NoObjectsFoundWarning)
            threshold, scores = search_threshold(model.predictor_.foreground(val_X), val_y)
        labels = model.predictor_.segment(list(data["X_test"]), threshold)
        rows.append({
            "protocol": protocol, "sigma": sigma, "n_annotated": k, "seed": seed, "epoch": epoch,
            "valid_loss": history.get("valid_loss", np.nan),
            "valid_n2v_loss": history.get("valid_n2v_loss", np.nan),
            "valid_seg_loss": history.get("valid_seg_loss", np.nan),
            "valid_AP": scores[threshold], "threshold": threshold,
            "test_AP": average_precision(list(data["y_test"]), labels),
            "PSNR": mean_psnr(data["clean_test"], model.predictor_.denoise(list(data["X_test"]))),
        })
    return rows


def chosen_epoch(rows, rule):
    """The row that ``rule`` keeps among the epochs of one run."""
    if rule == "last":
        return rows[-1]
    if rule == "oracle":
        return max(reversed(rows), key=lambda r: r["test_AP"])
    if rule == "AP":
        return max(reversed(rows), key=lambda r: r["valid_AP"])
    key = "valid_loss" if rule == "loss" else "valid_seg_loss"
    return min(rows, key=lambda r: r[key])


def _read(path):
    return read_csv(path, text=("protocol",))


def summary(all_rows):
    runs = {}
    for row in all_rows:
        key = (row["protocol"], row["sigma"], int(row["n_annotated"]), int(row["seed"]))
        runs.setdefault(key, []).append(row)
    groups = {}
    for (protocol, sigma, k, _), rows in runs.items():
        groups.setdefault((protocol, sigma, k), []).append(sorted(rows, key=lambda r: r["epoch"]))
    lines = []
    for (protocol, sigma, k), group in sorted(groups.items()):
        cells = []
        for rule in RULES:
            if rule == "seg_loss" and not any(r["valid_seg_loss"] for rows in group for r in rows):
                cells.append("n/a (no annotated validation image)")
                continue
            picked = [chosen_epoch(rows, rule) for rows in group]
            epochs = "/".join(str(int(r["epoch"])) for r in picked)
            cells.append(f"{mean_se_text([r['test_AP'] for r in picked])} (ep. {epochs})")
        ratio = np.mean([r["valid_seg_loss"] / r["valid_n2v_loss"] for rows in group
                         for r in rows])
        lines.append([protocol, f"{sigma:g}", k, len(group), f"{ratio:.2f}", *cells])
    return table(["protocol", "sigma", "annotated", "seeds", "seg/n2v valid loss",
                  *[f"test AP, {rule}" for rule in RULES]], lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotated", type=int, nargs="+", default=[1, 2, 5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sigma", type=float, default=20.0)
    parser.add_argument("--protocols", nargs="+", default=["split", "separate"],
                        choices=["split", "separate"])
    parser.add_argument("--csv", type=Path, default=Path("results/epoch_selection.csv"))
    args = parser.parse_args()
    print(machine())
    rows = _read(args.csv)
    done = {(r["protocol"], r["sigma"], int(r["n_annotated"]), int(r["seed"])) for r in rows}
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    for protocol in args.protocols:
        for k in args.annotated:
            for seed in args.seeds:
                if (protocol, args.sigma, k, seed) in done:
                    continue
                new = run(protocol, args.sigma, k, seed, EXPERIMENT_PARAMS)
                append_csv(args.csv, new, FIELDS)
                rows.extend(new)
                best = chosen_epoch(new, "loss")
                print(f"{protocol:8} {k:>2} annotated seed {seed}: epoch {int(best['epoch'])} "
                      f"by loss, test AP {best['test_AP']:.3f}", flush=True)
    print(summary(rows))


if __name__ == "__main__":
    main()
