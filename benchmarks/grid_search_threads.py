"""GridSearchCV with n_jobs=1 against n_jobs=2: parallel fits must not
oversubscribe the cores (each worker's torch threads are limited by joblib).

    python benchmarks/grid_search_threads.py
"""

import time

import torch
from sklearn.model_selection import GridSearchCV, KFold

from _common import machine, table
from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg.datasets import make_blobs


def main():
    X, y = make_blobs(n_images=8, shape=(128, 128), n_blobs=15, random_state=0)
    estimator = DenoiSegEstimator(depth=3, n_filters=16, batch_size=16, steps_per_epoch=15,
                                  max_epochs=2, threshold=0.5, random_state=0, verbose=0)
    print(machine())
    rows = []
    for n_jobs in (1, 2):
        search = GridSearchCV(estimator, {"alpha": [0.0, 0.3, 0.5, 0.7]}, cv=KFold(2),
                              n_jobs=n_jobs, refit=False)
        start = time.perf_counter()
        search.fit(X, y)
        rows.append([n_jobs, f"{time.perf_counter() - start:.1f} s",
                     " ".join(f"{s:.3f}" for s in search.cv_results_["mean_test_score"])])
        print(rows[-1], flush=True)
    print(f"\n8 fits; torch uses {torch.get_num_threads()} threads in this process\n")
    print(table(["n_jobs", "wall time", "mean test AP per alpha"], rows))


if __name__ == "__main__":
    main()
