"""Does adding noise to nearly noise-free training images help DenoiSeg
segment the nearly noise-free images themselves?

The paper reports that its best segmentations of low-noise data came from
training on them with moderate synthetic noise added (its Figure 4b). The
synthetic experiment (``python -m sklearn_denoiseg.experiments --dataset
synthetic``) tests every noise level on test images with that noise, so
added noise there also makes the test harder. This script trains on the
experiment's data, budget and protocol (the separate annotated validation
set, at the training noise) with noise sigma 0, 10 and 20 added to the
training and validation images, and scores every network on the test
images *without* added noise, and on the real DSB2018 image without added
noise (the crops that ``stardist`` ships). The test images are the same
images as at sigma 0, so the scores pair by seed. One row per network in a
CSV; a rerun skips the runs already there.

    python benchmarks/added_noise.py [--annotated 2 10] [--seeds 0 1 2 3 4] [--variants DenoiSeg]
        [--sigmas 0 10 20]
"""

import argparse
import functools
from pathlib import Path

from _common import append_csv, machine, mean_se_text, read_csv, table
from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg._experiment_data import load_experiment_data
from sklearn_denoiseg.datasets import keep_annotated
from sklearn_denoiseg.experiments import EXPERIMENT_PARAMS
from sklearn_denoiseg.metrics import average_precision

VARIANTS = {"DenoiSeg": 0.5, "Baseline": 0.0}
SIGMAS = (0.0, 10.0, 20.0)
FIELDS = ["variant", "train_sigma", "n_annotated", "seed", "AP_own_noise", "AP_clean",
          "AP_real_clean"]


@functools.lru_cache(maxsize=3)
def _data(sigma, seed):
    """The experiment's data of one noise level and seed, made once."""
    return load_experiment_data("synthetic", sigma, seed)


def run(variant, sigma, k, seed):
    """Train at noise ``sigma``; AP on the test images with that noise, on
    the test images and on the real image without added noise."""
    data, clean = _data(sigma, seed), _data(0.0, seed)
    model = DenoiSegEstimator(alpha=VARIANTS[variant], random_state=seed,
                              **{**EXPERIMENT_PARAMS, "verbose": 0})
    y = keep_annotated(data["y_train"], k, random_state=seed)
    model.fit(data["X_train"], y, X_val=data["X_val"], y_val=data["y_val"])

    def ap(images, labels):
        return average_precision(list(labels), list(model.predict(images)))

    return {"variant": variant, "train_sigma": sigma, "n_annotated": k, "seed": seed,
            "AP_own_noise": ap(data["X_test"], data["y_test"]),
            "AP_clean": ap(clean["X_test"], clean["y_test"]),
            "AP_real_clean": ap(clean["X_real"], clean["y_real"])}


def _read(path):
    return read_csv(path, text=("variant",))


def summary(rows):
    """Per variant and label budget: the AP at each training noise, and the
    change against training without added noise (paired by seed)."""
    runs = {(r["variant"], int(r["n_annotated"]), r["train_sigma"], int(r["seed"])): r
            for r in rows}
    lines = []
    for variant, k, sigma in sorted({key[:3] for key in runs},
                                    key=lambda key: (list(VARIANTS).index(key[0]), *key[1:])):
        seeds = sorted(key[3] for key in runs if key[:3] == (variant, k, sigma))
        cells = []
        for metric in ("AP_own_noise", "AP_clean", "AP_real_clean"):
            values = [runs[variant, k, sigma, seed][metric] for seed in seeds]
            change = [runs[variant, k, sigma, seed][metric] - runs[variant, k, 0.0, seed][metric]
                      for seed in seeds if (variant, k, 0.0, seed) in runs]
            cells.append(mean_se_text(values))
            if metric != "AP_own_noise":
                cells.append("" if sigma == 0 else mean_se_text(change))
        lines.append([variant, k, f"{sigma:g}", len(seeds), *cells])
    return table(["variant", "annotated", "training noise", "seeds", "AP, test with that noise",
                  "AP, test without added noise", "change against sigma 0",
                  "AP, real image without added noise", "change against sigma 0"], lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotated", type=int, nargs="+", default=[2, 10])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--variants", nargs="+", default=["DenoiSeg"], choices=list(VARIANTS))
    parser.add_argument("--sigmas", type=float, nargs="+", default=list(SIGMAS),
                        help="training noise levels (default 0 10 20)")
    parser.add_argument("--csv", type=Path, default=Path("results/added_noise.csv"))
    args = parser.parse_args()
    print(machine())
    rows = _read(args.csv)
    done = {(r["variant"], r["train_sigma"], int(r["n_annotated"]), int(r["seed"])) for r in rows}
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for sigma in args.sigmas:
            for k in args.annotated:
                for variant in args.variants:
                    if (variant, sigma, k, seed) in done:
                        continue
                    row = run(variant, sigma, k, seed)
                    append_csv(args.csv, [row], FIELDS)
                    rows.append(row)
                    print(f"{variant:9} sigma {sigma:>4g} {k:>2} annotated seed {seed}: AP "
                          f"{row['AP_own_noise']:.3f} with that noise, {row['AP_clean']:.3f} "
                          f"without, real {row['AP_real_clean']:.3f}", flush=True)
    print(summary(rows))


if __name__ == "__main__":
    main()
