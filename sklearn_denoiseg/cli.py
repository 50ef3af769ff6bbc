"""The ``denoiseg`` command line: train, predict and evaluate on image files.

Run ``denoiseg --help`` (or ``python -m sklearn_denoiseg.cli --help``).
"""

import argparse
import csv
import inspect
import sys
import warnings
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ._estimator import DenoiSegEstimator
from ._training import monitored_loss
from .exceptions import TrainingDivergedError
from ._axes import ImageAxes
from .io import find_images, read_image, read_images, read_masks, write_tiff
from .metrics import average_precision, seg_score
from .presets import PRESETS, preset

EXAMPLES = {
    "train": """examples:
  denoiseg train raw/ --masks masks/ --model nuclei.pt --preset cpu   # about a minute on a laptop
  denoiseg train raw/ --masks masks/ --model nuclei.pt                # the paper's schedule (GPU)
  denoiseg train raw/*.tif more/*.tif --masks masks/ --model nuclei.pt --alpha 0.3 --max_epochs 50
  denoiseg train raw/ --masks cellpose/ --mask-suffix _cp_masks --model nuclei.pt
  denoiseg train raw/ --model n2v.pt --alpha 1.0      # no masks: a pure Noise2Void denoiser
  denoiseg train stacks/ --masks masks/ --model nuclei3d.pt --axes ZYX --patch_size 16 64 64
  denoiseg train new/ --masks new_masks/ --init nuclei.pt --model tuned.pt --max_epochs 20 \\
      --lr 1e-4 --freeze encoder                             # fine-tune a trained model""",
    "predict": """examples:
  denoiseg predict nuclei.pt raw/ --output labels/
  denoiseg predict nuclei.pt raw/ --output out/ --denoised --overwrite""",
    "evaluate": """examples:
  denoiseg evaluate --predictions labels/ --masks masks/
  denoiseg evaluate --model nuclei.pt --images test/ --masks masks/ --csv scores.csv""",
    "export": """examples:
  denoiseg export nuclei.pt nuclei.zip --name "DenoiSeg nuclei" --author "Jane Doe"
  denoiseg export nuclei.pt nuclei.zip --name "DenoiSeg nuclei" --author "Jane Doe" \\
      --author "John Roe" --test-image raw/img_03.tif --license MIT""",
}


def _parse_value(text):
    """An option value: none, true/false, an integer, a number, or text."""
    lowered = text.lower()
    if lowered == "none":
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _add_estimator_options(parser):
    """One option per DenoiSegEstimator parameter, same name and default,
    and ``--preset`` to start from a named training budget."""
    group = parser.add_argument_group("estimator parameters (see DenoiSegEstimator)")
    group.add_argument("--preset", choices=list(PRESETS),
                       help="training budget to start from; the options below replace its "
                       "values (paper: the paper's schedule, for a GPU; cpu: about a minute "
                       "per model on two cores; smoke: seconds, to check a setup) "
                       "(default: paper; with --init, the model's parameters)")
    for name, parameter in inspect.signature(DenoiSegEstimator).parameters.items():
        default = parameter.default
        flags = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
        # SUPPRESS: only options given on the command line replace the preset's
        if name == "class_weights":
            group.add_argument(*flags, dest=name, type=float, nargs=3,
                               default=argparse.SUPPRESS, metavar=("BG", "FG", "BORDER"),
                               help=f"default: {' '.join(map(str, default))}")
        elif name in ("patch_size", "tile_size"):
            group.add_argument(*flags, dest=name, type=_parse_value, nargs="+",
                               default=argparse.SUPPRESS, metavar="SIDE",
                               help=f"one side for every axis, or one per spatial axis "
                               f"(e.g. 16 64 64 for ZYX) (default: {default})")
        else:
            group.add_argument(*flags, dest=name, type=_parse_value, default=argparse.SUPPRESS,
                               metavar="VALUE", help=f"default: {default}")


def _estimator_params(args, base=None):
    """The parameters of the command line: ``base`` (by default the preset,
    the paper's without --preset), replaced by the options given."""
    names = inspect.signature(DenoiSegEstimator).parameters
    given = {name: getattr(args, name) for name in names if hasattr(args, name)}
    if "class_weights" in given:
        given["class_weights"] = tuple(given["class_weights"])
    for name in ("patch_size", "tile_size"):
        if name in given:
            sides = given[name]
            given[name] = sides[0] if len(sides) == 1 else tuple(sides)
    if base is None or args.preset is not None:
        base = {**(base or {}), **preset(args.preset or "paper")}
    return {**base, **given}


def _estimator(args):
    """The estimator to train: a new one, or with --init the given model,
    set to continue from its network (``warm_start``)."""
    if args.init is None:
        return DenoiSegEstimator(**_estimator_params(args))
    estimator = DenoiSegEstimator.load(args.init)
    return estimator.set_params(**{**_estimator_params(args, estimator.get_params()),
                                   "warm_start": True})


