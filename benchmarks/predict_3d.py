"""Prediction of 3D stacks: throughput per window shape, and the peak memory
of a stack far larger than one window.

A 3D U-Net (32 filters, random weights: speed and memory do not depend on
the weights) predicts the foreground probability of a uint16 stack and
labels it, as ``DenoiSegEstimator(axes="ZYX").predict`` does, through
``DenoiSegPredictor.segment``. Every measurement runs in a fresh process, so
that its peak resident memory is its own.

- Throughput (MV/s: million input voxels per second, median of repeats) for
  several ``tile_size`` values on a stack that needs tiling in Y and X; the
  margins a tile keeps around its core cost the difference.
- Peak memory of one large stack (default 64x2048x2048, 268 M voxels) with
  the default ``tile_size``: what stays in memory is the stack, its
  normalised copy, the stitched foreground and the labels, plus the working
  set of one window.

    python benchmarks/predict_3d.py [--stack 32 512 512] [--depth 2] [--repeats 3]
    python benchmarks/predict_3d.py --large 64 2048 2048 --precisions bf16
"""

import argparse
import json
import subprocess
import sys
import time

import numpy as np

RUN_ONE = "--run-one"


def run_one(settings):
    """Predict one stack in this process; print time and peak RSS as JSON."""
    import torch

    from _common import peak_rss_mb
    from sklearn_denoiseg import DenoiSegPredictor
    from sklearn_denoiseg._tiling import tile_shape
    from sklearn_denoiseg._unet import UNet

    torch.manual_seed(0)
    tile = None if settings["tile"] is None else tuple(settings["tile"])
    predictor = DenoiSegPredictor(UNet(depth=settings["depth"], n_dims=3), mean=200.0,
                                  std=30.0, axes="ZYX", tile_size=tile, device="cpu",
                                  precision=settings["precision"])
    stack = np.random.default_rng(0).normal(200, 30, settings["stack"]).astype(np.uint16)
    before = peak_rss_mb()
    if settings["repeats"] > 1:
        predictor.segment([stack], 0.5)              # warm-up: oneDNN builds its kernels
    times = []
    for _ in range(settings["repeats"]):
        start = time.perf_counter()
        [labels] = predictor.segment([stack], 0.5)
        times.append(time.perf_counter() - start)
    print(json.dumps({
        "seconds": float(np.median(times)), "peak_mb": peak_rss_mb(), "before_mb": before,
        "window": tile_shape(tile, settings["depth"], 3), "labels": list(labels.shape),
    }))


def measure(settings):
    """Run :func:`run_one` in a fresh process."""
    out = subprocess.run([sys.executable, __file__, RUN_ONE, json.dumps(settings)],
                         stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def parse_tile(text):
    return None if text == "default" else [int(side) for side in text.split("x")]


def main():
    from _common import machine, table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", type=int, nargs=3, default=[32, 512, 512])
    parser.add_argument("--tiles", nargs="+", default=["64x128x128", "default", "64x512x512"],
                        help="tile_size values, ZxYxX or 'default'")
    parser.add_argument("--large", type=int, nargs=3, default=None,
                        help="also predict one stack of this shape with the default tile_size")
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(machine())
    rows = []
    voxels = int(np.prod(args.stack))
    for precision in args.precisions:
        for tile in args.tiles:
            result = measure({"stack": args.stack, "tile": parse_tile(tile), "depth": args.depth,
                              "precision": precision, "repeats": args.repeats})
            rows.append(["x".join(map(str, args.stack)), precision,
                         "x".join(map(str, result["window"])) + (" (default)" * (tile == "default")),
                         f"{voxels / result['seconds'] / 1e6:.2f}",
                         f"{result['peak_mb'] / 1024:.2f}"])
            print(rows[-1], flush=True)
        if args.large:
            result = measure({"stack": args.large, "tile": None, "depth": args.depth,
                              "precision": precision, "repeats": 1})
            rows.append(["x".join(map(str, args.large)), precision,
                         "x".join(map(str, result["window"])) + " (default)",
                         f"{np.prod(args.large) / result['seconds'] / 1e6:.2f}",
                         f"{result['peak_mb'] / 1024:.2f}"])
            print(rows[-1], flush=True)
    print(f"\n3D U-Net depth {args.depth}, 32 filters, predict (labels) of a uint16 stack\n")
    print(table(["stack", "precision", "window", "MV/s", "peak RSS (GB)"], rows))


if __name__ == "__main__":
    if sys.argv[1:2] == [RUN_ONE]:
        run_one(json.loads(sys.argv[2]))
    else:
        main()
