"""The GPU benchmark runs anywhere in its smoke mode, so it cannot rot while
no GPU is at hand."""

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def test_gpu_benchmark_runs_on_the_cpu():
    result = subprocess.run(
        [sys.executable, "gpu.py", "--device", "cpu", "--smoke", "--no-compile"],
        cwd=BENCHMARKS, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    table = result.stdout.split("| what |", 1)[1]
    assert table.count("patches/s") == 4 and table.count("MP/s") == 2
    assert "paper's schedule" in table
