"""Does co-learning pay off under the paper's protocol on real nuclei?

The paper's protocol: few annotated training images beside many raw ones, a
separate fully annotated validation set passed as ``fit(X, y, X_val, y_val)``
(it keeps the best epoch, drives the learning-rate schedule and tunes the
threshold) and separate annotated test images. The data are real:

- the DSB2018 nuclei image that ``stardist`` ships (512x512, annotated),
  Gaussian noise of standard deviation ``--sigma``, cut into 128x128 crops:
  the right column (4 crops) tests, 2 of the other 12 validate (chosen by
  the seed), the remaining 10 train under ``--draws`` independent noise
  draws, of which the first keeps the labels of ``--annotated`` crops;
- ``mahotas``'s ``nuclear.png``, a real unannotated fluorescence image of
  another microscope (1024x1344), rescaled so that its 1st and 99.5th
  percentiles match the DSB image's, with the same noise, as 80 more raw
  crops.

With the defaults one annotated crop is 0.8% of the training pixels. Every
variant gets the same data and seed, so differences are paired; the budget
is the ``cpu`` preset's (10 epochs of 35 steps of 32 patches of 64x64,
depth 4, 16 filters), times ``--budget``. Variants:

- ``Baseline``: ``alpha=0``;
- ``DenoiSeg``: ``alpha=0.5`` (the default), and ``DenoiSeg alpha=A`` for
  other weights (``--alphas``);
- ``Noise2Void``: ``alpha=1`` (the denoising reference), trained as half the
  budget and continued (``warm_start``) for the other half;
- ``N2V, then DenoiSeg``: that first half, continued with ``alpha=0.5``;
- ``N2V, then Baseline``: that first half, continued with ``alpha=0``;
- ``N2V, then DenoiSeg alpha=A``: continued with another alpha (``--variants``);
- ``original DenoiSeg``, ``original Baseline``: the original TensorFlow
  DenoiSeg (``original/setup.sh``) on the same data and budget, scored the
  same way (``--variants``).

One row per fit in a CSV (test AP and SEG at the threshold tuned on the
validation crops, PSNR of the denoised test crops, the kept epoch and the
validation loss terms there, fit time); a rerun skips what is there.

    python benchmarks/co_learning.py [--seeds 0 1 2] [--annotated 1] [--budget 1]
"""

import argparse
import copy
import functools
import math
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from _common import append_csv, machine, mean_se_text, read_csv, table

from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg._instances import foreground_to_instances, search_threshold
from sklearn_denoiseg._loss import DenoiSegLoss
from sklearn_denoiseg._normalization import normalize
from sklearn_denoiseg._patches import PatchSampler
from sklearn_denoiseg._targets import labels_to_classes
from sklearn_denoiseg._training import kept_epoch
from sklearn_denoiseg.datasets import add_gaussian_noise, crop_grid, load_nuclei
from sklearn_denoiseg.demo import mean_psnr
from sklearn_denoiseg.metrics import average_precision, seg_score
from sklearn_denoiseg.presets import preset

CROP = 128
BUDGET = {**preset("cpu"), "verbose": 0}
FIELDS = ["variant", "protocol", "budget", "n_annotated", "sigma", "seed", "AP", "SEG", "PSNR",
          "threshold", "kept_epoch", "valid_n2v_loss", "valid_seg_loss", "grad_seg_over_n2v",
          "fit_seconds"]
TEXT = ("variant", "protocol")
PRETRAINED = "N2V, then "
"""Prefix of the two-stage variants: Noise2Void for half the epochs first."""
TWO_STAGE = ("Noise2Void", "N2V, then DenoiSeg", "N2V, then Baseline")
ORIGINAL = {"original DenoiSeg": 0.5, "original Baseline": 0.0}
"""The original TensorFlow DenoiSeg (``original/setup.sh``), with its alpha."""
ORIGINAL_PYTHON = Path(__file__).parent / "original" / ".venv-original" / "bin" / "python"
AUGMENTATIONS = 8
"""The original augments every training crop 8-fold and ends an epoch when
one pass over the augmented crops is done."""


def nuclear_image():
    """``nuclear.png`` of mahotas as float32 grey values (its 3 channels are equal)."""
    try:
        import mahotas
    except ImportError as error:
        raise SystemExit("this benchmark reads nuclear.png of mahotas: pip install mahotas") from error
    from skimage.io import imread
    path = Path(mahotas.__file__).parent / "demos" / "data" / "nuclear.png"
    return imread(path)[..., 0].astype(np.float32)


