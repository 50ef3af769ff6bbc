"""Training throughput of DenoiSegEstimator.fit against a plain PyTorch loop.

Both train the paper's U-Net (depth 4, 32 filters) with the DenoiSeg loss on
batches of 64x64 patches, in the same process, with the same memory format
and precision. The plain loop reuses one pre-made batch and does nothing but
forward, loss, backward and Adam steps: the ceiling of what the hardware
does. The estimator's time is the whole ``fit`` (patch sampling, masking,
augmentation, validation, threshold search included), so the ratio shows
what the library costs on top of the network itself.

    python benchmarks/fit_throughput.py [--steps 100] [--batch-size 16] [--repeats 3]
    python benchmarks/fit_throughput.py --stacks --steps 16 --batch-size 8 --repeats 1

``--stacks`` trains the 3D U-Net (``axes="ZYX"``) on patches of 16x64x64 cut
from 3D stacks of balls instead.
"""

import argparse

import torch

from _common import machine, median_time, table
from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg._loss import DenoiSegLoss
from sklearn_denoiseg._unet import UNet, memory_format
from sklearn_denoiseg.datasets import make_blobs


def plain_loop(steps, batch_size, precision, patch):
    torch.manual_seed(0)
    net = UNet(n_dims=len(patch)).to(memory_format=memory_format(len(patch)))
    loss_fn = DenoiSegLoss()
    optimizer = torch.optim.Adam(net.parameters(), lr=4e-4)
    x = torch.randn(batch_size, 1, *patch).contiguous(memory_format=memory_format(len(patch)))
    target = {
        "original": torch.randn(batch_size, 1, *patch),
        "n2v_mask": torch.rand(batch_size, 1, *patch) < 0.015,
        "classes": torch.randint(0, 3, (batch_size, *patch)),
    }

    def run():
        for _ in range(steps):
            optimizer.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                out = net(x)
            loss = loss_fn(out, target)
            loss.backward()
            optimizer.step()
            loss.item()

    return run


def estimator_fit(steps, batch_size, precision, patch, data):
    X, y = data
    epochs = 4

    def run():
        DenoiSegEstimator(
            batch_size=batch_size, steps_per_epoch=steps // epochs, max_epochs=epochs,
            precision=precision, patch_size=patch, axes="ZYX" if len(patch) == 3 else "YX",
            random_state=0, verbose=0,
        ).fit(X, y)

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--stacks", action="store_true", help="3D U-Net on 16x64x64 patches")
    args = parser.parse_args()

    if args.stacks:
        # 12 stacks of 32x128x128, 4 of them annotated
        patch = (16, 64, 64)
        X, y = make_blobs(n_images=12, shape=(32, 128, 128), n_blobs=30, random_state=0)
        y[4:] = 0
    else:
        # 20 images of 256x256, 5 of them annotated: 3 validation images, 2 annotated
        patch = (64, 64)
        X, y = make_blobs(n_images=20, shape=(256, 256), n_blobs=40, random_state=0)
        y[5:] = 0
    print(machine())
    rows, throughput = [], {}
    patches = args.steps * args.batch_size
    for precision in args.precisions:
        for name, make in (("plain PyTorch loop", plain_loop),
                           ("DenoiSegEstimator.fit", estimator_fit)):
            extra = ((X, y),) if make is estimator_fit else ()
            seconds, _ = median_time(make(args.steps, args.batch_size, precision, patch, *extra),
                                     args.repeats)
            throughput[name, precision] = patches / seconds
            rows.append([name, precision, f"{seconds:.1f}", f"{patches / seconds:.1f}"])
            print(rows[-1], flush=True)
    for precision in args.precisions:
        ratio = throughput["DenoiSegEstimator.fit", precision] / throughput["plain PyTorch loop", precision]
        rows.append(["fit / plain loop", precision, "", f"{ratio:.2f}x"])
    if {"fp32", "bf16"} <= set(args.precisions):
        for name in ("plain PyTorch loop", "DenoiSegEstimator.fit"):
            speedup = throughput[name, "bf16"] / throughput[name, "fp32"]
            rows.append([f"{name}: bf16 / fp32", "", "", f"{speedup:.2f}x"])
    print(f"\n{args.steps} steps of {args.batch_size} patches of {'x'.join(map(str, patch))}, "
          f"median of {args.repeats} runs\n")
    print(table(["what", "precision", "seconds", "patches/s"], rows))


if __name__ == "__main__":
    main()
