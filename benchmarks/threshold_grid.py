"""Cost of a threshold axis in GridSearchCV.

A grid over ``threshold`` with ``alpha`` fixed, 2 folds of
``AnnotatedKFold``, on the noisy nuclei crops with the "cpu" preset for
``--epochs`` epochs: 1 threshold against 4, with ``checkpoint_dir`` (settings
that differ only in prediction parameters reuse the trained network) and
without it (every setting trains). Wall time, median of ``--repeats``.

    python benchmarks/threshold_grid.py [--epochs 3] [--repeats 1]
"""

import argparse
import tempfile

from sklearn.model_selection import GridSearchCV

from _common import machine, median_time, table
from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg.demo import nuclei_split
from sklearn_denoiseg.metrics import ap_scorer
from sklearn_denoiseg.model_selection import AnnotatedKFold


def search(data, thresholds, epochs, checkpoints):
    est = DenoiSegEstimator.from_preset("cpu", max_epochs=epochs, random_state=0, verbose=0,
                                        checkpoint_dir=checkpoints)
    return GridSearchCV(est, {"threshold": thresholds}, scoring=ap_scorer,
                        cv=AnnotatedKFold(2), refit=False).fit(data["X_train"], data["y_train"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    print(machine())
    data = nuclei_split(sigma=20, n_annotated=6, random_state=0)
    rows = []
    for checkpoint in (True, False):
        for thresholds in ([0.5], [0.3, 0.5, 0.7, "auto"]):
            def run():
                with tempfile.TemporaryDirectory() as directory:
                    return search(data, thresholds, args.epochs,
                                  directory if checkpoint else None)
            seconds, result = median_time(run, args.repeats)
            rows.append([f"{len(thresholds)} threshold(s) x 2 folds",
                         "yes" if checkpoint else "no", f"{seconds:.1f} s",
                         " ".join(f"{s:.3f}" for s in result.cv_results_["mean_test_score"])])
            print(rows[-1], flush=True)
    print()
    print(table(["grid", "checkpoint_dir", "wall time", "mean AP per setting"], rows))


if __name__ == "__main__":
    main()
