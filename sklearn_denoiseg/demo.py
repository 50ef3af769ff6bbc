"""Demo: DenoiSeg versus the segmentation-only Baseline on real nuclei.

Run ``python -m sklearn_denoiseg.demo``. It takes the annotated DSB2018
nuclei image shipped by ``stardist`` (``pip install 'sklearn_denoiseg[demo]'``),
adds Gaussian noise, cuts the left three quarters into 128x128 training crops
of which only a few keep their labels, and the right quarter into test crops.
It trains DenoiSeg (alpha=0.5) and the Baseline (alpha=0) on the same CPU-sized
budget, prints AP, SEG and PSNR on the test crops, and saves a figure.
"""

import argparse
import time

import numpy as np

from ._estimator import DenoiSegEstimator
from .datasets import add_gaussian_noise, crop_grid, keep_annotated, load_nuclei
from .metrics import average_precision, psnr, seg_score
from .presets import preset

DEMO_PARAMS = preset("cpu")
"""The demo's budget: the "cpu" preset (:mod:`sklearn_denoiseg.presets`)."""


def nuclei_split(*, sigma=20.0, n_annotated=3, crop=128, test_columns=128, random_state=0):
    """Noisy training and test crops of the nuclei image.

    Parameters
    ----------
    sigma : float, default=20.0
        Standard deviation of the added Gaussian noise (image range 0-235).
    n_annotated : int, default=3
        Training crops that keep their labels; the others are unannotated.
    crop : int, default=128
        Side of the crops.
    test_columns : int, default=128
        Width of the right-hand strip kept for testing.
    random_state : int, default=0

    Returns
    -------
    dict
        ``X_train``, ``y_train`` (few annotated), ``X_test``, ``y_test``,
        ``clean_test`` (the image before noise), arrays of crops.
    """
    rng = np.random.RandomState(random_state)
    clean, labels = load_nuclei()
    noisy = add_gaussian_noise(clean, sigma, rng)
    split = clean.shape[1] - test_columns
    return {
        "X_train": crop_grid(noisy[:, :split], crop),
        "y_train": keep_annotated(crop_grid(labels[:, :split], crop), n_annotated, rng),
        "X_test": crop_grid(noisy[:, split:], crop),
        "y_test": crop_grid(labels[:, split:], crop),
        "clean_test": crop_grid(clean[:, split:], crop),
    }


def mean_psnr(clean_images, images):
    """Mean PSNR (dB) of ``images`` against ``clean_images``, pair by pair;
    ``inf`` for an image equal to its clean version."""
    with np.errstate(divide="ignore"):
        return float(np.mean([psnr(c, x) for c, x in zip(clean_images, images)]))


def evaluate(estimator, data, denoises=True):
    """AP, SEG and PSNR of a fitted model on the test crops.

    Parameters
    ----------
    estimator : fitted estimator or pipeline
        Its ``predict`` returns instance labels; with ``denoises=True`` its
        ``transform`` returns denoised images.
    data : dict
        As returned by :func:`nuclei_split`.
    denoises : bool, default=True
        Whether to score ``transform`` by PSNR; NaN otherwise.

    Returns
    -------
    dict
        ``AP``, ``SEG`` and ``PSNR`` (mean over the test crops).
    """
    labels = estimator.predict(data["X_test"])
    return {
        "AP": average_precision(list(data["y_test"]), list(labels)),
        "SEG": seg_score(list(data["y_test"]), list(labels)),
        "PSNR": (mean_psnr(data["clean_test"], estimator.transform(data["X_test"]))
                 if denoises else np.nan),
    }


def _save_figure(path, data, denoiseg, baseline):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    index = 0
    panels = [
        ("noisy input", data["X_test"][index], "gray"),
        ("DenoiSeg denoised", denoiseg.transform(data["X_test"][index : index + 1])[0], "gray"),
        ("DenoiSeg labels", denoiseg.predict(data["X_test"][index : index + 1])[0], "nipy_spectral"),
        ("Baseline labels", baseline.predict(data["X_test"][index : index + 1])[0], "nipy_spectral"),
        ("ground truth", data["y_test"][index], "nipy_spectral"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3.3))
    for ax, (title, image, cmap) in zip(axes, panels):
        ax.imshow(image, cmap=cmap, interpolation="nearest")
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_denoiseg.demo",
        description="Train DenoiSeg and the Baseline on noisy real nuclei and compare them.",
    )
    parser.add_argument("--sigma", type=float, default=20.0, help="added noise (default 20)")
    parser.add_argument("--annotated", type=int, default=3,
                        help="annotated training crops out of 12 (default 3)")
    parser.add_argument("--epochs", type=int, default=DEMO_PARAMS["max_epochs"],
                        help=f"training epochs (default {DEMO_PARAMS['max_epochs']})")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--figure", default="denoiseg_demo.png",
                        help="where to save the figure (default denoiseg_demo.png)")
    args = parser.parse_args(argv)

    data = nuclei_split(sigma=args.sigma, n_annotated=args.annotated, random_state=args.seed)
    n_train = len(data["X_train"])
    print(f"nuclei image, noise sigma {args.sigma:g}: {n_train} training crops "
          f"({args.annotated} annotated), {len(data['X_test'])} test crops of 128x128")
    params = {**DEMO_PARAMS, "max_epochs": args.epochs, "random_state": args.seed}
    results, models = {}, {}
    for name, alpha in (("DenoiSeg (alpha=0.5)", 0.5), ("Baseline (alpha=0)", 0.0)):
        print(f"\ntraining {name}")
        start = time.perf_counter()
        models[name] = DenoiSegEstimator(alpha=alpha, **params).fit(
            data["X_train"], data["y_train"]
        )
        results[name] = {**evaluate(models[name], data), "time": time.perf_counter() - start}

    noisy_psnr = mean_psnr(data["clean_test"], data["X_test"])
    print(f"\n{'method':<22}{'AP':>7}{'SEG':>7}{'PSNR':>8}{'fit [s]':>9}")
    print(f"{'noisy input':<22}{'':>7}{'':>7}{noisy_psnr:>8.2f}{'':>9}")
    for name, r in results.items():
        print(f"{name:<22}{r['AP']:>7.3f}{r['SEG']:>7.3f}{r['PSNR']:>8.2f}{r['time']:>9.0f}")
    names = list(models)
    _save_figure(args.figure, data, models[names[0]], models[names[1]])
    print(f"\nfigure saved to {args.figure}")
    return results


if __name__ == "__main__":
    main()
