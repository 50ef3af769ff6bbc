"""Time the training steps of the original DenoiSeg (TensorFlow, PyPI
``denoiseg`` 0.3.1) on the data written by compare.py.

Run it with the original's virtual environment (setup.sh), not this
package's::

    benchmarks/original/.venv-original/bin/python benchmarks/original/run_original.py \
        --data data.npz --steps-per-epoch 12 --epochs 1

Data preparation as in the original's DSB2018 example notebook: the 128x128
training crops are augmented 8-fold (4 rotations x flip) with
``denoiseg.utils.misc_utils.augment_data``, labels one-hot encoded with
``denoiseg.utils.seg_utils.convert_to_oneHot``, and the original's
``DenoiSeg_DataWrapper`` cuts one random 64x64 patch from each of
``train_batch_size`` crops per step (``n2v_patch_shape`` is (64, 64)).
Only ``model.train`` runs: no threshold search (it crashes under new numba)
and no prediction. Prints one line ``RESULT {json}`` (see _timing.py).
"""

import os
import random
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # keep TensorFlow's INFO lines out

import numpy as np
import tifffile

# denoiseg 0.3.1 does "from tifffile import imsave", removed from tifffile
if not hasattr(tifffile, "imsave"):
    tifffile.imsave = tifffile.imwrite

import tensorflow as tf  # noqa: E402
import denoiseg  # noqa: E402
from denoiseg.models import DenoiSeg, DenoiSegConfig  # noqa: E402
from denoiseg.utils.misc_utils import augment_data  # noqa: E402
from denoiseg.utils.seg_utils import convert_to_oneHot  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import report, worker_parser  # noqa: E402


class StepTimer(tf.keras.callbacks.Callback):
    """Record (epoch, begin, end) of every training step with perf_counter."""

    def __init__(self):
        super().__init__()
        self.steps, self.epoch, self.begin = [], 0, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.begin = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append((self.epoch, self.begin, time.perf_counter()))


def prepared(data):
    """The example notebook's preparation of an .npz with ``X_train``,
    ``Y_train``, ``X_val``, ``Y_val``: 8-fold augmentation of the training
    crops, one-hot labels (all-zero for unannotated crops, which then carry
    no segmentation loss), a channel axis."""
    X_train, Y_train = data["X_train"].astype(np.float32), data["Y_train"]
    X_val, Y_val = data["X_val"].astype(np.float32), data["Y_val"]
    # augment_data takes one array and its axes in 0.3.1 (older notebooks:
    # augment_data(X, Y)), same order
    X = augment_data(X_train, "SYX")[..., np.newaxis]
    Y = convert_to_oneHot(augment_data(Y_train, "SYX"))
    return X, Y, X_val[..., np.newaxis], convert_to_oneHot(Y_val)


def configured(X, *, steps_per_epoch, epochs, batch_size, n_first=32, depth=4, alpha=0.5,
               lr=None):
    """``DenoiSegConfig`` as in the example notebook (None: the original's default)."""
    batches = len(X) // batch_size
    if steps_per_epoch > batches:
        raise SystemExit(
            f"{len(X)} augmented training crops make only {batches} batches of "
            f"{batch_size} per epoch, fewer than --steps-per-epoch "
            f"{steps_per_epoch}: Keras stops when the original's data runs out")
    extra = {} if lr is None else {"train_learning_rate": lr}
    return DenoiSegConfig(
        X, unet_kern_size=3, n_channel_out=4, relative_weights=[1.0, 1.0, 5.0],
        train_steps_per_epoch=steps_per_epoch, train_epochs=epochs,
        batch_norm=True, train_batch_size=batch_size, unet_n_first=n_first,
        unet_n_depth=depth, denoiseg_alpha=alpha, train_tensorboard=False,
        n_channel_in=X.shape[-1], **extra,
    )


def seeded(seed):
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)


def main():
    parser = worker_parser(__doc__.splitlines()[0])
    args = parser.parse_args()

    seeded(args.seed)
    X, Y, X_val, Y_val = prepared(np.load(args.data))
    config = configured(X, steps_per_epoch=args.steps_per_epoch, epochs=args.epochs,
                        batch_size=args.batch_size)
    with tempfile.TemporaryDirectory() as basedir:
        # a base directory as in the notebooks: the original saves its config
        # and, after every epoch, its weights (ModelCheckpoint), as a user's run does
        model = DenoiSeg(config, "benchmark", basedir)
        model.prepare_for_training()
        timer = StepTimer()
        model.callbacks.append(timer)
        start = time.perf_counter()
        model.train(X, Y, (X_val, Y_val))
        train_s = time.perf_counter() - start

    report(
        f"original denoiseg {denoiseg.__version__} (TF, fp32)", "fp32", timer.steps,
        args.batch_size,
        train_s=train_s, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
        n_training_crops=len(X), crop_shape=list(X.shape[1:3]),
        framework=f"tensorflow {tf.__version__}",
        threads={"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                 "inter_op": tf.config.threading.get_inter_op_parallelism_threads()},
    )


if __name__ == "__main__":
    main()
