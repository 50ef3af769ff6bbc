"""A trained DenoiSeg network ready to predict: weights, normalisation,
output channels, tiling and arithmetic. Nothing of training."""

from typing import NamedTuple

import numpy as np
import torch

from . import _bioimageio, _persistence
from ._allocator import keep_freed_memory
from ._axes import ImageAxes
from ._channels import ChannelLayout
from ._hardware import resolve_device, resolve_precision
from ._instances import foreground_to_instances
from ._normalization import denormalize, normalize
from ._tiling import check_tile_size, context_margin, predict_tiled, tile_shape
from ._unet import UNet, memory_format
from ._validation import check_images


class Outputs(NamedTuple):
    """Everything one forward pass gives for one image.

    Attributes
    ----------
    denoised : ndarray, float32
        Denoised image in the units and the layout of the input.
    proba : ndarray of shape (*spatial, 3), float32
        Probabilities of background, foreground and border.
    """

    denoised: np.ndarray
    proba: np.ndarray

    def labels(self, threshold):
        """Instance labels: connected components of foreground > threshold."""
        return foreground_to_instances(self.proba[..., 1], threshold)


class DenoiSegPredictor:
    """A trained DenoiSeg U-Net with what it needs to predict.

    It normalises images with the training statistics, pads them by the
    border rule of ``sklearn_denoiseg._tiling`` (mirroring at their end up to
    the network's grid, then by the context margin on every side, as
    bioimage.io consumers pad exported packages), predicts large images in
    overlapping tiles and small images of one shape in batches of up to the
    pixels of one tile, and maps the outputs back: denoised images to input
    units, class logits to probabilities. It is what a
    fitted :class:`~sklearn_denoiseg.DenoiSegEstimator` keeps as
    ``predictor_``, and what is shipped to Dask workers; it knows nothing of
    training and pickles without optimiser state.

    Parameters
    ----------
    module : UNet
        The trained network (``sklearn_denoiseg._unet.UNet``).
    mean, std : float or sequence of float
        Normalisation statistics of the training images, one per channel.
    axes : str, default="YX"
        Axes of one image (see :class:`~sklearn_denoiseg.DenoiSegEstimator`);
        they must match the network's spatial axes and channels.
    tile_size : int, tuple of int or None, default=None
        Largest image side predicted in one pass, on every spatial axis or
        one per spatial axis; larger images are tiled with the same result.
        None: images of up to 1024x1024 in one pass in 2D, windows of
        (64, 256, 256) in 3D (see
        :class:`~sklearn_denoiseg.DenoiSegEstimator`).
    device : str, default="auto"
        Torch device to predict on; "auto" picks CUDA when available. A CUDA
        device missing here (a model trained on a GPU, loaded elsewhere)
        falls back to the CPU with a
        :class:`~sklearn_denoiseg.exceptions.DeviceFallbackWarning`.
    precision : {"auto", "bf16", "fp32"}, default="auto"
        Arithmetic of prediction; "auto" uses bfloat16 autocast where the
        hardware runs it natively.

    Attributes
    ----------
    layout : ChannelLayout
        Which output channel is which.
    margin : int
        Context, in pixels, that a tile keeps around its core, and the
        padding at the image border.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_denoiseg._unet import UNet
    >>> predictor = DenoiSegPredictor(UNet(depth=2, n_filters=8), mean=0.0, std=1.0)
    >>> outputs = predictor.predict_all([np.zeros((20, 30), np.float32)])
    >>> outputs[0].denoised.shape, outputs[0].proba.shape
    ((20, 30), (20, 30, 3))
    """

    def __init__(self, module, *, mean, std, axes="YX", tile_size=None, device="auto",
                 precision="auto"):
        self.module = module
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        self.axes = ImageAxes(axes)
        self.tile_size = tile_size
        n_channels = module.architecture["in_channels"]
        if self.axes.n_spatial != module.n_dims or len(self.mean) != n_channels:
            raise ValueError(
                f"axes={axes!r} and {len(self.mean)} normalisation channel(s) do not fit a "
                f"{module.n_dims}D network for {n_channels} channel(s)")
        self.layout = ChannelLayout(n_channels)
        self._place(device, precision)

    def _place(self, device, precision):
        self.device = resolve_device(device, fallback="cpu")
        self.precision = precision
        self._autocast = resolve_precision(precision, self.device,
                                           self.module.n_dims) == "bf16"
        self.module.to(self.device, memory_format=memory_format(self.module.n_dims)).eval()

    @property
    def depth(self):
        return self.module.depth

    @property
    def margin(self):
        return context_margin(self.depth, self.module.n2v2)

    # ------------------------------------------------------------- forward

    def _forward(self, batch):
        """Outputs of a normalised batch (B, C, *spatial): (B, n_outputs,
        *spatial) float32 with class probabilities."""
        x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
        x = x.contiguous(memory_format=memory_format(self.module.n_dims))
        device_type = torch.device(self.device).type
        with torch.inference_mode(), torch.autocast(
            device_type, dtype=torch.bfloat16, enabled=self._autocast
        ):
            out = self.module(x).float()
            classes = self.layout.classes
            out[:, classes] = torch.softmax(out[:, classes], dim=1)
        return out.cpu().numpy()

    def _outputs(self, images, channels):
        """Kept output channels of every image, (n_kept, *spatial) float32 each."""
        n_dims = self.module.n_dims
        check_tile_size(self.tile_size, self.depth, n_dims, self.module.n2v2)
        grid = 2**self.depth
        with keep_freed_memory():
            return predict_tiled(
                self._forward,
                [normalize(self.axes.to_channels_first(image), self.mean, self.std)
                 for image in images],
                multiple=grid,
                tile=tile_shape(self.tile_size, self.depth, n_dims, self.module.n2v2),
                margin=self.margin,
                channels=channels,
            )

    def _checked(self, images):
        return check_images(images, "images", self.axes, self.layout.n_channels)[0]

    def _denoised(self, out):
        """Denoised channels of an output, in input units and layout."""
        return self.axes.from_channels_first(denormalize(out, self.mean, self.std))

    # ------------------------------------------------------------ outputs

    def predict_all(self, images):
        """Denoised image and class probabilities of each image, from one
        forward pass.

        Parameters
        ----------
        images : ndarray of shape (n, *image_axes) or list of images

        Returns
        -------
        list of Outputs
        """
        outputs = self._outputs(self._checked(images), slice(None))
        layout = self.layout
        return [Outputs(self._denoised(out[layout.denoised]),
                        np.moveaxis(out[layout.classes], 0, -1)) for out in outputs]

    def denoise(self, images):
        """Denoised images in the units of the input.

        Returns
        -------
        list of ndarray, float32
            Each in the layout of its input.
        """
        outputs = self._outputs(self._checked(images), self.layout.denoised)
        return [self._denoised(out) for out in outputs]

    def proba(self, images):
        """Class probabilities [background, foreground, border] per pixel.

        Returns
        -------
        list of ndarray (*spatial, 3), float32
        """
        outputs = self._outputs(self._checked(images), self.layout.classes)
        return [np.moveaxis(out, 0, -1) for out in outputs]

    def foreground(self, images):
        """Foreground probability per pixel.

        Returns
        -------
        list of ndarray (*spatial), float32
        """
        index = self.layout.foreground
        outputs = self._outputs(self._checked(images), slice(index, index + 1))
        return [out[0] for out in outputs]

    def segment(self, images, threshold):
        """Instance labels: connected components (face connectivity: 4 in 2D,
        6 in 3D) of the foreground probability above ``threshold``.

        Returns
        -------
        list of ndarray (*spatial), int32
        """
        return [foreground_to_instances(fg, threshold) for fg in self.foreground(images)]

    # -------------------------------------------------------- persistence

    def metadata(self):
        """Everything but the weights, as plain values."""
        return {"architecture": self.module.architecture, "mean": self.mean.tolist(),
                "std": self.std.tolist(), "axes": self.axes.axes, "tile_size": self.tile_size,
                "precision": self.precision, "device": self.device}

    def weights(self):
        """The network's weights, on the CPU."""
        return _persistence.cpu_state(self.module.state_dict())

    @classmethod
    def from_metadata(cls, metadata, weights, **overrides):
        """Rebuild a predictor from :meth:`metadata` and :meth:`weights`;
        ``overrides`` replace entries of the metadata (e.g. ``device``)."""
        settings = {**metadata, **overrides}
        return cls(_network(settings["architecture"], weights), mean=settings["mean"],
                   std=settings["std"], axes=settings["axes"], tile_size=settings["tile_size"],
                   device=settings["device"], precision=settings["precision"])

    def save(self, path):
        """Write the predictor to a model file that loads without unpickling.

        Parameters
        ----------
        path : str or Path
        """
        _persistence.write(path, {"predictor": self.metadata()}, {"weights": self.weights()})

    @classmethod
    def load(cls, path, *, device="auto"):
        """Read a predictor from a file written by :meth:`save` or by
        :meth:`DenoiSegEstimator.save <sklearn_denoiseg.DenoiSegEstimator.save>`,
        or from a bioimage.io package written by
        :meth:`DenoiSegEstimator.export_bioimageio
        <sklearn_denoiseg.DenoiSegEstimator.export_bioimageio>`.

        Parameters
        ----------
        path : str or Path
        device : str, default="auto"
            Device to predict on.

        Returns
        -------
        DenoiSegPredictor
        """
        with _bioimageio.opened_model_file(path) as model_file:
            metadata, tensors, version = _persistence.read(model_file)
        try:
            settings = _persistence.model_metadata(metadata, version)["predictor"]
            return cls.from_metadata(settings, tensors["weights"], device=device)
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise ValueError(f"{path} does not describe a valid DenoiSeg model: {error}") from error

    def __getstate__(self):
        # weights on the CPU and the arguments that rebuild the network: a
        # model trained on a GPU unpickles on a machine without one
        state = {k: v for k, v in vars(self).items() if k not in ("module", "_autocast")}
        state["module"] = (self.module.architecture, self.weights())
        return state

    def __setstate__(self, state):
        architecture, weights = state.pop("module")
        vars(self).update(state)
        self.module = _network(architecture, weights)
        self._place(self.device, self.precision)


def _network(architecture, weights):
    """The U-Net of ``architecture`` (``UNet.architecture``) with ``weights``."""
    module = UNet(**architecture)
    module.load_state_dict(weights)
    return module
