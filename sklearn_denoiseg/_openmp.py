"""How long PyTorch's OpenMP threads spin before they sleep.

Between parallel regions, GNU OpenMP (libgomp, which the PyTorch wheels
bundle) lets idle threads spin for a while before they sleep. When another
program takes a core, the spinning threads of a training step wait for one
that is not running, and training slows down: beside one busy process on 2
cores, a step of the paper's network at batch 128 took 5.05 s with
libgomp's default spin count and 4.02 s with a spin count of 30,000, while
on a quiet machine both took 2.05 s (``benchmarks/runtime_tuning.py``).
``OMP_WAIT_POLICY=PASSIVE`` (no spinning) helps under load too, but costs
on a quiet machine at small batches.

libgomp reads its settings once, when it is loaded: this must run before
``import torch``. The package does it on import when torch is not loaded
yet and the user has set neither variable; otherwise set
``GOMP_SPINCOUNT=30000`` in the environment.
"""

import os
import sys

SPIN_COUNT = "30000"


def prefer_short_spin_waits():
    """Set ``GOMP_SPINCOUNT`` unless torch is loaded or the user chose.

    Returns
    -------
    bool
        Whether the setting was made.
    """
    if "torch" in sys.modules or {"GOMP_SPINCOUNT", "OMP_WAIT_POLICY"} & set(os.environ):
        return False
    os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
    return True
