"""Does bfloat16 cost accuracy? DenoiSeg on the demo data in fp32 and bf16.

Trains DenoiSeg (alpha=0.5) with the demo's budget for several seeds in each
precision and reports test AP, SEG, PSNR and fit time: bf16 should be within
the run-to-run spread of fp32, and faster.

    python benchmarks/precision_quality.py [--seeds 0 1 2]
"""

import argparse
import time

from _common import machine, mean_se_text, table
from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg.demo import DEMO_PARAMS, evaluate, nuclei_split


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    print(machine())
    results = {"fp32": [], "bf16": []}
    for seed in args.seeds:
        data = nuclei_split(random_state=seed)
        for precision in results:
            start = time.perf_counter()
            est = DenoiSegEstimator(precision=precision, random_state=seed, verbose=0,
                                    **DEMO_PARAMS).fit(data["X_train"], data["y_train"])
            scores = {**evaluate(est, data), "seconds": time.perf_counter() - start}
            results[precision].append(scores)
            print(seed, precision, {k: round(v, 3) for k, v in scores.items()}, flush=True)
    rows = []
    for precision, runs in results.items():
        cells = [precision]
        for key in ("AP", "SEG", "PSNR", "seconds"):
            cells.append(mean_se_text([run[key] for run in runs]))
        rows.append(cells)
    print(f"\nmean ± standard error over seeds {args.seeds}\n")
    print(table(["precision", "AP", "SEG", "PSNR [dB]", "fit [s]"], rows))


if __name__ == "__main__":
    main()
