"""Shared helpers of the benchmark scripts: timing, peak memory, tables."""

import csv
import os
import platform
import resource
import statistics
import time

import torch

from sklearn_denoiseg._experiment_report import cell, mean_se


def machine():
    """One line describing the machine and the torch build."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} with "
            f"{torch.get_num_threads()} threads, {gpu}")


def median_time(function, repeats):
    """Median wall time of ``repeats`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def peak_rss_mb():
    """Peak resident memory of this process so far, in MB (Linux: kB units)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def mean_se_text(values, digits=3, missing="n/a"):
    """``mean ± standard error`` of the finite ``values`` as text, the mean
    alone for a single value, ``missing`` when there is none (the same
    statistics as the experiment's tables)."""
    return cell(*mean_se(values), digits) or missing


def table(header, rows):
    """A Markdown table as a string."""
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def read_csv(path, text=()):
    """The rows of a results CSV, numbers as floats except the columns in
    ``text``; no rows when the file is not there."""
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{k: (v if k in text else float(v)) for k, v in row.items()}
                for row in csv.DictReader(f)]


def append_csv(path, rows, fields):
    """Append ``rows`` to a results CSV, writing the header to a new file."""
    write_header = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        if write_header:
            writer.writeheader()
        writer.writerows(rows)
