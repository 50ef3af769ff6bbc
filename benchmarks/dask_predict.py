"""Out-of-core prediction with dask: throughput with 1 and 2 workers.

Predicts labels of one 2048x2048 image given as a dask array in 512x512
chunks with the paper's network, on a LocalCluster of 1 and then 2 worker
processes (one thread each), against in-memory prediction in this process.

    python benchmarks/dask_predict.py [--side 2048] [--chunk 512]
"""

import argparse
import time

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster

from _common import machine, table
from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg.datasets import make_blobs
from sklearn_denoiseg.out_of_core import predict_dask


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=2048)
    parser.add_argument("--chunk", type=int, default=512)
    args = parser.parse_args()
    X, y = make_blobs(n_images=4, shape=(64, 64), random_state=0)
    est = DenoiSegEstimator(batch_size=4, steps_per_epoch=1, max_epochs=1, threshold=0.5,
                            random_state=0, verbose=0).fit(X, y)
    image, _ = make_blobs(n_images=1, shape=(args.side, args.side), n_blobs=2000,
                          random_state=1)
    image = image[0]
    megapixels = args.side**2 / 1e6
    print(machine())
    rows = []
    start = time.perf_counter()
    expected = est.predict([image])[0]
    seconds = time.perf_counter() - start
    rows.append(["in memory, this process", f"{seconds:.1f} s", f"{megapixels / seconds:.2f}"])
    print(rows[-1], flush=True)
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster):
            lazy = predict_dask(est, da.from_array(image, chunks=args.chunk))
            start = time.perf_counter()
            labels = lazy.compute()
            seconds = time.perf_counter() - start
        same = len(np.unique(labels)) == len(np.unique(expected))
        rows.append([f"dask, {workers} worker(s) x 1 thread", f"{seconds:.1f} s",
                     f"{megapixels / seconds:.2f}" + ("" if same else " (objects differ!)")])
        print(rows[-1], flush=True)
    print(f"\n{args.side}x{args.side} image, {args.chunk}x{args.chunk} chunks, "
          f"precision {est.precision_}\n")
    print(table(["how", "time", "MP/s"], rows))


if __name__ == "__main__":
    main()
