"""BioImage Model Zoo packages: a fitted model as a zip of the bioimage.io
model spec 0.5, which Fiji (deepImageJ), napari, ilastik and
``bioimageio.core`` run, and which :meth:`DenoiSegEstimator.load
<sklearn_denoiseg.DenoiSegEstimator.load>` reads back.

A package holds

- the weights twice: ``pytorch_state_dict``, whose architecture is
  :class:`ProbabilityUNet` of this module (consumers need sklearn_denoiseg
  installed), and ``torchscript``, a trace of the same network that runs with
  PyTorch alone (deepImageJ);
- one input ``raw`` with axes (batch, channel, [z,] y, x), normalised by the
  training mean and standard deviation per channel
  (``fixed_zero_mean_unit_variance``);
- one output ``prediction`` with channels ``denoised`` (one per input
  channel, ``denoised_0``, ...) then ``background``, ``foreground`` and
  ``border`` probabilities: the network applies the softmax itself, and a
  ``scale_linear`` per channel maps the denoised channels back to input
  units (gain = std, offset = mean; gain 1, offset 0 on the probabilities);
- tiling hints: spatial sizes ``min + n * 2**depth``, a halo of the
  network's context margin and symmetric (mirror) padding. A consumer pads
  the image by the halo with that padding (bioimageio.core does, whole or
  in tiles) and so applies the estimator's border rule (:mod:`._tiling`):
  for an image whose sides are multiples of ``2**depth`` its outputs are the
  estimator's up to float rounding, border included; other images are
  first mirrored at their end up to such sides, as the estimator does;
- test tensors computed by the exported network (also as TIFF sample
  tensors), a cover image, a README,
  and the package's own model file (``DenoiSegEstimator.save``), from which
  ``load`` rebuilds the estimator with its threshold and history.

``bioimageio.spec`` is imported only when exporting (the optional extra
``bioimageio``); reading a package back needs only this package.
"""

import contextlib
import hashlib
import os
import tempfile
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import tifffile
import torch

from ._axes import per_axis
from ._channels import ChannelLayout
from ._instances import foreground_to_instances
from ._normalization import denormalize, normalize
from ._parameters import with_defaults
from ._tiling import BORDER_MODE, smallest_tile
from ._unet import UNet
from ._validation import check_images
from .datasets import make_blobs

MODEL_FILE = "sklearn_denoiseg_model.pt"
"""Name of the package's own model file inside an exported zip."""

DESCRIPTION_FILES = ("bioimageio.yaml", "rdf.yaml")
"""Names of the model description inside a bioimage.io package."""

DENOISEG_CITATION = {
    "text": "Buchholz, Prakash, Schmidt, Krull, Jug. DenoiSeg: Joint Denoising and "
            "Segmentation. ECCV 2020 Workshops (BioImage Computing); arXiv:2005.02987",
    "doi": "10.1007/978-3-030-66415-2_21",
}

DEFAULT_DESCRIPTION = (
    "DenoiSeg: one U-Net that denoises (Noise2Void) and segments instances from few "
    "annotations; outputs a denoised image and background, foreground and border "
    "probabilities."
)

PADDING = {"reflect": "ReflectPadding", "symmetric": "SymmetricPadding", "edge": "EdgePadding"}
"""The bioimage.io padding (a class of ``bioimageio.spec.model.v0_5``) of
each border mode of :mod:`._tiling`."""

TEST_SIDE = {2: (256, 256), 3: (32, 128, 128)}
"""Largest test image cut from a given one, per number of spatial axes (the
model test runs it in one pass), unless the network needs more."""


