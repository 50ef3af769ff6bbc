"""What the package tunes in the process for speed: OpenMP spin waits and
glibc's allocator during training."""

import os
import subprocess
import sys

import pytest

from sklearn_denoiseg import _allocator


def fresh_python_output(code, without, **env):
    """What ``code`` prints in a new interpreter whose environment lacks the
    variables named ``without`` (or starting with those names), plus ``env``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(without)}
    result = subprocess.run([sys.executable, "-c", code], env={**environment, **env},
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def spin_count_after(code, **env):
    output = fresh_python_output(code + "; import os; print(os.environ.get('GOMP_SPINCOUNT'))",
                                 ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY"), **env)
    return output.strip().splitlines()[-1]


def test_spin_count_is_set_before_torch_loads():
    assert spin_count_after("import sklearn_denoiseg") == "30000"
    # too late once torch (and its OpenMP) is loaded, and the user's choice wins
    assert spin_count_after("import torch, sklearn_denoiseg") == "None"
    assert spin_count_after("import sklearn_denoiseg", OMP_WAIT_POLICY="PASSIVE") == "None"
    assert spin_count_after("import sklearn_denoiseg", GOMP_SPINCOUNT="5") == "5"


MMAPPED_BYTES = """
import ctypes
import numpy as np
from sklearn_denoiseg import _allocator


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2


def mmapped_bytes_while_holding(size):
    before = libc.mallinfo2().hblkhd
    block = np.ones(size, dtype=np.uint8)  # held during the reading
    return libc.mallinfo2().hblkhd - before


size = 200 * 2**20
outside = mmapped_bytes_while_holding(size)
with _allocator.keep_freed_memory():
    inside = mmapped_bytes_while_holding(size)
    with _allocator.keep_freed_memory():  # nested: still on
        nested = mmapped_bytes_while_holding(size)
after = mmapped_bytes_while_holding(size)
print(size, outside, inside, nested, after)
"""


@pytest.mark.skipif(_allocator._glibc() is None, reason="needs glibc")
def test_large_blocks_stay_in_the_heap_during_training_only():
    # In a fresh process: in this one, earlier fits may leave a freed hole in
    # the heap that glibc rightly reuses for the next large block. Without the
    # MALLOC_* variables that libraries such as Dask set for child processes,
    # which would read as the user's own tuning.
    output = fresh_python_output(MMAPPED_BYTES, "MALLOC_")
    size, outside, inside, nested, after = map(int, output.split())
    assert outside >= size and after >= size        # glibc maps big blocks by default
    assert inside < size and nested < size          # not while training
