"""Keep freed memory in the process while the network runs (glibc).

A training step at batch 128, or the prediction of a 1024x1024 tile,
allocates and frees gigabytes of activations. glibc serves blocks that large
with ``mmap`` and gives them back to the operating system when they are
freed, so every step page-faults them in again: on 2 cores a training step
of the paper's network took 2.68 s (9.4 s of kernel time over 8 steps) and
2.05 s with ``mmap`` off and trimming deferred (2.8 s), at 30% more peak
memory (2.6 against 2.0 GB); predicting a 2048x2048 image in bf16 took
4.45 s before and 2.51 s with it (``benchmarks/runtime_tuning.py`` and
``benchmarks/predict_workloads.py``). During ``fit`` and prediction the
package switches glibc to that mode, then hands the memory back with
``malloc_trim``.

Nothing happens where the C library is not glibc, or when the user tunes
glibc's allocator through the environment.
"""

import contextlib
import ctypes
import os
import threading

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX = -1, -2, -4

M_MMAP_THRESHOLD = -3

KEEP = {M_MMAP_MAX: 0, M_TRIM_THRESHOLD: 2**31 - 1, M_TOP_PAD: 256 * 2**20}
AFTER = {M_MMAP_MAX: 65536, M_MMAP_THRESHOLD: 32 * 2**20, M_TRIM_THRESHOLD: 64 * 2**20,
         M_TOP_PAD: 128 * 2**10}
"""What glibc's own settings become once large blocks have been freed
(mallopt(3): the dynamic mmap threshold rises to at most 32 MiB, the trim
threshold to twice that). Setting any option turns that adjustment off for
good, so these values are set instead; glibc's initial defaults would map
and unmap every block above 128 KiB from then on (a 2048x2048 prediction
then took 4.8 s instead of 3.5 s)."""

_lock = threading.Lock()
_users = 0


def _startup_environment():
    """The environment this process started with, which is what glibc read
    (libraries such as Dask add ``MALLOC_*`` variables later, for child
    processes)."""
    try:
        with open("/proc/self/environ", "rb") as handle:
            entries = handle.read().split(b"\0")
    except OSError:
        return dict(os.environ)
    pairs = (entry.decode(errors="replace").partition("=") for entry in entries if entry)
    return {name: value for name, _, value in pairs}


def _glibc():
    """The glibc of this process, or None (other C library, user's tuning)."""
    environment = _startup_environment()
    if any(name.startswith("MALLOC_") for name in environment) or "malloc" in environment.get(
            "GLIBC_TUNABLES", ""):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 (only glibc has it)
        libc.mallopt, libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def _set(libc, settings):
    for option, value in settings.items():
        libc.mallopt(option, value)


@contextlib.contextmanager
def keep_freed_memory():
    """Within the block, glibc keeps freed memory for the next allocation.

    Nested and concurrent uses (fits in several threads) share the mode;
    the last one to leave sets :data:`AFTER` and trims the heap.
    """
    global _users
    libc = _glibc()
    if libc is None:
        yield
        return
    with _lock:
        if _users == 0:
            _set(libc, KEEP)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                _set(libc, AFTER)
                libc.malloc_trim(0)
