"""Few-shot 3D DenoiSeg against the segmentation-only Baseline on noisy nuclei.

Data: the synthetic 3D nuclei stack shipped by ``stardist``
(``img3d.tif``, 31x61x57 ZYX, uint16, clean intensity std about 39, with
``mask3d.tif``, 51 labelled nuclei), with Gaussian noise of each ``--sigmas``
value added to the whole stack (drawn from the run's seed).

Protocol, per noise level and seed:

- the last 24 columns along X are the test volume (31x61x24, 25 nuclei,
  counting those cut by the split); the first 33 columns are the training
  region, cut into 2 (Z) x 2 (Y) sub-volumes of about 16x31x33;
- exactly one sub-volume keeps its instance labels (number ``seed % 4``,
  12-14 nuclei, cut objects included); the others get all-zero labels
  (unannotated);
- DenoiSeg (alpha=0.5) and the Baseline (alpha=0) are fitted on the same
  list of 4 sub-volumes with the same budget (3D U-Net of depth 2 and 16
  filters, patches of 16x32x32, batches of 8, ``--epochs`` x ``--steps``).
  With the default ``label_fraction`` 2 patches of each batch come from the
  annotated sub-volume, so the Baseline, for which unannotated patches carry
  no loss, sees as many labelled patches as DenoiSeg;
- validation is the estimator's default: one unannotated sub-volume is held
  out (it monitors the denoising loss; the Baseline monitors its training
  loss), so the threshold is tuned on the annotated training sub-volume
  (the ThresholdOnTrainingImagesWarning is silenced);
- scores on the test volume: AP at IoU 0.5 and SEG, counted in voxels over
  the volume, and the PSNR of ``transform`` against the clean test volume
  (NaN for the Baseline); the noisy input's PSNR is shown for reference.

The table gives mean ± standard error over seeds. Run from the repository
root (about 75 s per fit on 2 quiet CPU cores)::

    python benchmarks/stardist_3d.py [--seeds 0 1 2] [--sigmas 20 40]
        [--epochs 20] [--steps 50] [--csv runs.csv]
"""

import argparse
import csv
import time
import warnings

import numpy as np
import tifffile

from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg.datasets import _stardist_file, add_gaussian_noise
from sklearn_denoiseg.exceptions import ThresholdOnTrainingImagesWarning
from sklearn_denoiseg.metrics import average_precision, psnr, seg_score

# after sklearn_denoiseg, which shortens OpenMP spin waits only before torch is loaded
from _common import machine, mean_se_text, table

TEST_COLUMNS = 24
METHODS = {"DenoiSeg": 0.5, "Baseline": 0.0}
FIELDS = ["sigma", "seed", "method", "annotated_crop", "AP", "SEG", "PSNR",
          "input_PSNR", "threshold", "precision", "fit_s"]


def load_stack():
    """The clean 3D nuclei stack (float32) and its instance labels (int32)."""
    image = tifffile.imread(_stardist_file("img3d.tif")).astype(np.float32)
    labels = tifffile.imread(_stardist_file("mask3d.tif")).astype(np.int32)
    return image, labels


def n_objects(labels):
    return len(np.unique(labels[labels > 0]))


def split(noisy, labels, annotated):
    """Training sub-volumes with one annotated, and the test volume."""
    train, test = noisy[..., :-TEST_COLUMNS], noisy[..., -TEST_COLUMNS:]
    train_labels = labels[..., :-TEST_COLUMNS]
    X, y = [], []
    for z in np.array_split(np.arange(train.shape[0]), 2):
        for r in np.array_split(np.arange(train.shape[1]), 2):
            window = (slice(z[0], z[-1] + 1), slice(r[0], r[-1] + 1))
            X.append(train[window])
            y.append(train_labels[window] if len(y) == annotated
                     else np.zeros(train[window].shape, np.int32))
    return X, y, test


def fit_and_score(alpha, X, y, X_test, y_test, clean_test, seed, epochs, steps):
    est = DenoiSegEstimator(alpha=alpha, axes="ZYX", depth=2, n_filters=16,
                            patch_size=(16, 32, 32), batch_size=8, steps_per_epoch=steps,
                            max_epochs=epochs, lr=1e-3, random_state=seed, verbose=0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ThresholdOnTrainingImagesWarning)
        est.fit(X, y)
    fit_s = time.perf_counter() - start
    # lists of one volume: the metrics count voxels over the whole 3D volume
    pred = est.predict(X_test[None])[0]
    scores = {"AP": average_precision([y_test], [pred]), "SEG": seg_score([y_test], [pred]),
              "PSNR": psnr(clean_test, est.transform(X_test[None])[0]) if alpha > 0 else np.nan}
    return {**scores, "threshold": est.threshold_, "precision": est.precision_, "fit_s": fit_s}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sigmas", type=float, nargs="+", default=[20.0, 40.0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=50, help="training steps per epoch")
    parser.add_argument("--csv", help="file to write one row per fit to")
    args = parser.parse_args()

    print(machine())
    clean, labels = load_stack()
    print(f"stack {clean.shape}, clean std {clean.std():.1f}; "
          f"test nuclei {n_objects(labels[..., -TEST_COLUMNS:])}", flush=True)
    clean_test, y_test = clean[..., -TEST_COLUMNS:], labels[..., -TEST_COLUMNS:]
    rows = []
    start = time.perf_counter()
    for sigma in args.sigmas:
        for seed in args.seeds:
            noisy = add_gaussian_noise(clean, sigma, random_state=seed)
            annotated = seed % 4
            X, y, X_test = split(noisy, labels, annotated)
            input_psnr = psnr(clean_test, X_test)
            for method, alpha in METHODS.items():
                run = fit_and_score(alpha, X, y, X_test, y_test, clean_test, seed,
                                    args.epochs, args.steps)
                rows.append({"sigma": sigma, "seed": seed, "method": method,
                             "annotated_crop": annotated, "input_PSNR": input_psnr, **run})
                print(f"sigma {sigma:g} seed {seed} {method}: {n_objects(y[annotated])} "
                      f"annotated nuclei, AP {run['AP']:.3f} SEG {run['SEG']:.3f} "
                      f"PSNR {run['PSNR']:.2f} (input {input_psnr:.2f}) "
                      f"threshold {run['threshold']:.2f}, {run['fit_s']:.0f} s", flush=True)
    print(f"total {time.perf_counter() - start:.0f} s\n")

    if args.csv:
        with open(args.csv, "w", newline="") as file:
            writer = csv.DictWriter(file, FIELDS)
            writer.writeheader()
            writer.writerows(rows)

    cells = []
    for sigma in args.sigmas:
        for method in METHODS:
            runs = [r for r in rows if r["sigma"] == sigma and r["method"] == method]
            cells.append([f"{sigma:g}", method, len(runs),
                          *(mean_se_text([r[key] for r in runs])
                            for key in ("AP", "SEG", "PSNR", "input_PSNR"))])
    print(table(["sigma", "method", "fits", "AP", "SEG", "PSNR (dB)", "input PSNR (dB)"],
                cells))


if __name__ == "__main__":
    main()
