"""Which torch device and arithmetic to use, and what the processor can do fast.

Every "auto" device or precision of the package is resolved here.
"""

import functools
import warnings
from pathlib import Path

import torch

from .exceptions import DeviceFallbackWarning

PRECISIONS = ("auto", "bf16", "fp32")


@functools.cache
def cpu_has_native_bf16():
    """Whether the CPU has bfloat16 instructions (AVX512-BF16 or AMX-BF16).

    Read from ``/proc/cpuinfo``; False where that file does not exist.
    """
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return False
    flags = set()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def resolve_device(device, *, fallback=None):
    """The torch device to use for ``device`` ("auto", "cpu", "cuda[:i]").

    Parameters
    ----------
    device : str
    fallback : str or None, default=None
        With a fallback, a CUDA device that is not available is replaced by
        ``fallback`` with a :class:`DeviceFallbackWarning` instead of an error
        (for models trained elsewhere).

    Returns
    -------
    str
    """
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(device, str):
        raise TypeError(f"device must be 'auto', 'cpu' or 'cuda'; got {device!r}")
    try:
        parsed = torch.device(device)
    except RuntimeError as error:
        raise ValueError(
            f"device must be 'auto', 'cpu' or 'cuda[:index]'; got {device!r}"
        ) from error
    if parsed.type == "cuda" and not torch.cuda.is_available():
        if fallback is not None:
            warnings.warn(f"device={device!r} is not available here; using {fallback!r}",
                          DeviceFallbackWarning, stacklevel=3)
            return fallback
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available; "
            "use device='auto' or 'cpu'"
        )
    return device


def resolve_precision(precision, device, n_dims=2):
    """"bf16" or "fp32" for the requested ``precision`` on ``device``.

    "auto" picks bfloat16 autocast on CUDA devices, and on CPUs with native
    bfloat16 instructions for 2D networks, where it is much faster; float32
    elsewhere. 3D networks on a CPU get float32: their bfloat16 training
    diverged to NaN at random on such CPUs, never in float32 (tiny 3D fits
    at the default lr on an AVX512-BF16 CPU: 3 of 3 fit-predict-fit
    sequences and 1 of 6 single fits; at lr 4e-3 on an AMX CPU: 4 of 5
    runs of one seed). On a CPU without those instructions, where PyTorch
    runs bfloat16 3D convolutions in its own kernels instead of oneDNN's,
    the same fits never diverged and repeat bit for bit
    (``benchmarks/bf16_stress.py``). An explicit "bf16" is honoured.

    Parameters
    ----------
    precision : {"auto", "bf16", "fp32"}
    device : str
        A resolved torch device.
    n_dims : {2, 3}, default=2
        Spatial axes of the network.

    Returns
    -------
    str
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}")
    on_cuda = torch.device(device).type == "cuda"
    fast_bf16 = torch.cuda.is_bf16_supported() if on_cuda else cpu_has_native_bf16()
    if precision == "auto":
        return "bf16" if fast_bf16 and (on_cuda or n_dims == 2) else "fp32"
    if precision == "bf16" and on_cuda and not fast_bf16:
        raise ValueError(
            "precision='bf16' was requested but this GPU has no bfloat16 support; "
            "use precision='auto' or 'fp32'"
        )
    return precision
