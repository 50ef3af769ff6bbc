"""How often does bfloat16 training diverge, and where does the first NaN appear?

Repeats, ``--runs`` times, the sequence of the report of 3D bf16 runs
stopping with ``TrainingDivergedError``: fit a tiny model (depth 2, 8
filters, batch 4, the default lr), predict with it, then fit a second model
on two images of different sizes. Every run uses its own ``random_state``.
In 3D the images are 16x32x32 stacks, the patches 8x8x8 or 8x32x32 (runs
take ``--patches-3d`` in turn), and the second fit is on a 16x32x32 and a
12x24x28 stack (smaller than a 8x32x32 patch: padded); in 2D they are 48x48
images, 32x32 patches, and a 48x48 and a 36x44 image.

Each fit records whether it diverged, in which epoch, which loss term, and
the first tensor that was not finite: the batch, a module's input or output
in the forward pass (``forward <module>``) or a parameter's gradient
(``grad <parameter>``), whichever came first. Options select the suspect
conditions: the memory format of the network (channels-last or contiguous),
the number of threads, and fresh heap memory filled with a poison value
(glibc's ``M_PERTURB``, with ``mmap`` off as during ``fit``) so that a
kernel that reads memory it never wrote shows as inf or NaN. One row per
fit is appended to a CSV, with the CPU that ran it. On a CPU with
AVX512-BF16 or AMX, ``ONEDNN_VERBOSE=1`` also lists the oneDNN kernels that
ran (on other CPUs PyTorch computes bf16 3D convolutions without oneDNN).

    python benchmarks/bf16_stress.py [--runs 50] [--dims 2 3] [--threads 2]
        [--memory-format {channels_last,contiguous}] [--poison]
        [--precision bf16] [--epochs 3] [--steps 100] [--patches-3d 8 8x32x32]
    python benchmarks/bf16_stress.py --audit
"""

import argparse
import ctypes
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from _common import append_csv, machine, table
from sklearn_denoiseg import DenoiSegEstimator, _training
from sklearn_denoiseg._hardware import cpu_has_native_bf16
from sklearn_denoiseg._net import DenoiSegNet
from sklearn_denoiseg.datasets import make_blobs
from sklearn_denoiseg.exceptions import TrainingDivergedError

FIELDS = ["cpu", "capability", "native_bf16", "torch", "precision", "threads", "memory_format",
          "poison", "dims", "run", "fit", "patch", "diverged", "epoch", "loss",
          "first_nonfinite", "seconds"]

M_MMAP_MAX, M_PERTURB = -4, -6
POISON = 0x80
"""glibc then fills every fresh allocation with bytes 0x7f: 3.4e38 read as
float32 or bfloat16, so any use of memory that was never written shows as
an overflow to inf and NaN within a layer or two."""


class _Probe:
    """The first non-finite tensor of the fit under way."""
    first = None

    @classmethod
    def note(cls, where, tensors):
        if cls.first is not None:
            return
        for tensor in tensors:
            if (isinstance(tensor, torch.Tensor) and tensor.is_floating_point()
                    and not torch.isfinite(tensor).all()):
                cls.first = f"{where} ({str(tensor.dtype).removeprefix('torch.')})"
                return


class ProbedNet(DenoiSegNet):
    """The package's network with checks of every module's input and output
    and of every gradient, and a chosen memory format."""

    channels_last_override = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.channels_last = self.channels_last_override

    def initialize_module(self):
        super().initialize_module()
        for name, module in self.module_.named_modules():
            if name and not list(module.children()):
                module.register_forward_hook(self._hook(name))
        return self

    @staticmethod
    def _hook(name):
        def check(module, inputs, output):
            _Probe.note(f"forward input of {name}", inputs)
            _Probe.note(f"forward {name}", [output])
        return check

    def train_step_single(self, batch, **fit_params):
        x, y = batch
        _Probe.note("batch input", [torch.as_tensor(x), torch.as_tensor(y["original"])])
        step = super().train_step_single(batch, **fit_params)
        for name, parameter in self.module_.named_parameters():
            if parameter.grad is not None:
                _Probe.note(f"grad {name}", [parameter.grad])
        return step