def train(args):
    estimator = _estimator(args)
    axes = ImageAxes(estimator.axes)
    model = Path(args.model)
    if model.exists() and not args.overwrite:
        raise FileExistsError(f"{model} exists; pass --overwrite to replace it")
    if args.mask_suffix is not None and not args.masks:
        raise ValueError(f"--mask-suffix {args.mask_suffix!r} needs --masks (the mask folder)")
    paths = find_images(args.images)
    images = read_images(paths, axes.axes)
    masks = None
    if args.masks:
        masks = read_masks(paths, args.masks, [axes.spatial_shape(image) for image in images],
                           mask_suffix=args.mask_suffix, axes=axes.spatial)
    n_annotated = 0 if masks is None else sum(bool(np.any(m)) for m in masks)
    print(f"{len(images)} images, {n_annotated} annotated")
    before = 0
    if args.init is not None:
        before = len(estimator.history_)
        print(f"continuing from {args.init} ({before} epochs trained)")
    estimator.fit(images, masks)
    estimator.save(model)
    epochs = list(estimator.history_)[before:]  # those of this fit
    if epochs:
        loss = monitored_loss(epochs)
        print(f"epochs: {len(epochs)}, best {loss.removesuffix('_loss')} loss: "
              f"{min(row[loss] for row in epochs):.4f}")
    else:  # interrupted before the first epoch ended
        print("epochs: 0 (the model keeps the weights reached during its first epoch)")
    if estimator.threshold_ is not None:
        ap = estimator.threshold_scores_.get(estimator.threshold_)
        print(f"threshold: {estimator.threshold_:.2f}"
              + ("" if ap is None else f", validation AP: {ap:.3f}"))
    print(f"model saved to {model}")
    if len(epochs) < estimator.max_epochs:
        return INTERRUPTED


def predict(args):
    estimator = DenoiSegEstimator.load(args.model)
    predictor = estimator.predictor_
    paths = find_images(args.images)
    output = Path(args.output)
    segment = estimator.threshold_ is not None
    if not segment and not args.denoised:
        raise ValueError(f"{args.model} was trained without labels; it can only denoise: "
                         "add --denoised")
    targets = []
    for path in paths:
        if segment:
            targets.append(output / f"{path.stem}.tif")
        if args.denoised:
            targets.append(output / f"{path.stem}_denoised.tif")
    existing = [t for t in targets if t.exists()]
    if existing and not args.overwrite:
        raise FileExistsError(f"{existing[0]} exists; pass --overwrite to replace it")
    threshold = estimator.decision_threshold() if segment else None
    for path in tqdm(paths, desc="predicting", unit="image", disable=args.quiet):
        image = [read_image(path, estimator.axes)]
        # one forward pass gives both the labels and the denoised image
        if segment and args.denoised:
            outputs = predictor.predict_all(image)[0]
            labels, denoised = outputs.labels(threshold), outputs.denoised
        elif segment:
            labels = predictor.segment(image, threshold)[0]
        else:
            denoised = predictor.denoise(image)[0]
        if segment:
            write_tiff(output / f"{path.stem}.tif", labels, overwrite=args.overwrite)
        if args.denoised:
            write_tiff(output / f"{path.stem}_denoised.tif", denoised, overwrite=args.overwrite)
    print(f"{len(paths)} images written to {output}")


def evaluate(args):
    if (args.predictions is None) == (args.model is None):
        raise ValueError("give either --predictions or --model (with --images)")
    if args.model is not None:
        if args.images is None:
            raise ValueError("--model needs --images")
        estimator = DenoiSegEstimator.load(args.model)
        spatial = ImageAxes(estimator.axes).spatial
        paths = find_images(args.images)
        predictions = estimator.predict(read_images(paths, estimator.axes))
    else:
        spatial = args.axes
        paths = find_images(args.predictions)
        predictions = read_images(paths, spatial)
    truths = read_masks(paths, args.masks, [p.shape for p in predictions], axes=spatial)
    rows = []
    for path, truth, prediction in zip(paths, truths, predictions):
        if not np.any(truth):
            continue  # no mask: nothing to compare with
        rows.append((path.stem, average_precision(truth, prediction),
                     seg_score(truth, prediction)))
    if not rows:
        raise ValueError(f"no image has a mask in {args.masks}")
    rows.append(("mean", np.mean([r[1] for r in rows]), np.mean([r[2] for r in rows])))
    width = max(len(r[0]) for r in rows)
    print(f"{'image':<{width}}  {'AP':>6}  {'SEG':>6}")
    for name, ap, seg in rows:
        print(f"{name:<{width}}  {ap:6.3f}  {seg:6.3f}")
    if args.csv:
        with open(args.csv, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["image", "AP", "SEG"])
            writer.writerows((name, f"{ap:.6f}", f"{seg:.6f}") for name, ap, seg in rows)


