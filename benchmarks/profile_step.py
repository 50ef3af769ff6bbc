"""Where the time of one training step goes, per operator (torch.profiler).

The paper's U-Net, one batch of 64x64 patches, plain loop (forward, DenoiSeg
loss, backward, Adam) inside the package's training settings (glibc keeps
freed memory). Prints the operators by self CPU time for two profiled steps,
then the median step time over ``--steps`` more; ``--compile`` runs the
network through ``torch.compile`` first, ``--format nchw`` without
channels-last.

    python benchmarks/profile_step.py [--batch-size 128] [--precision fp32] [--compile]
"""

import argparse
import statistics
import time

import sklearn_denoiseg  # noqa: F401 (before torch: OpenMP settings)
import torch
from torch.profiler import ProfilerActivity, profile

from _common import machine
from sklearn_denoiseg._allocator import keep_freed_memory
from sklearn_denoiseg._loss import DenoiSegLoss
from sklearn_denoiseg._unet import UNet


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--format", default="channels_last", choices=("channels_last", "nchw"))
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rows", type=int, default=12)
    args = parser.parse_args()
    print(machine())
    torch.manual_seed(0)
    memory_format = (torch.channels_last if args.format == "channels_last"
                     else torch.contiguous_format)
    net = UNet().to(memory_format=memory_format)
    step_net = torch.compile(net) if args.compile else net
    loss_fn = DenoiSegLoss()
    optimizer = torch.optim.Adam(net.parameters(), lr=4e-4)
    batch = args.batch_size
    x = torch.randn(batch, 1, 64, 64).contiguous(memory_format=memory_format)
    target = {"original": torch.randn(batch, 1, 64, 64),
              "n2v_mask": torch.rand(batch, 1, 64, 64) < 0.015,
              "classes": torch.randint(0, 3, (batch, 64, 64))}

    def step():
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            out = step_net(x)
        loss = loss_fn(out, target)
        loss.backward()
        optimizer.step()
        loss.item()

    with keep_freed_memory():
        for _ in range(2):  # warm-up (and compilation)
            step()
        with profile(activities=[ProfilerActivity.CPU]) as profiler:
            step()
            step()
        print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows,
                                            max_name_column_width=40))
        times = []
        for _ in range(args.steps):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"batch {batch}, {args.precision}, {args.format}"
          + (", torch.compile" if args.compile else "")
          + f": {median:.3f} s/step, {batch / median:.0f} patches/s")


if __name__ == "__main__":
    main()
