"""Which padding at the image border predicts border nuclei best?

A U-Net sees past the image border within its receptive field, so what is
put there decides the prediction within one halo (the context margin) of
the border. This script trains a depth-2 DenoiSeg model (the "cpu" preset
at depth 2, fp32) on the demo data (the noisy DSB2018 nuclei image shipped
by stardist, 3 annotated 128x128 crops) and predicts crops of the held-out
right-hand strip (128x128, 96x96 and 100x90, every 32 rows and a few
columns apart: each crop has its own border) under each rule:

- ``end``: reflect only at the end of each axis, up to a multiple of the
  grid ``2**depth`` (the network's zero padding acts at the start);
- ``reflect``, ``symmetric``, ``edge``, ``constant``: pad the end up to the
  grid, then every side by the halo, with numpy's mode of that name
  (``constant``: the training mean, and reflection up to the grid), as
  bioimage.io consumers pad.

Scores per rule, pooled over the crops: the average precision (IoU > 0.5,
``TP / (TP + FP + FN)``) of the nuclei within one halo of the crop border
(objects with a pixel there), the same for the nuclei inside, and the PSNR of
the denoised image within one halo of the border and inside (range of the
clean strip). One row per rule and seed in a CSV; a rerun skips the seeds
already there.

    python benchmarks/border_rule.py [--seeds 0 1 2 3 4] [--csv results/border_rule.csv]
"""

import argparse
import math
from pathlib import Path

import numpy as np

from _common import append_csv, machine, mean_se_text, read_csv, table
from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg._instances import foreground_to_instances
from sklearn_denoiseg._normalization import denormalize, normalize
from sklearn_denoiseg.demo import nuclei_split
from sklearn_denoiseg.metrics import _overlaps
from sklearn_denoiseg.presets import preset

RULES = ("end", "reflect", "symmetric", "edge", "constant")
CROPS = {(128, 128): (0,), (96, 96): (0, 32), (100, 90): (0, 19, 38)}
"""Crop shapes and their column offsets in the 128-pixel-wide test strip;
rows every 32 pixels."""
PARAMS = {**preset("cpu"), "depth": 2, "precision": "fp32", "verbose": 0}
FIELDS = ["rule", "seed", "AP_border", "AP_inside", "PSNR_border", "PSNR_inside",
          "n_border_nuclei", "pixels_per_pixel"]


def padded(image, rule, halo, grid):
    """A (C, *spatial) image padded by ``rule`` and the slices of the image in it."""
    # the grid padding is the rule's own mode, except for constant (no image
    # values at the end) and end (the former rule reflected)
    to_grid = rule if rule in ("symmetric", "edge") else "reflect"
    ends = [(0, 0)] + [(0, -side % grid) for side in image.shape[1:]]
    image_slices = tuple(slice(0, side) for side in image.shape[1:])
    image = np.pad(image, ends, mode=to_grid)
    if rule == "end":
        return image, image_slices
    pads = [(0, 0)] + [(halo, halo)] * (image.ndim - 1)
    # constant: 0, the training mean
    return (np.pad(image, pads, mode=rule),
            tuple(slice(s.start + halo, s.stop + halo) for s in image_slices))


def predict(estimator, image, rule):
    """Denoised image and foreground probability of a 2D image under ``rule``,
    and the number of pixels the network ran on."""
    predictor = estimator.predictor_
    normalised = normalize(image[np.newaxis], predictor.mean, predictor.std)
    network_input, crop = padded(normalised, rule, predictor.margin, 2**predictor.depth)
    out = predictor._forward(network_input[np.newaxis])[0][(slice(None), *crop)]
    layout = predictor.layout
    denoised = denormalize(out[layout.denoised], predictor.mean, predictor.std)[0]
    return denoised, out[layout.foreground], network_input[0].size


def near_border(labels, band):
    """Ids of the objects with a pixel in ``band``, and of the others."""
    ids = np.unique(labels[labels > 0])
    near = np.unique(labels[band & (labels > 0)])
    return near, np.setdiff1d(ids, near)


