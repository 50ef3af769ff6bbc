"""Training speed of sklearn_denoiseg against the original TensorFlow DenoiSeg.

Builds one data set (the real DSB2018 nuclei image shipped by stardist,
Gaussian noise of sigma 20, 128x128 crops, a few of them annotated), writes
it to an .npz, then trains on it alternately, in fresh processes:

1. the original ``denoiseg`` 0.3.1 (TensorFlow, fp32), with the Python of its
   own virtual environment (``setup.sh``): ``run_original.py``;
2. ``sklearn_denoiseg`` in fp32: ``run_ours.py --precision fp32``;
3. ``sklearn_denoiseg`` with ``precision="auto"`` (bf16 on CPUs with
   AVX512-BF16 or AMX): ``run_ours.py --precision auto``;

and repeats for ``--rounds`` rounds. Both train the paper's U-Net (depth 4,
32 filters, batch norm: the defaults of both) on 64x64 patches in batches of
128 with the same number of epochs and steps. Only training steps are timed
(median steady-state step, the first step of each epoch excluded); the
table shows medians over rounds. Not part of CI.

    bash benchmarks/original/setup.sh
    python benchmarks/original/compare.py [--steps 24] [--rounds 3] [--load]
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sklearn_denoiseg.datasets import add_gaussian_noise, crop_grid, keep_annotated, load_nuclei

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _timing import MARKER  # noqa: E402

sys.path.insert(0, str(HERE.parent))
from _common import machine  # noqa: E402

CROP = 128
TRAIN_CROPS = 12  # the top three rows of 128x128 crops of the 512x512 image
AUGMENTATIONS = 8  # the original's augment_data: 4 rotations x flip


def make_data(path, draws, n_annotated, sigma, seed):
    """Write the benchmark's data set to ``path``; return a description.

    Training: the top 384x512 of the image (12 crops of 128x128) under
    ``draws`` independent noise draws, labels kept on ``n_annotated`` crops.
    Validation: the bottom row (4 crops), another noise draw, all annotated.
    """
    image, labels = load_nuclei()
    label_crops = crop_grid(labels, CROP)
    X_train = np.concatenate([
        crop_grid(add_gaussian_noise(image, sigma, random_state=seed + d), CROP)[:TRAIN_CROPS]
        for d in range(draws)])
    Y_train = keep_annotated(np.concatenate([label_crops[:TRAIN_CROPS]] * draws),
                             n_annotated, random_state=seed)
    X_val = crop_grid(add_gaussian_noise(image, sigma, random_state=seed + draws), CROP)[TRAIN_CROPS:]
    Y_val = label_crops[TRAIN_CROPS:]
    np.savez(path, X_train=X_train.astype(np.float32), Y_train=Y_train.astype(np.int32),
             X_val=X_val.astype(np.float32), Y_val=Y_val.astype(np.int32))
    annotated = int(sum(bool(y.any()) for y in Y_train))
    return (f"DSB2018 nuclei image from stardist, noise sigma {sigma}: {len(X_train)} training "
            f"crops of {CROP}x{CROP} ({TRAIN_CROPS} crops x {draws} noise draws, {annotated} "
            f"annotated), {len(X_val)} annotated validation crops")


def run_worker(command, load, env=None):
    """Run one worker, with ``load`` busy-loop processes beside it."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(load)]
    try:
        done = subprocess.run(command, capture_output=True, text=True,
                              env=None if env is None else {**os.environ, **env})
    finally:
        for hog in hogs:
            hog.terminate()
        for hog in hogs:
            hog.wait()
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"worker failed (exit {done.returncode}): {' '.join(command)}")
    return json.loads(lines[-1][len(MARKER):])


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=24,
                        help="training steps per run (rounded up to whole epochs of equal length)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--draws", type=int, default=16,
                        help="noise draws of the 12 training crops; the original's epoch has "
                             "12 x draws x 8 / batch-size batches")
    parser.add_argument("--annotated", type=int, default=8, help="annotated training crops")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--sigma", type=float, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--original-python", default=str(HERE / ".venv-original" / "bin" / "python"),
                        help="Python of the original's virtual environment (setup.sh)")
    parser.add_argument("--python", default=sys.executable,
                        help="Python with sklearn_denoiseg installed (default: this one)")
    parser.add_argument("--load", type=int, nargs="?", const=1, default=0, metavar="N",
                        help="run every worker beside N busy-loop Python processes "
                             "(same niceness; --load alone: 1)")
    parser.add_argument("--json-out", help="also write every run's result to this JSON file")
    args = parser.parse_args()

    if not Path(args.original_python).exists():
        raise SystemExit(f"{args.original_python} not found: run benchmarks/original/setup.sh "
                         "first, or pass --original-python")
    batches = TRAIN_CROPS * args.draws * AUGMENTATIONS // args.batch_size
    epochs = math.ceil(args.steps / batches)
    steps_per_epoch = math.ceil(args.steps / epochs)
    if steps_per_epoch < 2:
        raise SystemExit("need at least 2 steps per epoch (the first one is not timed)")

    ours = [args.python, str(HERE / "run_ours.py")]
    # "untuned": glibc's allocator and libgomp's spin count as they are without
    # this package's settings (300000 is libgomp's default spin count)
    workers = [
        ("original", [args.original_python, str(HERE / "run_original.py")], None),
        ("fp32", [*ours, "--precision", "fp32"], None),
        ("fp32-untuned", [*ours, "--precision", "fp32", "--untuned"],
         {"GOMP_SPINCOUNT": "300000"}),
        ("auto", [*ours, "--precision", "auto"], None),
    ]
    results = {name: [] for name, _, _ in workers}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.npz"
        described = make_data(data, args.draws, args.annotated, args.sigma, args.seed)
        common = ["--data", str(data), "--steps-per-epoch", str(steps_per_epoch),
                  "--epochs", str(epochs), "--batch-size", str(args.batch_size),
                  "--seed", str(args.seed)]
        print(machine())
        print(described)
        print(f"{epochs} epoch(s) x {steps_per_epoch} steps x {args.batch_size} patches of "
              f"64x64 per run, {args.rounds} round(s), "
              + (f"beside {args.load} busy-loop process(es)" if args.load else "no other load"),
              flush=True)
        for round_ in range(args.rounds):
            for name, command, env in workers:
                start = time.perf_counter()
                result = run_worker(command + common, args.load, env)
                results[name].append(result)
                print(f"round {round_ + 1} {name}: {result['s_per_step']:.3f} s/step "
                      f"({result['steps_timed']} steps), peak RSS {result['peak_rss_mb']:.0f} MB, "
                      f"process {time.perf_counter() - start:.0f} s", flush=True)

    def median(name, key):
        return statistics.median(r[key] for r in results[name])

    baseline = median("original", "s_per_step")
    rows = []
    for name, _, _ in workers:
        first = results[name][0]
        if name == "original":
            label = first["implementation"]
        elif name == "auto":
            label = f"sklearn_denoiseg {first['precision']} (\"auto\" on this CPU)"
        elif name == "fp32-untuned":
            label = "sklearn_denoiseg fp32, without its allocator and spin-wait settings"
        else:
            label = f"sklearn_denoiseg {first['precision']}"
        seconds = median(name, "s_per_step")
        rows.append([label, f"{seconds:.3f}", f"{args.batch_size / seconds:.1f}",
                     f"{baseline / seconds:.2f}x", f"{median(name, 'peak_rss_mb'):.0f} MB"])
    print(f"\nmedians over {args.rounds} round(s)"
          + (f", under load ({args.load} busy-loop process(es))" if args.load else "") + "\n")
    print(table(["implementation", "s/step", "patches/s", "vs original", "peak RSS"], rows))
    print(f"\noriginal: {results['original'][0]['framework']}; "
          f"ours: {results['fp32'][0]['framework']}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(
            {"args": vars(args), "data": described, "machine": machine(), "results": results},
            indent=1))


if __name__ == "__main__":
    main()
