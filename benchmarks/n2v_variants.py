"""Noise2Void, N2V2 and structN2V inside DenoiSeg: denoising quality,
checkerboard artefacts, and what they do for segmentation.

The real nuclei image (DSB2018, shipped by ``stardist``) gets two kinds of
noise of the same standard deviation: (a) Gaussian, independent per pixel;
(b) row-correlated: Gaussian noise averaged over 5 pixels along X, then
rescaled, as the stripes of a camera read out row by row. The left three
quarters train (12 crops of 128x128), the right quarter tests (4 crops).

- Denoising: a pure denoiser (``alpha=1``, no labels) per variant, the demo's
  budget (the "cpu" preset); PSNR on the test crops, and the checkerboard
  measure: the power of the denoised image's spectrum on the Nyquist row and
  column (frequency 1/2 along Y or X), relative to that of the clean image
  (1: as much as the clean image has; a checkerboard pattern adds power
  there).
- Segmentation: DenoiSeg (``alpha=0.5``) with 3 annotated training crops
  per variant, on the demo's setting (Gaussian noise); AP on the test
  crops.

structN2V masks lines along X ("horizontal"), the axis of the correlation.
Every run is one row of a CSV file; a rerun skips the rows already there.

    python benchmarks/n2v_variants.py [--seeds 0 1 2] [--sigma 20] [--csv results/n2v_variants.csv]
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.ndimage import uniform_filter1d

from _common import append_csv, machine, mean_se_text, read_csv, table
from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg.datasets import crop_grid, keep_annotated, load_nuclei
from sklearn_denoiseg.demo import DEMO_PARAMS, mean_psnr
from sklearn_denoiseg.exceptions import ThresholdOnTrainingImagesWarning
from sklearn_denoiseg.metrics import average_precision

VARIANTS = {
    "N2V": {},
    "N2V2": {"n2v2": True},
    "structN2V": {"struct_n2v_axis": "horizontal"},
}
NOISES = ("gaussian", "row-correlated")
COLUMNS = [("denoise", "psnr"), ("denoise", "nyquist"), ("segment", "ap"), ("segment", "psnr")]
FIELDS = ["task", "noise", "variant", "seed", "psnr", "nyquist", "ap", "seconds"]


def noise(kind, shape, sigma, rng):
    """Gaussian noise, independent or correlated along X, of std ``sigma``."""
    white = rng.normal(size=shape)
    if kind == "row-correlated":
        white = uniform_filter1d(white, size=5, axis=1, mode="wrap")
        white /= white.std()
    return (sigma * white).astype(np.float32)


def data(kind, sigma, seed):
    clean, labels = load_nuclei()
    noisy = clean + noise(kind, clean.shape, sigma, np.random.RandomState(seed))
    split = clean.shape[1] - 128
    return {
        "X_train": crop_grid(noisy[:, :split], 128),
        "y_train": keep_annotated(crop_grid(labels[:, :split], 128), 3,
                                  np.random.RandomState(seed)),
        "X_test": crop_grid(noisy[:, split:], 128),
        "y_test": crop_grid(labels[:, split:], 128),
        "clean_test": crop_grid(clean[:, split:], 128),
    }


def nyquist_power(image):
    """Spectral power on the Nyquist row and column of a square image."""
    power = np.abs(np.fft.fft2(image - image.mean())) ** 2
    half = image.shape[0] // 2
    return power[half, :].sum() + power[:, half].sum() - power[half, half]


def nyquist_ratio(clean_images, images):
    return float(np.mean([nyquist_power(x) / nyquist_power(c)
                          for c, x in zip(clean_images, images)]))


def run(task, kind, variant, seed, sigma):
    split = data(kind, sigma, seed)
    params = {**DEMO_PARAMS, **VARIANTS[variant], "random_state": seed, "verbose": 0}
    start = time.perf_counter()
    if task == "denoise":
        est = DenoiSegEstimator(alpha=1.0, **params).fit(split["X_train"])
        ap = np.nan
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ThresholdOnTrainingImagesWarning)
            est = DenoiSegEstimator(alpha=0.5, **params).fit(split["X_train"], split["y_train"])
        ap = average_precision(list(split["y_test"]), list(est.predict(split["X_test"])))
    denoised = est.transform(split["X_test"])
    return {"task": task, "noise": kind, "variant": variant, "seed": seed,
            "psnr": mean_psnr(split["clean_test"], denoised),
            "nyquist": nyquist_ratio(split["clean_test"], denoised), "ap": ap,
            "seconds": time.perf_counter() - start}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sigma", type=float, default=20.0)
    parser.add_argument("--csv", default=Path(__file__).parent / "results" / "n2v_variants.csv")
    args = parser.parse_args()
    print(machine())
    path = Path(args.csv)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = read_csv(path, text=("task", "noise", "variant"))
    done = {(r["task"], r["noise"], r["variant"], r["seed"]) for r in rows}
    for task in ("denoise", "segment"):
        for kind in NOISES if task == "denoise" else NOISES[:1]:
            for variant in VARIANTS:
                for seed in args.seeds:
                    if (task, kind, variant, seed) in done:
                        continue
                    row = run(task, kind, variant, seed, args.sigma)
                    print({k: (round(v, 3) if isinstance(v, float) else v)
                           for k, v in row.items()}, flush=True)
                    append_csv(path, [row], FIELDS)
                    rows.append(row)
    first_seed = {kind: data(kind, args.sigma, 0) for kind in NOISES}
    noisy = {kind: mean_psnr(split["clean_test"], split["X_test"])
             for kind, split in first_seed.items()}
    print(f"\nsigma {args.sigma:g}; noisy test crops: "
          + ", ".join(f"{kind} {value:.2f} dB" for kind, value in noisy.items())
          + f"; mean ± s.e. over seeds {args.seeds}\n")
    body = []
    for kind in NOISES:
        for variant in VARIANTS:
            def pick(task, field):
                return [r[field] for r in rows if r["task"] == task and r["noise"] == kind
                        and r["variant"] == variant and r["seed"] in args.seeds]
            body.append([kind, variant, *(mean_se_text(pick(task, field), missing="-")
                                          for task, field in COLUMNS)])
    print(table(["noise", "variant", "PSNR, denoiser (dB)", "Nyquist power / clean",
                 "AP, DenoiSeg", "PSNR, DenoiSeg (dB)"], body))


if __name__ == "__main__":
    main()
