"""How the share of annotated patches per batch (label_fraction) affects
segmentation after a fixed CPU budget.

Few annotated 128x128 crops of the noisy nuclei image stand beside large
unannotated images (the same training region under other noise draws), so
that drawing patches in proportion to area (label_fraction=None, as the
paper) gives the segmentation loss only a small share of each batch.
DenoiSeg (alpha=0.5) and the Baseline (alpha=0) are trained with the demo's
budget for each label_fraction and seed; the table reports the test AP.

    python benchmarks/label_fraction.py [--seeds 0 1] [--fractions none 0.25 0.5 0.75]
"""

import argparse
import time

import numpy as np

from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg.datasets import add_gaussian_noise, load_nuclei
from sklearn_denoiseg.demo import DEMO_PARAMS, evaluate, nuclei_split


def build_data(seed, n_large=3):
    data = nuclei_split(sigma=20.0, n_annotated=3, random_state=seed)
    annotated = np.flatnonzero(data["y_train"].any(axis=(1, 2)))
    clean, _ = load_nuclei()
    train_region = clean[:, : clean.shape[1] - 128]
    rng = np.random.RandomState(1000 + seed)
    large = [add_gaussian_noise(train_region, 20.0, rng) for _ in range(n_large)]
    X = [*data["X_train"][annotated], *large]
    y = [*data["y_train"][annotated], *[np.zeros(im.shape, np.int32) for im in large]]
    area = [im.size for im in X]
    share = sum(area[: len(annotated)]) / sum(area)
    return X, y, data, share


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--fractions", nargs="+", default=["none", "0.25", "0.5", "0.75"])
    args = parser.parse_args()
    fractions = [None if f == "none" else float(f) for f in args.fractions]
    rows = []
    for seed in args.seeds:
        X, y, data, share = build_data(seed)
        print(f"seed {seed}: annotated share of the area {share:.3f}", flush=True)
        for fraction in fractions:
            for alpha in (0.5, 0.0):
                start = time.perf_counter()
                est = DenoiSegEstimator(alpha=alpha, label_fraction=fraction,
                                        random_state=seed, verbose=0, **DEMO_PARAMS)
                scores = evaluate(est.fit(X, y), data)
                rows.append((fraction, alpha, seed, scores["AP"], scores["SEG"],
                             time.perf_counter() - start))
                print(f"  label_fraction={fraction} alpha={alpha}: AP {scores['AP']:.3f} "
                      f"SEG {scores['SEG']:.3f} ({rows[-1][-1]:.0f} s)", flush=True)

    print("\n| label_fraction | DenoiSeg AP | Baseline AP | DenoiSeg SEG | Baseline SEG |")
    print("| --- | --- | --- | --- | --- |")
    for fraction in fractions:
        cells = []
        for metric in (3, 4):
            for alpha in (0.5, 0.0):
                values = [r[metric] for r in rows if r[0] == fraction and r[1] == alpha]
                cells.append(f"{np.mean(values):.3f} ± {np.std(values):.3f}")
        cells = [cells[0], cells[1], cells[2], cells[3]]
        print(f"| {fraction} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