def export(args):
    output = Path(args.output)
    if output.exists() and not args.overwrite:
        raise FileExistsError(f"{output} exists; pass --overwrite to replace it")
    estimator = DenoiSegEstimator.load(args.model)
    test_image = (None if args.test_image is None
                  else read_image(Path(args.test_image), estimator.axes))
    estimator.export_bioimageio(output, name=args.name, authors=args.author,
                                description=args.description, license=args.license,
                                test_image=test_image)
    print(f"bioimage.io model package written to {output}")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="denoiseg",
        description="DenoiSeg: joint denoising and instance segmentation of microscopy images.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name, help_text):
        return commands.add_parser(name, help=help_text, description=help_text,
                                   epilog=EXAMPLES[name],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)

    train_parser = command("train", "Train a model on images and a few masks.")
    train_parser.add_argument("images", nargs="+",
                              help="folders, glob patterns or files of images (2D unless --axes)")
    train_parser.add_argument("--masks", help="folder of instance masks, matched by file "
                              "name (IMG.tif, IMG_mask.tif, IMG_masks.tif, IMG_label.tif, "
                              "IMG_labels.tif or IMG_seg.tif for IMG.tif); images without a "
                              "mask train the denoiser only")
    train_parser.add_argument("--mask-suffix", metavar="SUFFIX",
                              help="the one ending of mask names after the image's name, "
                              "e.g. _cp_masks for IMG_cp_masks.tif; '' for the same name")
    train_parser.add_argument("--model", required=True, help="model file to write (.pt)")
    train_parser.add_argument("--init", metavar="MODEL",
                              help="a model file or exported bioimage.io package to continue "
                              "from (warm start: more epochs, fine-tuning on new images); its "
                              "parameters apply, replaced by the options given")
    train_parser.add_argument("--overwrite", action="store_true",
                              help="replace an existing model file")
    _add_estimator_options(train_parser)
    train_parser.set_defaults(run=train)

    predict_parser = command("predict", "Segment (and denoise) images with a model.")
    predict_parser.add_argument("model", help="model file written by 'denoiseg train'")
    predict_parser.add_argument("images", help="folder, glob pattern or file of images "
                                "(with the model's axes)")
    predict_parser.add_argument("--output", required=True, help="folder for the results")
    predict_parser.add_argument("--denoised", action="store_true",
                                help="also write NAME_denoised.tif (float32)")
    predict_parser.add_argument("--overwrite", action="store_true",
                                help="replace existing output files")
    predict_parser.add_argument("--quiet", action="store_true", help="no progress bar")
    predict_parser.set_defaults(run=predict)

    evaluate_parser = command("evaluate", "Score predictions against masks (AP and SEG).")
    evaluate_parser.add_argument("--predictions", help="folder of predicted label images")
    evaluate_parser.add_argument("--model", help="model file, to predict --images first")
    evaluate_parser.add_argument("--images", help="images to predict with --model")
    evaluate_parser.add_argument("--masks", required=True, help="folder of true masks")
    evaluate_parser.add_argument("--csv", help="also write the table to this CSV file")
    evaluate_parser.add_argument("--axes", choices=("YX", "ZYX"), default="YX",
                                 help="axes of the --predictions and masks (with --model: "
                                 "the model's) (default: YX)")
    evaluate_parser.set_defaults(run=evaluate)

    export_parser = command("export", "Export a model as a BioImage Model Zoo package (zip) "
                            "for Fiji (deepImageJ), napari and bioimage.io; needs "
                            "pip install 'sklearn_denoiseg[bioimageio]'.")
    export_parser.add_argument("model", help="model file written by 'denoiseg train'")
    export_parser.add_argument("output", help="package to write (.zip)")
    export_parser.add_argument("--name", required=True,
                               help="model name: 5 to 128 letters, digits, spaces and _+-()")
    export_parser.add_argument("--author", required=True, action="append",
                               help="an author's name; repeat for several authors")
    export_parser.add_argument("--description",
                               help="one or two sentences (default: a description of DenoiSeg)")
    export_parser.add_argument("--license", default="CC-BY-4.0",
                               help="SPDX license identifier of the weights "
                               "(default: CC-BY-4.0)")
    export_parser.add_argument("--test-image", metavar="FILE",
                               help="an image with the model's axes, stored with its outputs "
                               "and drawn on the cover (default: a synthetic image)")
    export_parser.add_argument("--overwrite", action="store_true",
                               help="replace an existing package")
    export_parser.set_defaults(run=export)
    return parser


INTERRUPTED = 130
"""Exit status after Ctrl-C, as shells report a command ended by SIGINT; an
interrupted ``train`` still saves the model it keeps."""


def _warning_printer(command):
    """A ``warnings.showwarning`` that prints one line per warning, like the
    errors, instead of Python's file name, line number and source line."""

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        print(f"denoiseg {command}: warning: {text}", file=file or sys.stderr)

    return show


def main(argv=None):
    """Entry point of the ``denoiseg`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    # catch_warnings puts the caller's showwarning back: tests and notebooks
    # call main() in their own process
    with warnings.catch_warnings():
        warnings.showwarning = _warning_printer(args.command)
        try:
            return args.run(args) or 0
        except (ValueError, TypeError, OSError, ImportError, TrainingDivergedError) as error:
            print(f"denoiseg {args.command}: error: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"denoiseg {args.command}: interrupted", file=sys.stderr)
            return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