def counts(y_true, y_pred, band):
    """TP, FP and FN among the objects near the border and inside; pairs of
    matched objects are counted where the ground-truth object lies."""
    result = {}
    true_ids, pred_ids = np.unique(y_true), np.unique(y_pred)
    true_sizes, pred_sizes, (i_true, i_pred, inter) = _overlaps(y_true, y_pred)
    true_ids, pred_ids = true_ids[true_ids > 0], pred_ids[pred_ids > 0]
    union = true_sizes[i_true] + pred_sizes[i_pred] - inter
    matched = inter > 0.5 * union
    true_near, _ = near_border(y_true, band)
    pred_near, _ = near_border(y_pred, band)
    for where, true_in, pred_in in (
            ("border", np.isin(true_ids, true_near), np.isin(pred_ids, pred_near)),
            ("inside", ~np.isin(true_ids, true_near), ~np.isin(pred_ids, pred_near))):
        tp = int(np.count_nonzero(matched & true_in[i_true]))
        result[where] = np.array([tp, true_in.sum() - tp, pred_in.sum() - tp])
    return result


def evaluate(estimator, strip, labels, clean, rule):
    """Pooled AP and PSNR near the border and inside, over all crops."""
    halo = estimator.predictor_.margin
    data_range = float(clean.max() - clean.min())
    tally = {"border": np.zeros(3, int), "inside": np.zeros(3, int)}
    squared = {"border": [0.0, 0], "inside": [0.0, 0]}
    pixels = network_pixels = 0
    for (height, width), columns in CROPS.items():
        for top in range(0, strip.shape[0] - height + 1, 32):
            for left in columns:
                window = np.s_[top:top + height, left:left + width]
                denoised, foreground, ran = predict(estimator, strip[window], rule)
                pred = foreground_to_instances(foreground, estimator.threshold_)
                band = np.ones((height, width), bool)
                band[halo:-halo, halo:-halo] = False
                for where, count in counts(labels[window], pred, band).items():
                    tally[where] += count
                error = (denoised - clean[window]) ** 2
                for where, mask in (("border", band), ("inside", ~band)):
                    squared[where][0] += float(error[mask].sum())
                    squared[where][1] += int(mask.sum())
                pixels += height * width
                network_pixels += ran
    row = {"n_border_nuclei": int(tally["border"][0] + tally["border"][1]),
           "pixels_per_pixel": network_pixels / pixels}
    for where in ("border", "inside"):
        tp, fn, fp = tally[where]
        row[f"AP_{where}"] = tp / (tp + fp + fn)
        total, n = squared[where]
        row[f"PSNR_{where}"] = 20 * math.log10(data_range) - 10 * math.log10(total / n)
    return row


def run(seed, rules):
    data = nuclei_split(sigma=20, n_annotated=3, random_state=seed)
    estimator = DenoiSegEstimator(**PARAMS, random_state=seed)
    estimator.fit(data["X_train"], data["y_train"])
    # the test crops are the rows of the right-hand strip, top to bottom
    strip, labels, clean = (np.concatenate(list(data[key]), axis=0)
                            for key in ("X_test", "y_test", "clean_test"))
    return [{"rule": rule, "seed": seed, **evaluate(estimator, strip, labels, clean, rule)}
            for rule in rules]


def summary(rows):
    """Mean ± standard error per rule, and the paired change against ``end``."""
    by_key = {(r["rule"], int(r["seed"])): r for r in rows}
    lines = []
    for rule in RULES:
        seeds = sorted(seed for name, seed in by_key if name == rule)
        if not seeds:
            continue
        cells = [rule, len(seeds)]
        for metric in ("AP_border", "AP_inside", "PSNR_border", "PSNR_inside"):
            cells.append(mean_se_text([by_key[rule, s][metric] for s in seeds]))
            if metric.endswith("border"):
                cells.append(mean_se_text([by_key[rule, s][metric] - by_key["end", s][metric]
                                           for s in seeds if ("end", s) in by_key]))
        cells.append(f"{by_key[rule, seeds[0]]['pixels_per_pixel']:.2f}")
        lines.append(cells)
    return table(["rule", "seeds", "AP border", "change", "AP inside", "PSNR border [dB]",
                  "change", "PSNR inside [dB]", "network pixels per pixel"], lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--rules", nargs="+", default=list(RULES), choices=RULES)
    parser.add_argument("--csv", type=Path, default=Path("results/border_rule.csv"))
    args = parser.parse_args()
    print(machine())
    rows = read_csv(args.csv, text=("rule",))
    done = {int(r["seed"]) for r in rows}
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        if seed in done:
            continue
        new = run(seed, args.rules)
        append_csv(args.csv, new, FIELDS)
        rows += new
        for row in new:
            print(f"seed {seed} {row['rule']:9}: AP border {row['AP_border']:.3f} inside "
                  f"{row['AP_inside']:.3f}, PSNR border {row['PSNR_border']:.2f} inside "
                  f"{row['PSNR_inside']:.2f}", flush=True)
    print(summary(rows))


if __name__ == "__main__":
    main()
