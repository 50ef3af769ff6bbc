"""Keep freed memory in the process during training (glibc).

A training step at batch 128 allocates and frees gigabytes of activations.
glibc serves blocks that large with ``mmap`` and gives them back to the
operating system when they are freed, so every step page-faults them in
again: on 2 cores a step of the paper's network took 2.4 s (6.6 s of 19 s
in the kernel) and 2.0 s with ``mmap`` off and trimming deferred (1.3 s in
the kernel), at 20% more peak memory (``benchmarks/README.md``). During
``fit`` the package switches glibc to that mode, then restores the defaults
and hands the memory back with ``malloc_trim``.

Nothing happens where the C library is not glibc, or when the user tunes
glibc's allocator through the environment.
"""

import contextlib
import ctypes
import os
import threading

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX = -1, -2, -4

TRAINING = {M_MMAP_MAX: 0, M_TRIM_THRESHOLD: 2**31 - 1, M_TOP_PAD: 256 * 2**20}
DEFAULTS = {M_MMAP_MAX: 65536, M_TRIM_THRESHOLD: 128 * 2**10, M_TOP_PAD: 128 * 2**10}
"""glibc's documented defaults (mallopt(3))."""

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
    the last one to leave restores glibc's defaults and trims the heap.
    """
    global _users
    libc = _glibc()
    if libc is None:
        yield
        return
    with _lock:
        if _users == 0:
            _set(libc, TRAINING)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                _set(libc, DEFAULTS)
                libc.malloc_trim(0)
