"""Time the training steps of sklearn_denoiseg on the data written by
compare.py.

Run it with this package's environment::

    python benchmarks/original/run_ours.py --data data.npz --steps-per-epoch 12 \
        --epochs 1 --precision fp32

``DenoiSegEstimator`` with the paper's network (its defaults: depth 4, 32
filters, batch norm), 64x64 patches, batches of 128, ``fit(X, y, X_val=...,
y_val=...)`` on the same 128x128 crops as the original. Every call of
``DenoiSegNet.train_step`` is timed with perf_counter. The threshold search
that ends ``fit`` is skipped (the original's is not run either). Prints one
line ``RESULT {json}`` (see _timing.py).
"""

import contextlib
import os
import sys
import time

# sklearn_denoiseg before torch: it sets OpenMP's spin count before torch loads it
import sklearn_denoiseg  # noqa: I001
from sklearn_denoiseg import DenoiSegEstimator, _training
from sklearn_denoiseg._net import DenoiSegNet

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import report, worker_parser  # noqa: E402

STEPS = []


def _timed(train_step):
    def wrapper(self, *args, **kwargs):
        # skorch appends the epoch's history row before its training steps
        epoch = len(self.history)
        begin = time.perf_counter()
        result = train_step(self, *args, **kwargs)
        STEPS.append((epoch, begin, time.perf_counter()))
        return result

    return wrapper


def _skip_threshold_search(self, images, labels):
    self.threshold_, self.threshold_scores_ = 0.5, {}


def main():
    parser = worker_parser(__doc__.splitlines()[0])
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "auto"])
    parser.add_argument("--untuned", action="store_true",
                        help="leave glibc's allocator as it is during training")
    args = parser.parse_args()
    if args.untuned:
        _training.keep_freed_memory = contextlib.nullcontext

    data = np.load(args.data)
    X_train, Y_train = data["X_train"].astype(np.float32), data["Y_train"]
    X_val, Y_val = data["X_val"].astype(np.float32), data["Y_val"]

    DenoiSegNet.train_step = _timed(DenoiSegNet.train_step)
    DenoiSegEstimator._search_threshold = _skip_threshold_search
    estimator = DenoiSegEstimator(
        batch_size=args.batch_size, patch_size=64, max_epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch, precision=args.precision, verbose=0,
        random_state=args.seed,
    )
    start = time.perf_counter()
    estimator.fit(X_train, Y_train, X_val=X_val, y_val=Y_val)
    train_s = time.perf_counter() - start

    report(
        "sklearn_denoiseg", estimator.precision_, STEPS, args.batch_size,
        requested_precision=args.precision, train_s=train_s, epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch, n_training_crops=len(X_train),
        crop_shape=list(X_train.shape[1:3]),
        framework=f"sklearn_denoiseg {sklearn_denoiseg.__version__}, torch {torch.__version__}",
        threads={"torch": torch.get_num_threads()},
        gomp_spincount=os.environ.get("GOMP_SPINCOUNT"), untuned=args.untuned,
    )


if __name__ == "__main__":
    main()
