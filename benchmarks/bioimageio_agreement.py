"""Does bioimageio.core predict what the estimator predicts, border included?

Exports a fitted model (``--model``, a file written by
``DenoiSegEstimator.save``; without it a depth-2 "cpu"-preset model trained
on the demo data, fp32) and runs the package with bioimageio.core's
``predict`` on crops of the demo's test strip, in one pass and in tiles
(``blocksize_parameter``), as a Fiji- or napari-like consumer would. Sides
that are not multiples of the grid, which bioimageio.core refuses, are first
mirrored at their end up to one, as the package's README asks. Prints the
largest difference to ``predict_proba`` and ``transform`` over the whole
image, within one halo of the border and inside.

    python benchmarks/bioimageio_agreement.py [--model model.pt] [--sizes 128x128 100x90]
"""

import argparse
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from _common import machine, table
from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg._tiling import BORDER_MODE
from sklearn_denoiseg.demo import nuclei_split
from sklearn_denoiseg.presets import preset


def estimator_outputs(estimator, image):
    """Denoised image then class probabilities, (4, *spatial)."""
    denoised = estimator.transform(image[np.newaxis])[0]
    proba = np.moveaxis(estimator.predict_proba(image[np.newaxis])[0], -1, 0)
    return np.concatenate([denoised[np.newaxis], proba])


def package_outputs(package, image, grid, blocksize_parameter):
    import bioimageio.core

    to_grid = np.pad(image, [(0, -side % grid) for side in image.shape], mode=BORDER_MODE)
    sample = bioimageio.core.predict(model=package, inputs=to_grid[np.newaxis, np.newaxis],
                                     blocksize_parameter=blocksize_parameter)
    out = sample.members["prediction"].data.to_numpy()[0]
    return out[(slice(None), *map(slice, image.shape))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--sizes", nargs="+", default=["128x128", "100x90", "77x118"])
    parser.add_argument("--blocks", type=int, nargs="+", default=[2, 5],
                        help="blocksize_parameter values for tiled prediction")
    args = parser.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")
    warnings.filterwarnings("ignore")
    print(machine())
    data = nuclei_split(sigma=20, n_annotated=3, random_state=0)
    if args.model:
        estimator = DenoiSegEstimator.load(args.model).set_params(precision="fp32")
    else:
        estimator = DenoiSegEstimator(**{**preset("cpu"), "depth": 2, "precision": "fp32",
                                         "random_state": 0, "verbose": 0})
        estimator.fit(data["X_train"], data["y_train"])
    halo, grid = estimator.predictor_.margin, 2**estimator.predictor_.depth
    strip = np.concatenate(list(data["X_test"]), axis=0)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        package = estimator.export_bioimageio(Path(folder) / "package.zip", name="DenoiSeg demo",
                                              authors=["sklearn_denoiseg benchmarks"])
        for size in args.sizes:
            shape = tuple(int(side) for side in size.split("x"))
            image = strip[:shape[0], :shape[1]]
            expected = estimator_outputs(estimator, image)
            band = np.ones(shape, bool)
            band[halo:-halo, halo:-halo] = False
            for blocks in [None, *args.blocks]:
                difference = np.abs(package_outputs(package, image, grid, blocks) - expected)
                rows.append([size, blocks or "one pass",
                             f"{difference[1:].max():.1e}",
                             f"{difference[1:][:, band].max():.1e}",
                             f"{difference[1:][:, ~band].max():.1e}",
                             f"{difference[0].max() / estimator.std_[0]:.1e}"])
    print(f"\nlargest |bioimageio.core - estimator|, halo {halo} pixels\n")
    print(table(["image", "tiles (blocksize_parameter)", "probabilities", "within one halo",
                 "inside", "denoised (training std)"], rows))


if __name__ == "__main__":
    main()
