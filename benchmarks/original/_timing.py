"""Step-time summary shared by both workers (plain Python: it runs in either
virtual environment, so it imports nothing beyond the standard library)."""

import argparse
import json
import os
import resource
import statistics
import sys

MARKER = "RESULT "
"""Prefix of the one line of JSON a worker prints; compare.py looks for it."""


def steady_state(steps):
    """Steady-state step times from ``(epoch, begin, end)`` records.

    A step's time is the interval between the end of the previous training
    step of the same epoch and its own end: the batch preparation, the step
    itself and the per-step bookkeeping of the training loop, whichever
    thread does them. The first step of every epoch has no such interval
    (it follows the previous epoch's validation) and is left out, which
    leaves out the first step of the run (graph tracing, allocator warm-up).
    """
    times = []
    for previous, current in zip(steps, steps[1:]):
        if current[0] == previous[0]:
            times.append(current[2] - previous[2])
    return times


def report(implementation, precision, steps, batch_size, **extra):
    """Print the worker's result line and return it as a dict."""
    times = steady_state(steps)
    if not times:
        raise SystemExit("no steady-state step was timed: run at least 2 steps per epoch")
    median = statistics.median(times)
    inner = [end - begin for _, begin, end in steps[1:]]
    result = {
        "implementation": implementation,
        "precision": precision,
        "batch_size": batch_size,
        "steps_run": len(steps),
        "steps_timed": len(times),
        "s_per_step": median,
        "patches_per_s": batch_size / median,
        # time inside the timed call only (the step without the batch
        # preparation where the loop prepares batches outside it), for reference
        "s_per_step_inside": statistics.median(inner) if inner else None,
        "first_step_s": steps[0][2] - steps[0][1],
        "step_times": times,
        # Linux reports kilobytes
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        **extra,
    }
    print(MARKER + json.dumps(result), flush=True)
    return result


def worker_parser(description):
    """The command-line options both workers take."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", required=True, help=".npz written by compare.py")
    parser.add_argument("--steps-per-epoch", type=int, required=True)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    return parser