def match_range(image, reference, low=1.0, high=99.5):
    """``image`` linearly mapped so that its ``low`` and ``high`` percentiles
    land on those of ``reference``."""
    a, b = np.percentile(image, [low, high])
    c, d = np.percentile(reference, [low, high])
    return ((image - a) * (d - c) / (b - a) + c).astype(np.float32)


@functools.cache
def real_protocol_data(sigma, seed, n_annotated, draws):
    """Training pool, separate validation crops and test crops (see above)."""
    rng = np.random.RandomState([seed, int(sigma * 1000), n_annotated])
    clean, labels = load_nuclei()
    left, right = slice(0, 3 * CROP), slice(3 * CROP, 4 * CROP)
    crops, crop_labels = crop_grid(clean[:, left], CROP), crop_grid(labels[:, left], CROP)
    order = rng.permutation(len(crops))
    val, train = order[:2], order[2:]
    train_raw = np.concatenate([add_gaussian_noise(crops[train], sigma, rng) for _ in range(draws)])
    train_labels = np.zeros_like(np.concatenate([crop_labels[train]] * draws))
    annotated = rng.choice(len(train), n_annotated, replace=False)
    train_labels[annotated] = crop_labels[train][annotated]
    extra = crop_grid(match_range(nuclear_image(), clean), CROP)
    X = np.concatenate([train_raw, add_gaussian_noise(extra, sigma, rng)])
    y = np.concatenate([train_labels, np.zeros(extra.shape, train_labels.dtype)])
    return {"X": X, "y": y,
            "X_val": add_gaussian_noise(crops[val], sigma, rng), "y_val": crop_labels[val],
            "X_test": add_gaussian_noise(crop_grid(clean[:, right], CROP), sigma, rng),
            "y_test": crop_grid(labels[:, right], CROP),
            "clean_test": crop_grid(clean[:, right], CROP)}


def _fit(model, data, protocol, **overrides):
    model.set_params(**overrides)
    if protocol == "separate":
        model.fit(data["X"], data["y"], X_val=data["X_val"], y_val=data["y_val"])
    else:
        model.fit(data["X"], data["y"])
    return model


