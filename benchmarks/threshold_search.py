"""Time of the automatic threshold search and of the metrics.

Runs the search of ``threshold="auto"`` on 50 validation images of 512x512
with about 100 nuclei-sized objects each, from foreground probabilities that
resemble a network's (blurred, noisy versions of the true masks).

    python benchmarks/threshold_search.py [--images 50] [--repeats 3]
"""

import argparse

import numpy as np
from scipy import ndimage

from _common import machine, median_time, table
from sklearn_denoiseg._instances import search_threshold
from sklearn_denoiseg.datasets import make_blobs
from sklearn_denoiseg.metrics import average_precision, seg_score


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    _, labels = make_blobs(n_images=args.images, shape=(512, 512), n_blobs=100,
                           radius=(6, 12), random_state=0)
    rng = np.random.default_rng(0)
    foregrounds = [
        np.clip(ndimage.gaussian_filter((lab > 0).astype(np.float32), 2)
                + rng.normal(0, 0.1, lab.shape), 0, 1).astype(np.float32)
        for lab in labels
    ]
    predictions = [ndimage.label(fg > 0.5)[0] for fg in foregrounds]
    print(machine())
    rows = []
    seconds, (threshold, scores) = median_time(
        lambda: search_threshold(foregrounds, list(labels)), args.repeats)
    rows.append([f"threshold search, {args.images} images 512x512",
                 f"{seconds:.2f} s", f"{len(scores)} thresholds, best {threshold:.2f}"])
    for name, metric in (("average_precision", average_precision), ("seg_score", seg_score)):
        seconds, value = median_time(lambda: metric(list(labels), predictions), args.repeats)
        rows.append([f"{name}, {args.images} images 512x512", f"{seconds:.3f} s",
                     f"score {value:.3f}"])
    print(table(["what", "median time", "result"], rows))


if __name__ == "__main__":
    main()