class ProbabilityUNet(UNet):
    """The DenoiSeg U-Net with class probabilities instead of logits.

    The architecture of exported ``pytorch_state_dict`` weights: the same
    parameters as :class:`~sklearn_denoiseg._unet.UNet` (its state dict
    loads unchanged), and a forward pass that returns the denoised channels
    (normalised units) followed by the softmax of the three class logits.
    Exported packages name this class by its import path,
    ``sklearn_denoiseg._bioimageio.ProbabilityUNet``: keep it here.

    Examples
    --------
    >>> out = ProbabilityUNet(depth=2, n_filters=8)(torch.zeros(1, 1, 32, 32))
    >>> out.shape, bool(torch.allclose(out[:, 1:].sum(dim=1), torch.tensor(1.0)))
    (torch.Size([1, 4, 32, 32]), True)
    """

    def forward(self, x):
        layout = ChannelLayout(self.architecture["in_channels"])
        out = super().forward(x)
        return torch.cat([out[:, layout.denoised], torch.softmax(out[:, layout.classes], dim=1)],
                         dim=1)


def is_package(path):
    """Whether ``path`` is a bioimage.io package (a zip with a model
    description), rather than a model file of this package (also a zip, as
    ``torch.save`` writes them)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name in DESCRIPTION_FILES for name in archive.namelist())


@contextlib.contextmanager
def opened_model_file(path):
    """The package's own model file, extracted from an exported zip for the
    time of the ``with`` block; a model file of this package as it is.

    Parameters
    ----------
    path : str or Path
        A model file written by ``save``, or a bioimage.io package.

    Yields
    ------
    Path
        A model file that ``_persistence.read`` reads.

    Raises
    ------
    ValueError
        If the package was not exported by sklearn_denoiseg, or is
        corrupted; messages about the model file name the package.
    """
    if not is_package(path):
        yield Path(path)
        return
    with tempfile.TemporaryDirectory() as folder:
        try:
            with zipfile.ZipFile(path) as archive:
                if MODEL_FILE not in archive.namelist():
                    raise ValueError(
                        f"{path} is a bioimage.io model package, but not one exported by "
                        f"sklearn_denoiseg (it holds no {MODEL_FILE}); only packages written "
                        "by export_bioimageio load as a DenoiSegEstimator")
                extracted = Path(archive.extract(MODEL_FILE, folder))
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:
            raise ValueError(f"{path} is a corrupted bioimage.io package: its {MODEL_FILE} "
                             f"cannot be extracted ({error})") from None
        try:
            yield extracted
        except ValueError as error:
            # the temporary file's name means nothing to the user
            raise ValueError(str(error).replace(str(extracted), f"{MODEL_FILE} in {path}")
                             ) from None


def _import_spec():
    """The bioimageio.spec modules export needs, or an ImportError that names
    the extra to install."""
    try:
        import bioimageio.spec
        from bioimageio.spec.model import v0_5
    except ImportError as error:
        raise ImportError(
            "exporting to the BioImage Model Zoo format needs bioimageio.spec and "
            "bioimageio.core: pip install 'sklearn_denoiseg[bioimageio]'") from error
    return bioimageio.spec, v0_5


# ----------------------------------------------------------------- tensors

def _test_image(estimator, test_image, min_side):
    """The test input, channels first (C, *spatial), float32, with every
    side a multiple of ``2**depth`` of at least ``min_side``: bioimage.io
    consumers refuse smaller inputs, and the network runs it without padding.

    A given image is cut from its origin to at most :data:`TEST_SIDE` (or
    ``min_side``), and reflected at its end up to ``min_side``. None makes a
    synthetic image of the shape of a training patch (at least
    ``min_side``): bright disks on noise, scaled to the mean and standard
    deviation of each training channel.
    """
    predictor = estimator.predictor_
    axes = predictor.axes
    grid = 2**predictor.depth
    if test_image is None:
        patch = per_axis(with_defaults(estimator.get_params())["patch_size"], axes.n_spatial)
        shape = tuple(max(side, min_side) for side in patch)
        blobs = make_blobs(n_images=1, shape=shape, random_state=0)[0][0]
        blobs = (blobs - blobs.mean()) / blobs.std()
        return np.stack([blobs * s + m for m, s in zip(predictor.mean, predictor.std)]
                        ).astype(np.float32)
    image = check_images([test_image], "test_image", axes)[0][0]
    if axes.n_channels(image) != len(predictor.mean):
        raise ValueError(f"test_image has {axes.n_channels(image)} channel(s) but the model "
                         f"was trained on {len(predictor.mean)}")
    image = axes.to_channels_first(image)
    sides = [max(min_side, min(side, largest) // grid * grid)
             for side, largest in zip(image.shape[1:], TEST_SIDE[axes.n_spatial])]
    image = image[(slice(None), *map(slice, sides))]
    pads = [(0, 0)] + [(0, side - have) for side, have in zip(sides, image.shape[1:])]
    return np.pad(image, pads, mode="reflect").astype(np.float32)


def _network(predictor):
    """The exported network: the predictor's weights in a
    :class:`ProbabilityUNet`, float32 on the CPU, in evaluation mode."""
    network = ProbabilityUNet(**predictor.module.architecture)
    network.load_state_dict(predictor.weights())
    return network.eval()


def _predict(network, image, mean, std):
    """What a consumer of the package computes for a (C, *spatial) image:
    normalisation, the network in float32, denoised channels back to input
    units. Returns (n_outputs, *spatial) float32."""
    layout = ChannelLayout(len(mean))
    with torch.inference_mode():
        out = network(torch.from_numpy(normalize(image, mean, std))[None])[0].numpy()
    out[layout.denoised] = denormalize(out[layout.denoised], mean, std)
    return out


def _torchscript(network, example):
    """A trace of ``network`` on ``example``; traced, not scripted, since the
    U-Net's loops over its levels do not script."""
    with warnings.catch_warnings(), torch.inference_mode():
        # torch 2.13 calls tracing deprecated (in favour of torch.export),
        # but bioimage.io consumers such as deepImageJ read TorchScript
        warnings.filterwarnings("ignore", category=DeprecationWarning,
                                module=r"torch\.jit\._trace")
        return torch.jit.trace(network, example)


