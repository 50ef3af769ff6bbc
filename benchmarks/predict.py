"""Prediction speed and memory of DenoiSegEstimator.

Megapixels per second of ``predict_proba`` on a 1024x1024 image with the
paper's network, in float32 and bfloat16, and the peak memory of predicting
one very large image in tiles (run in a child process each, so that the peak
belongs to that prediction alone).

    python benchmarks/predict.py [--repeats 3] [--large 8192]
"""

import argparse
import json
import subprocess
import sys

import numpy as np

from _common import machine, median_time, peak_rss_mb, table
from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg.datasets import make_blobs


def fitted(precision):
    """The paper's network, briefly trained so that it holds real weights."""
    X, y = make_blobs(n_images=4, shape=(64, 64), random_state=0)
    return DenoiSegEstimator(batch_size=4, steps_per_epoch=1, max_epochs=1, threshold=0.5,
                             precision=precision, random_state=0, verbose=0).fit(X, y)


def large_image_child(side, precision):
    est = fitted(precision)
    image = np.random.default_rng(0).normal(size=(side, side)).astype(np.float32)
    before = peak_rss_mb()
    labels = est.predict([image])[0]
    print(json.dumps({"peak_mb": peak_rss_mb(), "before_mb": before,
                      "objects": int(labels.max())}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--large", type=int, default=8192)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return large_image_child(int(args.child[0]), args.child[1])

    print(machine())
    image = np.random.default_rng(0).normal(size=(1024, 1024)).astype(np.float32)
    rows = []
    for precision in ("fp32", "bf16"):
        est = fitted(precision)
        est.predict_proba([image])  # warm-up
        seconds, _ = median_time(lambda: est.predict_proba([image]), args.repeats)
        rows.append(["predict_proba 1024x1024", precision, f"{seconds:.2f} s",
                     f"{1.048576 / seconds:.2f} MP/s"])
        print(rows[-1], flush=True)
    for precision in ("fp32", "bf16"):
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(args.large), precision],
            check=True, capture_output=True, text=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append([f"predict {args.large}x{args.large} in tiles", precision,
                     f"peak RSS {result['peak_mb'] / 1024:.2f} GB",
                     f"(image {args.large**2 * 4 / 2**30:.2f} GB)"])
        print(rows[-1], flush=True)
    print()
    print(table(["what", "precision", "time / memory", "rate"], rows))


if __name__ == "__main__":
    main()
