"""Fine-tune a trained model on a few annotated images of a new domain, or
train from scratch?

A lab has a DenoiSeg model trained on one microscope and a few annotated
images from another. This script trains a source model on the noisy real
DSB2018 nuclei image that ``stardist`` ships (its 12 training crops, all
annotated, noise sigma 20; the demo's ``cpu`` budget of 10 epochs) and
takes as "the new microscope" synthetic nuclei (``make_nuclei``) that are
smaller (radius 5-9 instead of 8-15 pixels), dimmer and in other units
(photon counts around 25 instead of grey values up to 235), with their own
Poisson and camera noise: a pool of 20 images of which 1, 2 or 5 are
annotated, 2 annotated validation images (the paper's protocol) and 8 test
images. On that domain it compares

- ``no adaptation``: the source model as it is (its own threshold);
- ``scratch``: a new model with the source's budget (10 epochs);
- ``fine-tune``: the source model continued (``warm_start``) for 2 epochs,
  a fifth of the budget, with the normalisation refitted to the new units;
- ``fine-tune, frozen encoder``: the same with ``freeze="encoder"``.

Test AP and fit time per run, one row per run in a CSV; a rerun skips the
runs already there.

    python benchmarks/fine_tuning.py [--annotated 2 1 5] [--seeds 0 1 2]
"""

import argparse
import copy
import functools
import time
import warnings
from pathlib import Path

from _common import append_csv, machine, mean_se_text, read_csv, table
from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg.datasets import keep_annotated, make_nuclei
from sklearn_denoiseg.demo import nuclei_split
from sklearn_denoiseg.metrics import average_precision
from sklearn_denoiseg.presets import preset

BUDGET = {**preset("cpu"), "verbose": 0}
"""The source model's and the from-scratch budget: the demo's."""
FINE_TUNING_EPOCHS = 2
"""A fifth of the budget's 10 epochs."""
NEW_DOMAIN = dict(shape=(128, 128), radius=(5.0, 9.0), n_nuclei=(12, 24), photons=25.0,
                  background=0.15)
"""The new microscope: smaller, denser, dimmer nuclei in photon counts."""
METHODS = ("no adaptation", "scratch", "fine-tune", "fine-tune, frozen encoder")
FIELDS = ["method", "n_annotated", "seed", "AP", "fit_seconds", "epochs"]


@functools.cache
def source_model(seed):
    """DenoiSeg trained on the 12 annotated noisy crops of the real image."""
    data = nuclei_split(sigma=20, n_annotated=12, random_state=seed)
    return DenoiSegEstimator(**BUDGET, random_state=seed).fit(data["X_train"], data["y_train"])


@functools.cache
def new_domain(seed):
    """Pool (20), validation (2) and test (8) images of the new microscope."""
    X, y, _ = make_nuclei(30, **NEW_DOMAIN, random_state=1000 + seed)
    return {"X_pool": X[:20], "y_pool": y[:20], "X_val": X[20:22], "y_val": y[20:22],
            "X_test": X[22:], "y_test": y[22:]}


def run(method, k, seed):
    data = new_domain(seed)
    y = keep_annotated(data["y_pool"], k, random_state=seed)
    source = source_model(seed)
    if method == "no adaptation":
        model, seconds = source, 0.0
    else:
        if method == "scratch":
            model = DenoiSegEstimator(**BUDGET, random_state=seed)
        else:
            model = copy.deepcopy(source)
            model.set_params(warm_start=True, refit_normalization=True,
                             max_epochs=FINE_TUNING_EPOCHS,
                             freeze="encoder" if "frozen" in method else None)
        start = time.perf_counter()
        model.fit(data["X_pool"], y, X_val=data["X_val"], y_val=data["y_val"])
        seconds = time.perf_counter() - start
    ap = average_precision(list(data["y_test"]), list(model.predict(data["X_test"])))
    epochs = 0 if method == "no adaptation" else model.get_params()["max_epochs"]
    return {"method": method, "n_annotated": k, "seed": seed, "AP": ap,
            "fit_seconds": round(seconds, 1), "epochs": epochs}


def summary(rows):
    """Per method and label budget: test AP and fit time over the seeds."""
    lines = []
    for k in sorted({int(r["n_annotated"]) for r in rows}):
        for method in METHODS:
            runs = [r for r in rows if r["method"] == method and int(r["n_annotated"]) == k]
            if runs:
                lines.append([k, method, mean_se_text([r["AP"] for r in runs]),
                              mean_se_text([r["fit_seconds"] for r in runs], 0), len(runs)])
    return table(["annotated", "method", "test AP", "fit [s]", "seeds"], lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotated", type=int, nargs="+", default=[2, 1, 5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "fine_tuning.csv")
    args = parser.parse_args(argv)
    print(machine())
    done = {(r["method"], int(r["n_annotated"]), int(r["seed"]))
            for r in read_csv(args.out, text=("method",))}
    # label budget first, so that a cut-short run has every seed of the first
    for k in args.annotated:
        for seed in args.seeds:
            for method in METHODS:
                if (method, k, seed) in done:
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    row = run(method, k, seed)
                append_csv(args.out, [row], FIELDS)
                print(f"seed {seed}, {k} annotated, {method}: AP {row['AP']:.3f} in "
                      f"{row['fit_seconds']:.0f} s", flush=True)
    print(summary(read_csv(args.out, text=("method",))))


if __name__ == "__main__":
    main()