def _data(dims):
    """Training images, and the two images of different sizes of the second fit."""
    if dims == 3:
        X, y = make_blobs(n_images=6, shape=(16, 32, 32), n_blobs=4, radius=(3, 5), noise=0.3,
                          random_state=0)
        crop = (slice(0, 12), slice(0, 24), slice(0, 28))
    else:
        X, y = make_blobs(n_images=8, shape=(48, 48), noise=0.3, random_state=0)
        crop = (slice(0, 36), slice(0, 44))
    y = y.copy()
    y[len(y) // 2:] = 0
    return X, y, [X[0], X[1][crop]], [y[0], y[1][crop]]


def _fit(params, X, y):
    """Fit; the estimator (None when it diverged) and what happened."""
    _Probe.first = None
    try:
        estimator = DenoiSegEstimator(**params).fit(X, y)
    except TrainingDivergedError as error:
        message = str(error)
        epoch = message.split("in epoch ", 1)[1].split(":", 1)[0]
        loss = message.split("the ", 1)[1].split(" became", 1)[0]
        return None, {"diverged": 1, "epoch": int(epoch), "loss": loss,
                      "first_nonfinite": _Probe.first or "not seen"}
    return estimator, {"diverged": 0, "epoch": "", "loss": "", "first_nonfinite": ""}


def run_sequence(dims, run, args):
    """One fit-predict-fit sequence; one row per fit (one when the first
    fit diverges: the sequence stops there, as a user's would)."""
    X, y, X2, y2 = _data(dims)
    if dims == 3:
        patch, axes = args.patches_3d[run % len(args.patches_3d)], "ZYX"
    else:
        patch, axes = 32, "YX"
    params = dict(axes=axes, depth=2, n_filters=8, batch_size=4, patch_size=patch,
                  max_epochs=args.epochs, steps_per_epoch=args.steps, precision=args.precision,
                  random_state=run, verbose=0)
    rows = []
    for fit, (images, labels) in enumerate([(X, y), (X2, y2)]):
        start = time.perf_counter()
        estimator, row = _fit(params, images, labels)
        rows.append({**row, "dims": dims, "run": run, "fit": ("first", "second")[fit],
                     "patch": "x".join(str(side) for side in np.broadcast_to(patch, (dims,))),
                     "seconds": round(time.perf_counter() - start, 2)})
        if estimator is None:
            break
        if fit == 0:
            estimator.predict(X)
    return rows


def audit(args):
    """Checks of the suspects that need no divergence: what autocast
    computes in bf16, the loss of a batch without blind spots, the fewest
    blind spots in a batch of the stress runs, and whether a seeded 3D bf16
    fit repeats bit for bit with another heap history and thread count."""
    from sklearn_denoiseg._loss import DenoiSegLoss
    from sklearn_denoiseg._patches import PatchSampler
    from sklearn_denoiseg._unet import UNet, memory_format

    rows = []
    for dims, shape in [(2, (4, 1, 32, 32)), (3, (4, 1, 8, 8, 8))]:
        net = UNet(depth=2, n_filters=8, n_dims=dims).to(memory_format=memory_format(dims))
        dtypes = {}

        def record(module, inputs, output):
            dtypes.setdefault(type(module).__name__, str(output.dtype).removeprefix("torch."))
        for module in net.modules():
            if not list(module.children()):
                module.register_forward_hook(record)
        x = torch.randn(shape).contiguous(memory_format=memory_format(dims))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = net(x)
        target = {"original": x, "n2v_mask": torch.zeros_like(x, dtype=torch.bool),
                  "classes": torch.zeros((shape[0], *shape[2:]), dtype=torch.int64)}
        n2v, seg = DenoiSegLoss().terms(out, target)
        rows.append([f"{dims}D", ", ".join(f"{k} {v}" for k, v in dtypes.items()),
                     f"{n2v.dtype} / {seg.dtype}".replace("torch.", ""),
                     f"{n2v.item():.3g} (finite: {bool(torch.isfinite(n2v))})"])
    print(table(["network", "output dtype per layer under bf16 autocast",
                 "loss terms", "N2V loss without blind spots"], rows))

    rng = np.random.default_rng(0)
    fewest = []
    for dims in args.dims:
        X, y, X2, y2 = _data(dims)
        patches = args.patches_3d if dims == 3 else [32]
        for patch in patches:
            for images, labels in [(X, y), (X2, y2)]:
                sampler = PatchSampler([image[None] for image in images],
                                       [None] * len(images), patch_size=patch, batch_size=4,
                                       label_fraction=None, perc_pix=1.5, radius=2)
                counts = [sampler.sample(rng)[1]["n2v_mask"].sum(axis=tuple(range(1, dims + 2)))
                          .min() for _ in range(200)]
                fewest.append([f"{dims}D", "x".join(map(str, np.broadcast_to(patch, (dims,)))),
                               "x".join(map(str, images[-1].shape)), int(min(counts))])
    print()
    print(table(["dims", "patch", "last image", "fewest blind spots in a patch, 200 batches"],
                fewest))

    X, y, _, _ = _data(3)
    params = dict(axes="ZYX", depth=2, n_filters=8, batch_size=4, patch_size=8, max_epochs=2,
                  steps_per_epoch=8, precision="bf16", random_state=0, verbose=0)
    losses = []
    for threads in (1, 2, 1):
        torch.set_num_threads(threads)
        estimator = DenoiSegEstimator(**params).fit(X, y)
        losses.append((threads, [row["train_loss"] for row in estimator.history_]))
        estimator.predict(X)          # leaves another heap behind for the next fit
    torch.set_num_threads(args.threads)
    print()
    print(table(["threads", "train_loss per epoch (3D, bf16, seed 0)"],
                [[t, ", ".join(repr(float(v)) for v in values)] for t, values in losses]))
    print("bit for bit the same:", all(values == losses[0][1] for _, values in losses))


def _poison_fresh_memory():
    """Fill fresh heap blocks with :data:`POISON` and serve every block from
    the heap (no fresh zero pages from mmap), as during ``fit``."""
    libc = ctypes.CDLL(None)
    libc.mallopt(M_MMAP_MAX, 0)
    libc.mallopt(M_PERTURB, POISON)


def _patch(text):
    sides = tuple(int(side) for side in text.split("x"))
    return sides[0] if len(sides) == 1 else sides


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--precision", default="bf16", choices=["bf16", "fp32", "auto"])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--memory-format", default="channels_last",
                        choices=["channels_last", "contiguous"])
    parser.add_argument("--poison", action="store_true",
                        help="fill fresh heap memory with 0x7f bytes (glibc M_PERTURB)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=None,
                        help="steps per epoch; default: the package's (at least 100)")
    parser.add_argument("--patches-3d", type=_patch, nargs="+", default=[8, (8, 32, 32)],
                        help="3D patch sizes, one per run in turn: 8 or 8x32x32")
    parser.add_argument("--audit", action="store_true",
                        help="print the checks of the suspects that need no divergence, "
                             "then stop")
    parser.add_argument("--csv", type=Path, default=Path("results/bf16_stress.csv"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ProbedNet.channels_last_override = args.memory_format == "channels_last"
    _training.DenoiSegNet = ProbedNet
    if args.poison:
        _poison_fresh_memory()
    warnings.simplefilter("ignore")
    print(machine())
    if args.audit:
        audit(args)
        return
    setup = {"cpu": machine().split(",")[0], "capability": torch.backends.cpu.get_cpu_capability(),
             "native_bf16": int(cpu_has_native_bf16()), "torch": torch.__version__,
             "precision": args.precision, "threads": args.threads,
             "memory_format": args.memory_format, "poison": int(args.poison)}
    rows = []
    for dims in args.dims:
        for run in range(args.runs):
            for row in run_sequence(dims, run, args):
                row = {**setup, **row}
                rows.append(row)
                append_csv(args.csv, [row], FIELDS)
                if row["diverged"]:
                    print(f"{dims}D run {run} {row['fit']} fit: epoch {row['epoch']}, "
                          f"{row['loss']}, first non-finite: {row['first_nonfinite']}",
                          flush=True)
    summary = []
    for dims in args.dims:
        mine = [row for row in rows if row["dims"] == dims]
        firsts = sorted({row["first_nonfinite"] for row in mine if row["diverged"]})
        summary.append([f"{dims}D", sum(row["diverged"] for row in mine),
                        sum(1 for row in mine if row["fit"] == "first"),
                        sum(1 for row in mine if row["fit"] == "second"),
                        "; ".join(firsts) or "-"])
    print(f"\n{args.precision}, {args.memory_format}, {args.threads} threads, "
          f"poison {'on' if args.poison else 'off'}, {args.runs} runs\n")
    print(table(["dims", "diverged fits", "first fits", "second fits", "first non-finite"],
                summary))


if __name__ == "__main__":
    main()