# ------------------------------------------------------------ human files

def _to_uint8(image):
    """A 2D image stretched between its 1st and 99.8th percentiles."""
    low, high = np.percentile(image, (1, 99.8))
    return (np.clip((image - low) / max(high - low, 1e-12), 0, 1) * 255).astype(np.uint8)


def _cover(path, image, out, layout, threshold):
    """Write a 2:1 PNG cover: the input (first channel) on the left; on the
    right the denoised image with the outlines of the instances (foreground
    probability above ``threshold``) in magenta. Stacks show their middle
    plane; small images are enlarged to at least 256 pixels high."""
    import imageio.v3 as iio
    from skimage.segmentation import find_boundaries

    labels = foreground_to_instances(out[layout.foreground], threshold)
    plane = image.shape[1] // 2 if image.ndim == 4 else slice(None)
    raw, denoised, labels = image[0][plane], out[0][plane], labels[plane]
    right = np.repeat(_to_uint8(denoised)[..., None], 3, axis=-1)
    right[find_boundaries(labels, mode="inner")] = (255, 0, 255)
    left = np.repeat(_to_uint8(raw)[..., None], 3, axis=-1)
    cover = np.concatenate([left, right], axis=1)
    zoom = max(1, 256 // cover.shape[0])
    iio.imwrite(path, np.repeat(np.repeat(cover, zoom, axis=0), zoom, axis=1))


def _readme(path, *, name, description, estimator, layout, halo, min_side, version):
    """Write the package's documentation (README.md): what goes in and comes
    out, how to get instances, tiling, weights, validation, citation."""
    predictor = estimator.predictor_
    params = estimator.get_params()
    spatial = ", ".join(predictor.axes.spatial.lower())
    n_dims = predictor.axes.n_spatial
    threshold = estimator.threshold_
    score = estimator.threshold_scores_.get(threshold)
    tuned = (f"The threshold {threshold:.2f} gave a mean average precision (IoU > 0.5) of "
             f"{score:.3f} on the annotated images it was tuned on."
             if score is not None else f"The threshold {threshold:.2f} was set by hand.")
    network = (f"a {n_dims}D U-Net of depth {params['depth']} with {params['n_filters']} "
               f"filters at its first level" + (" and N2V2 blur-pool" if params["n2v2"] else ""))
    untrained = ("\n**This model was trained without the denoising loss (alpha = 0): its "
                 "denoised channels are not meaningful.**\n" if params["alpha"] == 0 else "")
    text = f"""# {name}

{description}

A DenoiSeg model (Buchholz et al., 2020) trained with sklearn_denoiseg {version}: {network}, \
which denoises the image (Noise2Void, self-supervised) and classifies every pixel as \
background, foreground or border, learned from a few annotated images \
(alpha = {params["alpha"]}).
{untrained}
## Input

`raw`, axes (batch, channel, {spatial}), {len(predictor.mean)} channel(s), any units. The \
model normalises it with the mean ({_numbers(predictor.mean)}) and standard deviation \
({_numbers(predictor.std)}) of its training images (`fixed_zero_mean_unit_variance`).

## Output

`prediction`, same axes and size, channels {", ".join(f"`{n}`" for n in layout.names)}:

- `denoised`: the denoised image, in the units of the input;
- `background`, `foreground`, `border`: class probabilities, which sum to 1.

## From probabilities to instances

Threshold the `foreground` channel at **{threshold:.2f}** (tuned for this model) and \
label the connected components ({4 if n_dims == 2 else 6}-connectivity): they are the \
instances. Border pixels, a class of their own, keep touching objects apart.

```python
from scipy import ndimage
# prediction: (batch, channel, {spatial}), as the model outputs it
labels, n_objects = ndimage.label(prediction[0, {layout.foreground}] > {threshold:.2f})
```

In Fiji: duplicate the foreground channel, *Image > Adjust > Threshold* at \
{threshold:.2f}, then *Analyze > Analyze Particles* (or MorphoLibJ's *Connected \
Components Labeling*).

## Image border and tiling

Input sides are {min_side} + n * {2 ** params["depth"]} pixels. Pad the image by the \
halo of {halo} pixels (the network's receptive field) on every side by mirroring \
(`{BORDER_MODE}`, the edge pixel repeated, as declared; bioimageio.core does this), \
run the model, and crop \
the halo off the output. Tiles that overlap by the halo give the same result as one \
pass over the whole image. This is the rule of sklearn_denoiseg's own prediction \
(`predict`, `predict_proba`, `transform`), which matches this package up to float \
rounding everywhere, border included. An image whose sides are not multiples of \
{2 ** params["depth"]} is first mirrored the same way at the end of each axis up to \
the next multiple (sklearn_denoiseg does the same), and the output cropped back to its \
size.

## Weights

- `pytorch_state_dict` needs `sklearn_denoiseg` installed: the architecture is \
`sklearn_denoiseg._bioimageio.ProbabilityUNet`.
- `torchscript` runs with PyTorch alone (deepImageJ, bioimageio.core).

With `sklearn_denoiseg` installed, `DenoiSegEstimator.load("package.zip")` rebuilds \
the fitted estimator, with its threshold and training history, from `{MODEL_FILE}` \
inside the package.

## Validation

{tuned} To validate the model on your data, annotate a few images (instance labels, \
0 = background) and compute the average precision of the predicted instances, e.g. \
with `sklearn_denoiseg.metrics.average_precision` or `DenoiSegEstimator.score`.

## Citation

Tim-Oliver Buchholz, Mangal Prakash, Deborah Schmidt, Alexander Krull, Florian Jug. \
DenoiSeg: Joint Denoising and Segmentation. ECCV 2020 Workshops (BioImage Computing). \
doi:10.1007/978-3-030-66415-2_21, arXiv:2005.02987.
"""
    Path(path).write_text(text, encoding="utf-8")


def _numbers(values):
    return ", ".join(f"{v:.6g}" for v in values)


# ------------------------------------------------------------------ export

def _tensors(v0_5, described, predictor, halo, min_side):
    """Descriptions of the input ``raw`` and the output ``prediction``."""
    mean, std = predictor.mean, predictor.std
    layout = ChannelLayout(len(mean))
    n_classes = layout.n_outputs - layout.n_channels
    spatial = [v0_5.AxisId(axis.lower()) for axis in predictor.axes.spatial]
    raw = v0_5.TensorId("raw")
    if layout.n_channels == 1:
        names = ["raw"]
        normalisation = v0_5.FixedZeroMeanUnitVarianceKwargs(mean=mean[0], std=std[0])
    else:
        names = [f"raw_{c}" for c in range(layout.n_channels)]
        normalisation = v0_5.FixedZeroMeanUnitVarianceAlongAxisKwargs(
            axis=v0_5.AxisId("channel"), mean=list(mean), std=list(std))
    to_input_units = []
    if np.any(std != 1) or np.any(mean != 0):  # the spec refuses an identity
        to_input_units.append(v0_5.ScaleLinearDescr(kwargs=v0_5.ScaleLinearAlongAxisKwargs(
            axis=v0_5.AxisId("channel"), gain=[*map(float, std), *[1.0] * n_classes],
            offset=[*map(float, mean), *[0.0] * n_classes])))
    inputs = v0_5.InputTensorDescr(
        id=raw, description="image, any units (the model normalises it)",
        axes=[v0_5.BatchAxis(), v0_5.ChannelAxis(channel_names=names),
              *[v0_5.SpaceInputAxis(id=axis, size=v0_5.ParameterizedSize(
                  min=min_side, step=2**predictor.depth)) for axis in spatial]],
        test_tensor=described("test_input"), sample_tensor=described("sample_input"),
        # consumers pad by the halo as the estimator does; the mode is given
        # explicitly, since the spec does not write unset fields and reads a
        # padding without one as constant
        pad=getattr(v0_5, PADDING[BORDER_MODE])(mode=BORDER_MODE),
        preprocessing=[v0_5.FixedZeroMeanUnitVarianceDescr(kwargs=normalisation)])
    outputs = v0_5.OutputTensorDescr(
        id=v0_5.TensorId("prediction"),
        description="denoised image (input units), then background, foreground and border "
                    "probabilities",
        axes=[v0_5.BatchAxis(), v0_5.ChannelAxis(channel_names=list(layout.names)),
              *[v0_5.SpaceOutputAxisWithHalo(
                  id=axis, halo=halo, size=v0_5.SizeReference(tensor_id=raw, axis_id=axis))
                for axis in spatial]],
        test_tensor=described("test_output"), sample_tensor=described("sample_output"),
        postprocessing=to_input_units)
    return inputs, outputs


def _weights(v0_5, described, architecture):
    """The state dict with its architecture, and the TorchScript trace."""
    version = v0_5.Version(torch.__version__)
    return v0_5.WeightsDescr(
        pytorch_state_dict=v0_5.PytorchStateDictWeightsDescr(
            **described("weights", kind=dict), pytorch_version=version,
            architecture=v0_5.ArchitectureFromLibraryDescr(
                import_from=ProbabilityUNet.__module__, callable=ProbabilityUNet.__name__,
                kwargs=architecture)),
        torchscript=v0_5.TorchscriptWeightsDescr(
            **described("torchscript", kind=dict), pytorch_version=version,
            parent="pytorch_state_dict"))


@contextlib.contextmanager
def _metadata_errors():
    """Turn pydantic's multi-line validation errors of the model description
    into one ValueError that names each invalid field."""
    from pydantic import ValidationError

    try:
        yield
    except ValidationError as error:
        problems = {}
        for entry in error.errors():
            # one message per field: the alternatives of a union (pydantic's
            # bracketed location parts) repeat it, and lists of allowed
            # values (the SPDX licenses) run for pages
            field = ".".join(str(p) for p in entry["loc"] if "[" not in str(p)) or "model"
            message = entry["msg"] if len(entry["msg"]) < 160 else entry["msg"][:160] + " ..."
            problems.setdefault(field, message)
        raise ValueError("invalid metadata for bioimage.io: " + "; ".join(
            f"{field}: {message}" for field, message in problems.items())) from None


def export(estimator, path, *, name, description=None, authors, license="CC-BY-4.0",
           cite=(), test_image=None, tags=()):
    """Write a fitted, segmenting estimator as a bioimage.io model package.

    See :meth:`DenoiSegEstimator.export_bioimageio
    <sklearn_denoiseg.DenoiSegEstimator.export_bioimageio>`, which calls this.

    Returns
    -------
    Path
        The written zip file.
    """
    spec, v0_5 = _import_spec()
    from . import __version__

    if estimator.threshold_ is None:
        raise ValueError(
            "export_bioimageio exports models that segment, but this DenoiSegEstimator was "
            "fitted without annotated labels (y=None, all-zero label images, or alpha=1), "
            "so threshold_ is None; save the denoiser with save(), or fit with instance "
            "labels and alpha < 1")
    if isinstance(authors, str) or not authors:
        raise ValueError(f"authors must be a non-empty list of names (or dicts with 'name', "
                         f"'affiliation', 'email', 'github_user', 'orcid'); got {authors!r}")
    description = description or DEFAULT_DESCRIPTION
    predictor = estimator.predictor_
    mean, std = predictor.mean, predictor.std
    layout = ChannelLayout(len(mean))
    halo = predictor.margin
    min_side = smallest_tile(predictor.depth, predictor.module.n2v2)
    image = _test_image(estimator, test_image, min_side)
    network = _network(predictor)
    out = _predict(network, image, mean, std)

    path = Path(path)
    with tempfile.TemporaryDirectory() as folder:
        files = {key: Path(folder) / file_name for key, file_name in [
            ("weights", "weights.pt"), ("torchscript", "weights_torchscript.pt"),
            ("test_input", "test_input.npy"), ("test_output", "test_output.npy"),
            ("sample_input", "sample_input.tif"), ("sample_output", "sample_output.tif"),
            ("cover", "cover.png"), ("readme", "README.md"), ("model", MODEL_FILE)]}
        torch.save(network.state_dict(), files["weights"])
        example = torch.from_numpy(normalize(image, mean, std))[None]
        _torchscript(network, example).save(str(files["torchscript"]))
        np.save(files["test_input"], image[None])
        np.save(files["test_output"], out[None])
        # the same tensors as TIFF, for people and image viewers
        tifffile.imwrite(files["sample_input"], image)
        tifffile.imwrite(files["sample_output"], out)
        _cover(files["cover"], image, out, layout, estimator.threshold_)
        _readme(files["readme"], name=name, description=description, estimator=estimator,
                layout=layout, halo=halo, min_side=min_side, version=__version__)
        estimator.save(files["model"])

        def described(key, kind=spec.common.FileDescr):
            # hashes let consumers check the files; computed here because
            # the offline validation below computes none
            digest = hashlib.sha256(files[key].read_bytes()).hexdigest()
            return kind(source=files[key], sha256=spec.common.Sha256(digest))

        # no downloads, no URL checks: exports work offline; bioimageio.core's
        # model test (test_model) checks the files
        with spec.ValidationContext(perform_io_checks=False), _metadata_errors():
            inputs, outputs = _tensors(v0_5, described, predictor, halo, min_side)
            descr = v0_5.ModelDescr(
                name=name, description=description, license=license,
                authors=[{"name": a} if isinstance(a, str) else a for a in authors],
                cite=[DENOISEG_CITATION, *cite],
                tags=sorted({f"{predictor.axes.n_spatial}d", "pytorch", "unet", "denoiseg",
                             "n2v", "denoising", "instance-segmentation", *tags}),
                documentation=described("readme"), covers=[described("cover")],
                attachments=[described("model")],
                inputs=[inputs], outputs=[outputs],
                weights=_weights(v0_5, described, predictor.module.architecture),
                config={"sklearn_denoiseg": {
                    "version": __version__, "model_file": MODEL_FILE,
                    "axes": predictor.axes.axes, "threshold": float(estimator.threshold_)}})
            partial = path.with_name(f".{path.name}.{os.getpid()}.partial.zip")
            try:
                spec.save_bioimageio_package(descr, output_path=partial)
                os.replace(partial, path)
            finally:
                partial.unlink(missing_ok=True)
    return path
