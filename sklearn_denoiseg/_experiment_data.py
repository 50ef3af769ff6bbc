"""The data of the few-shot experiment: one noise level and seed of a
dataset, as a training pool with full labels (the experiment keeps a few),
an optional annotated validation set, a test set and, where there is one,
the clean test images and a second test on real nuclei."""

import numpy as np

from .datasets import (
    DENOISEG_DATASETS,
    add_gaussian_noise,
    crop_grid,
    fetch_denoiseg,
    load_nuclei,
    make_nuclei,
)
from .demo import nuclei_split

SYNTHETIC = {"n_pool": 400, "n_val": 16, "n_test": 32, "shape": (128, 128), "photons": 1000.0,
             "background": 21.0, "contrast": 40.0}
"""The synthetic data set of the paper's regime: a pool of 400 images of
128x128 (the paper's 10 annotated of 3800 is 0.26%; 1 of 400 is 0.25%),
16 fully annotated validation images and 32 test images from
:func:`~sklearn_denoiseg.datasets.make_nuclei`. The images are drawn with
1000 photons at the brightest stain (little camera noise, like the
published DSB2018 images before noise was added), then scaled and shifted
so that the median background pixel is ``background`` = 21 and the median
nuclear pixel lies ``contrast`` = 40 above it, as in the real DSB2018 image
that ``stardist`` ships: the paper's added noise levels (sigma 10 and 20)
then make the nuclei as hard to see as they make the real ones, and a
network trained on these images sees the real image in the same intensity
range."""

DATASETS = ("nuclei", "synthetic", "DSB2018", "Flywing", "MouseNuclei")
"""``"nuclei"``: the 12 training crops of the one real annotated image
(:func:`~sklearn_denoiseg.demo.nuclei_split`); ``"synthetic"``: the pool of
:data:`SYNTHETIC`; the others: the published DenoiSeg data sets
(:func:`~sklearn_denoiseg.datasets.fetch_denoiseg`)."""


def published_noise(name):
    """The noise levels at which the published data set ``name`` exists."""
    return sorted(noise for dataset, noise in DENOISEG_DATASETS if dataset == name)


def _noise_rng(seed, sigma):
    return np.random.RandomState([seed, int(round(sigma * 1000))])


def synthetic_data(sigma, seed):
    """The synthetic pool, validation and test images of one seed, with
    Gaussian noise of standard deviation ``sigma`` added (its own camera
    noise stays), and the real nuclei image as a second test."""
    s = SYNTHETIC
    n = s["n_pool"] + s["n_val"] + s["n_test"]
    images, labels, clean = make_nuclei(n, s["shape"], photons=s["photons"], random_state=seed)
    median_background = np.median(clean[labels == 0])
    scale = s["contrast"] / (np.median(clean[labels > 0]) - median_background)
    offset = s["background"] - scale * median_background
    clean = scale * clean + offset
    rng = _noise_rng(seed, sigma)
    noisy = add_gaussian_noise(scale * images + offset, sigma, rng)
    pool, val = slice(0, s["n_pool"]), slice(s["n_pool"], s["n_pool"] + s["n_val"])
    test = slice(s["n_pool"] + s["n_val"], n)
    real_image, real_labels = load_nuclei()
    return {
        "X_train": noisy[pool], "y_train": labels[pool],
        "X_val": noisy[val], "y_val": labels[val],
        "X_test": noisy[test], "y_test": labels[test], "clean_test": clean[test],
        "X_real": crop_grid(add_gaussian_noise(real_image, sigma, rng), 128),
        "y_real": crop_grid(real_labels, 128),
    }


def nuclei_data(sigma, seed):
    """The 12 training and 4 test crops of the real nuclei image, all
    labels kept; no separate validation set."""
    data = nuclei_split(sigma=sigma, n_annotated=12, random_state=seed)
    return {**data, "X_val": None, "y_val": None}


def published_data(name, sigma, data_home=None):
    """A published DenoiSeg data set at noise level ``sigma`` (one of
    :func:`published_noise`): its training pool, validation and test sets;
    no clean images."""
    data = fetch_denoiseg(name, int(sigma), data_home=data_home)
    return {"X_train": data["X_train"], "y_train": data["Y_train"],
            "X_val": data["X_val"], "y_val": data["Y_val"],
            "X_test": data["X_test"], "y_test": data["Y_test"], "clean_test": None}


def load_experiment_data(dataset, sigma, seed, data_home=None):
    """One noise level and seed of ``dataset`` (one of :data:`DATASETS`).

    Returns
    -------
    dict
        ``X_train`` and ``y_train`` (the pool, every label kept),
        ``X_val``/``y_val`` (None where the data set has none), ``X_test``,
        ``y_test``, ``clean_test`` (None where unknown) and, for the
        synthetic data, ``X_real``/``y_real``.
    """
    if dataset == "synthetic":
        return synthetic_data(sigma, seed)
    if dataset == "nuclei":
        return nuclei_data(sigma, seed)
    if dataset in DATASETS:
        return published_data(dataset, sigma, data_home)
    raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {dataset!r}")


def pool_size(dataset, sigma, data_home=None):
    """Images in the training pool of ``dataset``; a published data set is
    read (at noise ``sigma``, so nothing else is downloaded), the others
    are known without making or loading images."""
    if dataset == "synthetic":
        return SYNTHETIC["n_pool"]
    if dataset == "nuclei":
        return len(nuclei_split(sigma=0, n_annotated=0)["X_train"])
    return len(published_data(dataset, sigma, data_home)["X_train"])
