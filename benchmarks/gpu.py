"""Training and prediction speed on a GPU, and the paper's schedule time.

On a CUDA device: patches/s of ``DenoiSegEstimator.fit`` (fp32 and bf16
autocast, channels-last as always), of a plain PyTorch loop of the same
network with and without ``torch.compile``, prediction MP/s, and the time of
the paper's whole schedule (200 epochs of 400 steps of 128 patches, the
automatic steps per epoch for DSB2018's 3800 training patches of 128x128)
at the measured ``fit`` speed.

    python benchmarks/gpu.py                          # on a CUDA device
    python benchmarks/gpu.py --device cpu --smoke     # anywhere: checks that it runs
"""

import argparse
import statistics
import time

import numpy as np
import torch

from _common import machine, table
from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg._loss import DenoiSegLoss
from sklearn_denoiseg._net import DenoiSegNet
from sklearn_denoiseg._unet import UNet
from sklearn_denoiseg.datasets import make_blobs

PAPER_EPOCHS, PAPER_STEPS, PAPER_BATCH = 200, 400, 128


def synchronize(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def fit_patches_per_s(network, device, precision, steps, batch_size):
    """patches/s of the training steps of ``fit``, median step, first excluded."""
    X, y = make_blobs(n_images=16, shape=(128, 128), random_state=0)
    y[8:] = 0
    times = []
    original = DenoiSegNet.train_step

    def timed(self, *args, **kwargs):
        synchronize(device)
        start = time.perf_counter()
        result = original(self, *args, **kwargs)
        synchronize(device)
        times.append(time.perf_counter() - start)
        return result

    DenoiSegNet.train_step = timed
    try:
        DenoiSegEstimator(**network, batch_size=batch_size, max_epochs=1, steps_per_epoch=steps,
                          device=device, precision=precision, threshold=0.5, verbose=0,
                          random_state=0).fit(X, y)
    finally:
        DenoiSegNet.train_step = original
    return batch_size / statistics.median(times[1:])


def loop_patches_per_s(network, device, precision, steps, batch_size, compile_):
    """patches/s of a plain loop (forward, loss, backward, Adam) on one batch."""
    torch.manual_seed(0)
    net = UNet(**network).to(device, memory_format=torch.channels_last)
    step_net = torch.compile(net) if compile_ else net
    loss_fn = DenoiSegLoss().to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=4e-4)
    x = torch.randn(batch_size, 1, 64, 64, device=device).contiguous(
        memory_format=torch.channels_last)
    target = {"original": torch.randn(batch_size, 1, 64, 64, device=device),
              "n2v_mask": torch.rand(batch_size, 1, 64, 64, device=device) < 0.015,
              "classes": torch.randint(0, 3, (batch_size, 64, 64), device=device)}
    times = []
    for _ in range(steps + 2):  # the first steps compile and warm up
        synchronize(device)
        start = time.perf_counter()
        optimizer.zero_grad()
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16,
                            enabled=precision == "bf16"):
            out = step_net(x)
        loss = loss_fn(out, target)
        loss.backward()
        optimizer.step()
        loss.item()
        times.append(time.perf_counter() - start)
    return batch_size / statistics.median(times[2:])


def predict_mp_per_s(network, device, precision, side, repeats=3):
    X, y = make_blobs(n_images=4, shape=(64, 64), random_state=0)
    est = DenoiSegEstimator(**network, batch_size=4, steps_per_epoch=1, max_epochs=1,
                            device=device, precision=precision, threshold=0.5, verbose=0,
                            random_state=0).fit(X, y)
    image = np.random.default_rng(0).normal(size=(side, side)).astype(np.float32)
    est.predict_proba([image])  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        est.predict_proba([image])
        times.append(time.perf_counter() - start)
    return side * side / 1e6 / statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=PAPER_BATCH)
    parser.add_argument("--side", type=int, default=2048, help="side of the predicted image")
    parser.add_argument("--smoke", action="store_true",
                        help="a tiny network, 3 steps of batch 8 and a 256x256 image")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    args = parser.parse_args()
    network = {}
    if args.smoke:
        network = dict(depth=2, n_filters=8)
        args.steps, args.batch_size, args.side = 3, 8, 256
    print(machine())
    rows = []
    fit_speed = {}
    for precision in ("fp32", "bf16"):
        speed = fit_patches_per_s(network, args.device, precision, args.steps, args.batch_size)
        fit_speed[precision] = speed
        rows.append([f"fit, batch {args.batch_size}", precision, f"{speed:.0f} patches/s"])
        print(rows[-1], flush=True)
        for compile_ in (False,) if args.no_compile else (False, True):
            speed = loop_patches_per_s(network, args.device, precision, args.steps,
                                       args.batch_size, compile_)
            name = "plain loop" + (" + torch.compile" if compile_ else "")
            rows.append([f"{name}, batch {args.batch_size}", precision, f"{speed:.0f} patches/s"])
            print(rows[-1], flush=True)
        speed = predict_mp_per_s(network, args.device, precision, args.side)
        rows.append([f"predict_proba {args.side}x{args.side}", precision, f"{speed:.2f} MP/s"])
        print(rows[-1], flush=True)
    patches = PAPER_EPOCHS * PAPER_STEPS * PAPER_BATCH
    for precision, speed in fit_speed.items():
        rows.append(["paper's schedule (200 x 400 x 128 patches), training steps", precision,
                     f"{patches / speed / 60:.0f} min"])
    print()
    print(table(["what", "precision", "speed"], rows))


if __name__ == "__main__":
    main()