@functools.cache
def n2v_half(data_key, protocol, budget, seed):
    """The first half of the two-stage variants: Noise2Void for half the epochs."""
    model = DenoiSegEstimator(**BUDGET, random_state=seed)
    start = time.perf_counter()
    _fit(model, real_protocol_data(*data_key), protocol, alpha=1.0,
         max_epochs=BUDGET["max_epochs"] * budget // 2)
    return model, time.perf_counter() - start


def alpha_of(method):
    """The alpha of "Baseline", "Noise2Void", "DenoiSeg" or "DenoiSeg alpha=A"."""
    return {"Baseline": 0.0, "Noise2Void": 1.0}.get(
        method, float(method.partition("alpha=")[2] or 0.5))


def second_stage(variant):
    """What a two-stage variant trains after the Noise2Void half, or None."""
    if variant == "Noise2Void":
        return variant
    return variant.removeprefix(PRETRAINED) if variant.startswith(PRETRAINED) else None


def train(variant, data_key, protocol, budget, seed):
    """Fit one variant; returns the model and the fit time in seconds
    (for the two-stage variants, both stages)."""
    data = real_protocol_data(*data_key)
    epochs = BUDGET["max_epochs"] * budget
    then = second_stage(variant)
    if then is not None:
        first, seconds = n2v_half(data_key, protocol, budget, seed)
        model = copy.deepcopy(first)
        start = time.perf_counter()
        _fit(model, data, protocol, alpha=alpha_of(then), warm_start=True,
             max_epochs=epochs - epochs // 2)
        return model, seconds + time.perf_counter() - start
    model = DenoiSegEstimator(**BUDGET, random_state=seed)
    start = time.perf_counter()
    _fit(model, data, protocol, alpha=alpha_of(variant), max_epochs=epochs)
    return model, time.perf_counter() - start


def gradient_ratio(model, data, n_batches=8, seed=0):
    """Norm of the segmentation term's gradient over the denoising term's
    (both unweighted, over all trained weights, training-mode batch
    statistics), mean over ``n_batches`` training batches drawn as ``fit``
    draws them: how much of Adam's step each term can claim."""
    module = copy.deepcopy(model.predictor_.module)
    images = [normalize(x[None], model.mean_, model.std_) for x in data["X"]]
    classes = [labels_to_classes(y) if y.any() else None for y in data["y"]]
    sampler = PatchSampler(images, classes, patch_size=64, batch_size=BUDGET["batch_size"],
                           label_fraction=model.label_fraction, perc_pix=model.n2v_perc_pix,
                           radius=model.n2v_radius)
    loss = DenoiSegLoss(class_weights=model.class_weights)
    rng = np.random.default_rng(seed)
    params = [p for p in module.parameters() if p.requires_grad]
    ratios = []
    module.train()  # a copy: the model's batch statistics stay as they are
    for _ in range(n_batches):
        x, target = sampler.sample(rng)
        terms = loss.terms(module(torch.as_tensor(x)),
                           {key: torch.as_tensor(value) for key, value in target.items()})
        norms = [torch.linalg.vector_norm(torch.cat([g.flatten() for g in torch.autograd.grad(
            term, params, retain_graph=True)])) for term in terms]
        ratios.append(float(norms[1] / norms[0]))
    return float(np.mean(ratios))


def original_predictions(variant, data_key, budget, seed):
    """Train the original on the same data and budget (same network, patch,
    batch and learning rate; as many steps, in epochs of one pass over its
    augmented crops) and return its validation and test outputs."""
    if not ORIGINAL_PYTHON.exists():
        raise SystemExit(f"{variant} needs the original's environment: bash benchmarks/original/setup.sh")
    data = real_protocol_data(*data_key)
    steps = min(BUDGET["steps_per_epoch"], AUGMENTATIONS * len(data["X"]) // BUDGET["batch_size"])
    epochs = math.ceil(BUDGET["max_epochs"] * budget * BUDGET["steps_per_epoch"] / steps)
    with tempfile.TemporaryDirectory() as folder:
        inputs, outputs = Path(folder) / "data.npz", Path(folder) / "predictions.npz"
        np.savez(inputs, X_train=data["X"], Y_train=data["y"], X_val=data["X_val"],
                 Y_val=data["y_val"], X_test=data["X_test"])
        subprocess.run([str(ORIGINAL_PYTHON), str(Path(__file__).parent / "original" /
                                                  "run_original_quality.py"),
                        "--data", str(inputs), "--out", str(outputs),
                        "--alpha", str(ORIGINAL[variant]), "--epochs", str(epochs),
                        "--steps-per-epoch", str(steps), "--batch-size", str(BUDGET["batch_size"]),
                        "--n-first", str(BUDGET["n_filters"]), "--depth",
                        str(BUDGET.get("depth", 4)), "--lr", str(BUDGET["lr"]),
                        "--seed", str(seed)], check=True, capture_output=True)
        with np.load(outputs) as predictions:
            return {key: predictions[key] for key in predictions.files}


def run_original(variant, data_key, budget, seed):
    """Score the original's predictions as this package's: the threshold
    tuned on the validation crops by the same search, the same instances."""
    data = real_protocol_data(*data_key)
    predicted = original_predictions(variant, data_key, budget, seed)
    foreground = 2  # denoised, background, foreground, border
    threshold, _ = search_threshold(list(predicted["val"][..., foreground]), list(data["y_val"]))
    labels = [foreground_to_instances(fg, threshold) for fg in predicted["test"][..., foreground]]
    return {"AP": average_precision(list(data["y_test"]), labels),
            "SEG": seg_score(list(data["y_test"]), labels),
            "PSNR": (mean_psnr(data["clean_test"], predicted["test"][..., 0])
                     if ORIGINAL[variant] > 0 else np.nan),
            "threshold": threshold, "fit_seconds": round(float(predicted["fit_seconds"]), 1)}


def run(variant, protocol, budget, n_annotated, sigma, seed, draws):
    data_key = (sigma, seed, n_annotated, draws)
    data = real_protocol_data(*data_key)
    setting = {"variant": variant, "protocol": protocol, "budget": budget,
               "n_annotated": n_annotated, "sigma": sigma, "seed": seed}
    if variant in ORIGINAL:
        if protocol != "separate":
            raise SystemExit("the original runs under the separate protocol only")
        return {**dict.fromkeys(FIELDS, np.nan), **setting,
                **run_original(variant, data_key, budget, seed)}
    model, seconds = train(variant, data_key, protocol, budget, seed)
    final_alpha = alpha_of(second_stage(variant) or variant)
    segments, denoises = final_alpha < 1, final_alpha > 0
    row = {**setting, "fit_seconds": round(seconds, 1), "threshold": model.threshold_ or np.nan,
           "AP": np.nan, "SEG": np.nan, "PSNR": np.nan, "grad_seg_over_n2v": np.nan}
    if segments:
        labels = list(model.predict(data["X_test"]))
        row["AP"] = average_precision(list(data["y_test"]), labels)
        row["SEG"] = seg_score(list(data["y_test"]), labels)
    if denoises:
        row["PSNR"] = mean_psnr(data["clean_test"], model.transform(data["X_test"]))
    if segments and denoises:
        row["grad_seg_over_n2v"] = gradient_ratio(model, data)
    history = model.history_
    epoch = kept_epoch(history)
    kept = history[epoch - 1] if epoch else history[-1]
    row["kept_epoch"] = epoch or len(history)
    for term in ("valid_n2v_loss", "valid_seg_loss"):
        row[term] = kept.get(term, np.nan)
    return row


def _read(path):
    return read_csv(path, text=TEXT)


def summary(rows):
    """Per setting and variant: mean ± s.e. of AP, SEG and PSNR, and the AP
    change against the Baseline of the same seed (the original's against
    the original's Baseline)."""
    lines = []
    settings = sorted({(r["protocol"], int(r["budget"]), int(r["n_annotated"]), r["sigma"])
                       for r in rows})
    for protocol, budget, k, sigma in settings:
        same = [r for r in rows if (r["protocol"], int(r["budget"]), int(r["n_annotated"]),
                                    r["sigma"]) == (protocol, budget, k, sigma)]
        for variant in dict.fromkeys(r["variant"] for r in same):
            runs = [r for r in same if r["variant"] == variant]
            # the original against its own Baseline
            reference = "original Baseline" if variant.startswith("original") else "Baseline"
            baseline = {r["seed"]: r["AP"] for r in same if r["variant"] == reference}
            gains = [r["AP"] - baseline[r["seed"]] for r in runs if r["seed"] in baseline]
            lines.append([protocol, f"{budget}x", k, f"{sigma:g}", variant,
                          mean_se_text([r["AP"] for r in runs]),
                          mean_se_text(gains) if variant != reference else "",
                          mean_se_text([r["SEG"] for r in runs]),
                          mean_se_text([r["PSNR"] for r in runs], 2),
                          mean_se_text([r["grad_seg_over_n2v"] for r in runs], 2),
                          mean_se_text([r["fit_seconds"] for r in runs], 0), len(runs)])
    return table(["protocol", "budget", "annotated", "sigma", "variant", "AP",
                  "AP - Baseline (paired)", "SEG", "PSNR [dB]",
                  "gradient seg / n2v", "fit [s]", "seeds"], lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--annotated", type=int, nargs="+", default=[1])
    parser.add_argument("--sigma", type=float, nargs="+", default=[20.0])
    parser.add_argument("--budget", type=int, nargs="+", default=[1],
                        help="multiples of the cpu preset's 10 epochs")
    parser.add_argument("--protocol", nargs="+", default=["separate"],
                        choices=["separate", "split"])
    parser.add_argument("--alphas", type=float, nargs="*", default=[0.2],
                        help="DenoiSeg weights to run beside 0.5")
    parser.add_argument("--variants", nargs="+", default=None,
                        help="run only these variants (names as in the table)")
    parser.add_argument("--draws", type=int, default=4,
                        help="noise draws of the 10 training crops")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "co_learning.csv")
    args = parser.parse_args(argv)
    print(machine(), flush=True)
    variants = args.variants or ["Baseline", "DenoiSeg",
                                 *(f"DenoiSeg alpha={a:g}" for a in args.alphas), *TWO_STAGE]
    done = {(r["variant"], r["protocol"], int(r["budget"]), int(r["n_annotated"]), r["sigma"],
             int(r["seed"])) for r in _read(args.out)}
    for sigma in args.sigma:
        for k in args.annotated:
            for budget in args.budget:
                for protocol in args.protocol:
                    for seed in args.seeds:
                        for variant in variants:
                            key = (variant, protocol, budget, k, sigma, seed)
                            if key in done:
                                continue
                            with warnings.catch_warnings():
                                warnings.simplefilter("ignore")
                                row = run(variant, protocol, budget, k, sigma, seed, args.draws)
                            append_csv(args.out, [row], FIELDS)
                            print(f"{protocol} {budget}x, {k} annotated, sigma {sigma:g}, seed "
                                  f"{seed}, {variant}: AP {row['AP']:.3f}, PSNR "
                                  f"{row['PSNR']:.2f} in {row['fit_seconds']:.0f} s", flush=True)
    print(summary(_read(args.out)))


if __name__ == "__main__":
    main()
