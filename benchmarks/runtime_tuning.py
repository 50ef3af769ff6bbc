"""What the package's process settings buy: glibc keeping freed memory during
training, and OpenMP's short spin waits, quiet and beside a busy process.

Each configuration runs in its own child process (libgomp reads its spin
count when torch loads): ``--steps`` training steps of the paper's U-Net on
one batch of 64x64 patches (plain loop, channels-last, fp32), median step
time with the first step excluded, the process's kernel (system) time and
peak memory.

    python benchmarks/runtime_tuning.py [--batch-size 128] [--steps 8]
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from _common import machine, table

LIBGOMP_DEFAULT_SPIN = "300000"


def child(config):
    import contextlib

    import torch

    from sklearn_denoiseg._allocator import keep_freed_memory
    from sklearn_denoiseg._loss import DenoiSegLoss
    from sklearn_denoiseg._unet import UNet

    torch.manual_seed(0)
    batch = config["batch_size"]
    net = UNet().to(memory_format=torch.channels_last)
    loss_fn = DenoiSegLoss()
    optimizer = torch.optim.Adam(net.parameters(), lr=4e-4)
    x = torch.randn(batch, 1, 64, 64).contiguous(memory_format=torch.channels_last)
    target = {"original": torch.randn(batch, 1, 64, 64),
              "n2v_mask": torch.rand(batch, 1, 64, 64) < 0.015,
              "classes": torch.randint(0, 3, (batch, 64, 64))}
    times = []
    before = resource.getrusage(resource.RUSAGE_SELF)
    with keep_freed_memory() if config["allocator"] else contextlib.nullcontext():
        for _ in range(config["steps"]):
            start = time.perf_counter()
            optimizer.zero_grad()
            loss = loss_fn(net(x), target)
            loss.backward()
            optimizer.step()
            loss.item()
            times.append(time.perf_counter() - start)
    after = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"step": statistics.median(times[1:]),
                      "system": after.ru_stime - before.ru_stime,
                      "peak_mb": after.ru_maxrss / 1024}))


def run(config, spin, load):
    env = {**os.environ, "GOMP_SPINCOUNT": spin}
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(load)]
    try:
        out = subprocess.run([sys.executable, __file__, "--child", json.dumps(config)],
                             env=env, check=True, capture_output=True, text=True)
    finally:
        for hog in hogs:
            hog.kill()
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(json.loads(args.child))
    print(machine())
    from sklearn_denoiseg._openmp import SPIN_COUNT

    rows = []
    for load in (0, 1):
        for name, allocator, spin in (("glibc and libgomp defaults", False, LIBGOMP_DEFAULT_SPIN),
                                      ("allocator kept", True, LIBGOMP_DEFAULT_SPIN),
                                      ("allocator kept, short spin waits", True, SPIN_COUNT)):
            config = {"batch_size": args.batch_size, "steps": args.steps, "allocator": allocator}
            result = run(config, spin, load)
            rows.append(["beside 1 busy process" if load else "quiet", name,
                         f"{result['step']:.2f} s", f"{args.batch_size / result['step']:.0f}",
                         f"{result['system']:.1f} s", f"{result['peak_mb'] / 1024:.2f} GB"])
            print(rows[-1], flush=True)
    print()
    print(table(["machine", "settings", "s/step", "patches/s",
                 f"system time ({args.steps} steps)", "peak RSS"], rows))


if __name__ == "__main__":
    main()
