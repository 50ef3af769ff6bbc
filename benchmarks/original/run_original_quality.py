"""Train the original DenoiSeg (TensorFlow, PyPI ``denoiseg`` 0.3.1) and
write its predictions, for the co-learning benchmark to score.

Run it with the original's virtual environment (setup.sh)::

    benchmarks/original/.venv-original/bin/python benchmarks/original/run_original_quality.py \\
        --data data.npz --out predictions.npz --alpha 0.5 --epochs 12 --steps-per-epoch 30

The data (an .npz with ``X_train``, ``Y_train``, ``X_val``, ``Y_val`` and
``X_test``) are prepared as in the original's example notebook
(``run_original.prepared``); training keeps the weights of the best
validation loss (the original's checkpoint). The output holds the
original's ``predict(..., softmax=True)`` of every validation and test
image: ``val`` and ``test``, arrays of shape (n, H, W, 4), the denoised image
and the background, foreground and border probabilities. Its own threshold
search is not run (it fails under the numba that installs with it); the
benchmark tunes the threshold on ``val`` with the same search as for this
package.
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_original import DenoiSeg, configured, prepared, seeded


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--steps-per-epoch", type=int, required=True)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--n-first", type=int, default=16)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    seeded(args.seed)
    data = np.load(args.data)
    X, Y, X_val, Y_val = prepared(data)
    config = configured(X, steps_per_epoch=args.steps_per_epoch, epochs=args.epochs,
                        batch_size=args.batch_size, n_first=args.n_first, depth=args.depth,
                        alpha=args.alpha, lr=args.lr)
    with tempfile.TemporaryDirectory() as basedir:
        model = DenoiSeg(config, "quality", basedir)
        start = time.perf_counter()
        model.train(X, Y, (X_val, Y_val))
        seconds = time.perf_counter() - start

        def predicted(images):
            return np.stack([model.predict(image.astype(np.float32), axes="YX", softmax=True)
                             for image in images])

        np.savez(args.out, val=predicted(data["X_val"]), test=predicted(data["X_test"]),
                 fit_seconds=seconds)


if __name__ == "__main__":
    main()
