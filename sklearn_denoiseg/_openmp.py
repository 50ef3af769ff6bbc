"""How long PyTorch's OpenMP threads spin before they sleep.

Between parallel regions, GNU OpenMP (libgomp, which the PyTorch wheels
bundle) lets idle threads spin for a while before they sleep. When another
program takes a core, the spinning threads of a training step wait for one
that is not running, and training slows down: with one busy process beside
training on 2 cores, a step of the paper's network at batch 128 took 4.9 s
instead of 2.0 s with the default spin count, and 3.9 s with a spin count
of 30,000 (``OMP_WAIT_POLICY=PASSIVE``: 3.7 s, but 15% slower at batch 16
on a quiet machine, where 30,000 costs nothing; ``benchmarks/README.md``).

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
