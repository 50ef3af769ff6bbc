"""Peak memory of fit on many large images.

Trains on 200 images of 512x512 (float32 images and int32 labels, a fifth of
them annotated) for a few steps in a child process, and compares the peak
resident memory with the size of the input data.

    python benchmarks/fit_memory.py [--images 200] [--side 512]
"""

import argparse
import json
import subprocess
import sys

import numpy as np

from _common import machine, peak_rss_mb, table


def child(n_images, side):
    from sklearn_denoiseg import DenoiSegEstimator

    rng = np.random.default_rng(0)
    X = rng.normal(100, 20, size=(n_images, side, side)).astype(np.float32)
    y = np.zeros((n_images, side, side), dtype=np.int32)
    y[: n_images // 5, 100:140, 100:140] = 1
    baseline = peak_rss_mb()
    DenoiSegEstimator(batch_size=16, steps_per_epoch=10, max_epochs=2, random_state=0,
                      verbose=0).fit(X, y)
    print(json.dumps({"data_mb": (X.nbytes + y.nbytes) / 2**20,
                      "before_fit_mb": baseline, "peak_mb": peak_rss_mb()}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.images, args.side)
    print(machine())
    out = subprocess.run([sys.executable, __file__, "--child", "--images", str(args.images),
                          "--side", str(args.side)], check=True, capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    budget = 1.5 * (result["data_mb"] + 1024)
    print(table(
        ["input data", "RSS before fit", "peak RSS of fit", "budget 1.5 x (data + 1 GB)"],
        [[f"{result['data_mb']:.0f} MB", f"{result['before_fit_mb']:.0f} MB",
          f"{result['peak_mb']:.0f} MB", f"{budget:.0f} MB"]],
    ))


if __name__ == "__main__":
    main()
