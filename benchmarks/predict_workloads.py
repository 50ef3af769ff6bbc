"""Prediction time on real workloads: many small images, and one large image.

``predict`` on 64 images of 256x256 (like a test set of tiles or the DSB2018
test images) and on one 2048x2048 image, with the paper's network, median of
``--repeats`` runs after a warm-up. Also the size of a pickled fitted
estimator against its weights alone.

    python benchmarks/predict_workloads.py [--repeats 3] [--precision fp32]
"""

import argparse
import io
import pickle

import numpy as np
import torch

from _common import machine, median_time, table
from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg.datasets import make_blobs


def fitted(precision):
    """The paper's network, briefly trained so that it holds real weights."""
    X, y = make_blobs(n_images=4, shape=(64, 64), random_state=0)
    return DenoiSegEstimator(batch_size=4, steps_per_epoch=1, max_epochs=1, threshold=0.5,
                             precision=precision, random_state=0, verbose=0).fit(X, y)


def weights_bytes(estimator):
    """Bytes of the U-Net's state dict saved alone with torch.save."""
    module = (estimator.predictor_.module if hasattr(estimator, "predictor_")
              else estimator.net_.module_)
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.tell()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    args = parser.parse_args()
    print(machine())
    est = fitted(args.precision)
    rng = np.random.default_rng(0)
    workloads = {
        "64 images of 256x256": rng.normal(size=(64, 256, 256)).astype(np.float32),
        "1 image of 2048x2048": rng.normal(size=(1, 2048, 2048)).astype(np.float32),
    }
    rows = []
    for name, X in workloads.items():
        est.predict(X[:1])  # warm-up
        seconds, _ = median_time(lambda: est.predict(X), args.repeats)
        rows.append([f"predict, {name}", args.precision, f"{seconds:.2f} s",
                     f"{X.size / 1e6 / seconds:.2f} MP/s"])
        print(rows[-1], flush=True)
    pickled, weights = len(pickle.dumps(est)), weights_bytes(est)
    rows.append(["pickle of the fitted estimator", "", f"{pickled / 1e6:.1f} MB",
                 f"{pickled / weights:.2f}x the weights ({weights / 1e6:.1f} MB)"])
    print()
    print(table(["what", "precision", "time / size", "rate"], rows))


if __name__ == "__main__":
    main()
