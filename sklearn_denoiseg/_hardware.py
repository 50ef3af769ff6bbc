"""What the processor can do fast."""

import functools
from pathlib import Path


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
