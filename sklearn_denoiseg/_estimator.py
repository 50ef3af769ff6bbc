"""DenoiSegEstimator: joint Noise2Void denoising and few-shot segmentation."""

import math
import numbers
import os
import warnings
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import LRScheduler, PassthroughScoring, ProgressBar
from skorch.helper import predefined_split
from skorch.history import History

from ._checkpoint import Checkpoint, fingerprint, restore
from ._hardware import cpu_has_native_bf16
from ._instances import foreground_to_instances, search_threshold
from ._loss import DenoiSegLoss
from ._net import LOSS_TERMS, DenoiSegNet, RestoreBestWeights
from ._normalization import denormalize, fit_normalization, normalize
from ._persistence import cpu_state, read, write
from ._patches import BatchSeeds, FixedBatches, PatchSampler, RandomBatches
from ._split import split_images
from ._targets import labels_to_classes
from ._tiling import predict_tiled
from ._unet import UNet, receptive_field_radius
from ._validation import check_images, check_labels, check_scalar
from .metrics import average_precision

LR_FACTOR, LR_PATIENCE, MIN_LR = 0.75, 10, 1.25e-5
"""ReduceLROnPlateau settings of the paper's runs."""

PRECISIONS = ("auto", "bf16", "fp32")

DENOISED, CLASSES, FOREGROUND = slice(0, 1), slice(1, 4), slice(2, 3)
"""Network output channels read by transform, predict_proba and predict."""

AUGMENTATIONS = 8
"""Rotations by 90 degrees times flips, used to count the patches of an epoch."""


class DenoiSegEstimator(TransformerMixin, BaseEstimator):
    """Joint Noise2Void denoising and instance segmentation (DenoiSeg).

    One U-Net learns to denoise every image self-supervised (Noise2Void) and
    to classify pixels into background, foreground and border from the
    images that carry instance labels; instances are the connected components
    of the foreground probability above a threshold. Learning both tasks
    together makes segmentation from few annotated images much better.

    Parameters
    ----------
    alpha : float, default=0.5
        Weight of the denoising loss, in [0, 1]: the loss is
        ``alpha * L_denoise + (1 - alpha) * L_segment``. 1 trains a pure
        Noise2Void denoiser, 0 the segmentation-only "Baseline".
    depth : int, default=4
        Number of down-sampling steps of the U-Net.
    n_filters : int, default=32
        Filters of the U-Net's first level, doubled at each level.
    batch_norm : bool, default=True
        Batch normalisation after each convolution.
    patch_size : int, default=64
        Side of the square training patches, a multiple of ``2**depth``.
        Smaller images are padded, and padded pixels carry no loss.
    batch_size : int, default=128
        Patches per training step.
    max_epochs : int, default=200
        Number of epochs.
    steps_per_epoch : int or None, default=None
        Training steps per epoch. None: ``max(100, min(P / batch_size, 400))``
        with ``P`` the number of augmented patches (8 transforms of each
        non-overlapping patch) of the training images, as in the paper.
        Patches are drawn afresh for every step, so any number works.
    lr : float, default=4e-4
        Adam learning rate; reduced by 0.75 after 10 epochs without
        improvement of the validation loss, down to 1.25e-5.
    n2v_perc_pix : float, default=1.5
        Percentage of pixels of each patch masked for Noise2Void.
    n2v_radius : int, default=5
        Radius of the window from which masked pixels get their replacement.
    class_weights : tuple of 3 floats, default=(1.0, 1.0, 5.0)
        Loss weights of background, foreground and border pixels.
    label_fraction : float in (0, 1] or None, default=0.25
        Share of every batch drawn from annotated images (the rest comes from
        unannotated ones). None draws patches in proportion to image area, as
        in the paper, which starves the segmentation loss when a few small
        annotated images stand beside many large unannotated ones. Without
        either kind of image, patches are drawn in proportion to area. The
        default gave the best DenoiSeg AP on noisy nuclei with 2 annotated
        crops beside large unannotated images (``benchmarks/README.md``).
    validation_fraction : float, default=0.15
        Share of the images held out (whole images, annotated and unannotated
        ones separately) to monitor the loss, keep the best weights and
        choose the threshold. No validation is made from a single image.
        When no annotated image is held out, the validation loss measures
        the denoising term only; with ``alpha=0`` it would measure nothing,
        so the training loss is monitored instead.
    threshold : "auto" or float, default="auto"
        Foreground probability above which a pixel belongs to an object.
        "auto" picks the value maximising the mean AP on the annotated
        validation images (on the annotated training images, with a warning,
        when validation has none).
    tile_size : int, default=1024
        Largest image side processed in one pass at prediction; larger images
        are predicted in overlapping tiles, which bounds memory and gives the
        same result.
    device : {"auto", "cpu", "cuda"} or str, default="auto"
        Torch device; "auto" uses CUDA when available, else the CPU.
    precision : {"auto", "bf16", "fp32"}, default="auto"
        Arithmetic of training and prediction. "bf16" runs the network under
        bfloat16 autocast (mixed precision; weights, optimiser and loss stay
        float32); "fp32" runs in float32. "auto" picks "bf16" on CUDA devices
        and CPUs with native bfloat16 instructions (AVX512-BF16 or AMX), where
        it is much faster, and "fp32" elsewhere.
    checkpoint_dir : str, Path or None, default=None
        Directory for a training checkpoint, written after every epoch. A fit
        with the same parameters on the same data resumes from it (after a
        crash or an interruption), and returns the finished model at once
        when training had completed. The file name is a digest of both, so
        parallel fits (``GridSearchCV``) never share a file. None writes
        nothing.
    random_state : int, RandomState instance or None, default=None
        Seed of weight initialisation, data split, patch sampling and masks.
        The same seed gives identical results on the CPU.
    verbose : int, default=1
        0 is silent; 1 prints one line per epoch and a progress bar.

    Notes
    -----
    Pressing Ctrl-C during ``fit`` stops training after a warning and keeps
    a usable model with the best weights so far (and, with
    ``checkpoint_dir``, the last epoch on disk to resume from). A loss that
    becomes NaN or infinite stops training with a ``TrainingDivergedError``.

    Save a fitted model with :meth:`save` and read it with :meth:`load`: the
    file holds only tensors and plain data and loads without unpickling
    arbitrary objects. ``pickle`` also works, for files from trusted sources
    only.

    Attributes
    ----------
    net_ : DenoiSegNet
        The trained skorch network; ``net_.module_`` is the U-Net.
    history_ : skorch.History
        Per-epoch ``train_loss``, ``valid_loss``, ``train_n2v_loss``,
        ``train_seg_loss``, ``valid_n2v_loss``, ``valid_seg_loss``, ``lr``.
    threshold_ : float or None
        Foreground threshold used by :meth:`predict`; None when the model was
        trained without annotated images or with ``alpha=1``.
    threshold_scores_ : dict
        Mean AP per threshold tried by the "auto" search (empty otherwise).
    mean_, std_ : float
        Normalisation statistics of the training images.
    steps_per_epoch_ : int
        Training steps per epoch actually used.
    precision_ : str
        Precision actually used, "bf16" or "fp32".

    The torch device in use is ``net_.device``: a model trained on CUDA and
    unpickled on a machine without CUDA moves to the CPU (with a warning).

    See Also
    --------
    sklearn_denoiseg.metrics.average_precision : the score used by :meth:`score`.

    Examples
    --------
    >>> from sklearn_denoiseg import DenoiSegEstimator
    >>> from sklearn_denoiseg.datasets import make_blobs
    >>> X, y = make_blobs(n_images=4, shape=(32, 32), random_state=0)
    >>> est = DenoiSegEstimator(depth=2, n_filters=8, patch_size=32, batch_size=4,
    ...                         max_epochs=1, steps_per_epoch=2, random_state=0,
    ...                         verbose=0).fit(X, y)
    >>> est.predict(X).shape
    (4, 32, 32)
    >>> est.transform(X).dtype
    dtype('float32')
    """

    def __init__(
        self,
        *,
        alpha=0.5,
        depth=4,
        n_filters=32,
        batch_norm=True,
        patch_size=64,
        batch_size=128,
        max_epochs=200,
        steps_per_epoch=None,
        lr=4e-4,
        n2v_perc_pix=1.5,
        n2v_radius=5,
        class_weights=(1.0, 1.0, 5.0),
        label_fraction=0.25,
        validation_fraction=0.15,
        threshold="auto",
        tile_size=1024,
        device="auto",
        precision="auto",
        checkpoint_dir=None,
        random_state=None,
        verbose=1,
    ):
        self.alpha = alpha
        self.depth = depth
        self.n_filters = n_filters
        self.batch_norm = batch_norm
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.steps_per_epoch = steps_per_epoch
        self.lr = lr
        self.n2v_perc_pix = n2v_perc_pix
        self.n2v_radius = n2v_radius
        self.class_weights = class_weights
        self.label_fraction = label_fraction
        self.validation_fraction = validation_fraction
        self.threshold = threshold
        self.tile_size = tile_size
        self.device = device
        self.precision = precision
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.target_tags.required = False
        return tags

    # ------------------------------------------------------------------ fit

    def _check_params(self):
        Integral, Real = numbers.Integral, numbers.Real
        check_scalar(self.alpha, "alpha", low=0, high=1)
        check_scalar(self.depth, "depth", kind=Integral, low=1, high=8)
        check_scalar(self.n_filters, "n_filters", kind=Integral, low=1)
        if not isinstance(self.batch_norm, (bool, np.bool_)):
            raise TypeError(f"batch_norm must be True or False; got {self.batch_norm!r}")
        check_scalar(self.patch_size, "patch_size", kind=Integral, low=1)
        if self.patch_size % 2**self.depth:
            raise ValueError(
                f"patch_size must be a multiple of 2**depth = {2**self.depth}; "
                f"got {self.patch_size}"
            )
        check_scalar(self.batch_size, "batch_size", kind=Integral, low=1)
        check_scalar(self.max_epochs, "max_epochs", kind=Integral, low=1)
        check_scalar(self.steps_per_epoch, "steps_per_epoch", kind=Integral, low=1,
                     allow=(None,))
        check_scalar(self.lr, "lr", low=0, low_inclusive=False)
        check_scalar(self.n2v_perc_pix, "n2v_perc_pix", low=0, high=100,
                     low_inclusive=False)
        check_scalar(self.n2v_radius, "n2v_radius", kind=Integral, low=1)
        weights = np.asarray(self.class_weights, dtype=object)
        if weights.shape != (3,) or not all(
            isinstance(w, Real) and not isinstance(w, bool) and w >= 0 for w in weights
        ):
            raise ValueError(
                "class_weights must be 3 non-negative numbers (background, foreground, "
                f"border); got {self.class_weights!r}"
            )
        check_scalar(self.label_fraction, "label_fraction", low=0, high=1,
                     low_inclusive=False, allow=(None,))
        check_scalar(self.validation_fraction, "validation_fraction", low=0, high=1,
                     high_inclusive=False)
        check_scalar(self.threshold, "threshold", low=0, high=1, high_inclusive=False,
                     allow=("auto",))
        margin = self._margin()
        check_scalar(self.tile_size, "tile_size", kind=Integral,
                     low=2 * margin + 2**self.depth)
        check_scalar(self.verbose, "verbose", kind=Integral, low=0)
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {PRECISIONS}; got {self.precision!r}"
            )
        if self.checkpoint_dir is not None and not isinstance(
            self.checkpoint_dir, (str, os.PathLike)
        ):
            raise TypeError(
                f"checkpoint_dir must be a path or None; got {self.checkpoint_dir!r}"
            )

    def _resolve_device(self, fallback=None):
        """The torch device to use; with ``fallback``, a CUDA device that is not
        available is replaced by ``fallback`` with a warning instead of an
        error (for loading models trained elsewhere)."""
        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if not isinstance(self.device, str):
            raise TypeError(f"device must be 'auto', 'cpu' or 'cuda'; got {self.device!r}")
        try:
            device = torch.device(self.device)
        except RuntimeError as error:
            raise ValueError(
                f"device must be 'auto', 'cpu' or 'cuda[:index]'; got {self.device!r}"
            ) from error
        if device.type == "cuda" and not torch.cuda.is_available():
            if fallback is not None:
                warnings.warn(
                    f"device={self.device!r} is not available here; using {fallback!r}",
                    UserWarning,
                    stacklevel=3,
                )
                return fallback
            raise ValueError(
                f"device={self.device!r} was requested but CUDA is not available; "
                "use device='auto' or 'cpu'"
            )
        return self.device

    def _resolve_precision(self, device):
        on_cuda = torch.device(device).type == "cuda"
        fast_bf16 = torch.cuda.is_bf16_supported() if on_cuda else cpu_has_native_bf16()
        if self.precision == "auto":
            return "bf16" if fast_bf16 else "fp32"
        if self.precision == "bf16" and on_cuda and not fast_bf16:
            raise ValueError(
                "precision='bf16' was requested but this GPU has no bfloat16 support; "
                "use precision='auto' or 'fp32'"
            )
        return self.precision

    def _margin(self):
        grid = 2**self.depth
        return grid * math.ceil(receptive_field_radius(self.depth) / grid)

    def _auto_steps(self, images):
        patches = sum(
            max(1, image.shape[0] // self.patch_size) * max(1, image.shape[1] // self.patch_size)
            for image in images
        )
        return max(100, min(AUGMENTATIONS * patches // self.batch_size, 400))

    def fit(self, X, y=None):
        """Train the network on images ``X`` with optional instance labels ``y``.

        Parameters
        ----------
        X : ndarray of shape (n_images, H, W) or list of 2D arrays
            Noisy images, any real dtype; list images may differ in size.
        y : same form as X, or None
            Integer instance labels (0 = background) per image; an all-zero
            image marks an unannotated image, which still trains the
            denoiser. None trains a pure Noise2Void denoiser.

        Returns
        -------
        self : DenoiSegEstimator
        """
        self._forget_fit()
        try:
            return self._fit(X, y)
        except BaseException:
            # a failed fit leaves an unfitted estimator, never a half-trained one
            self._forget_fit()
            raise

    def _fit(self, X, y):
        self._check_params()
        device = self._resolve_device()
        self.precision_ = self._resolve_precision(device)
        images, _ = check_images(X)
        labels = None if y is None else check_labels(y, images)
        checkpoint, resume = self._open_checkpoint(images, labels)
        if resume is None:
            seeds = check_random_state(self.random_state).randint(0, 2**31 - 1, size=4)
        else:
            seeds = np.array(resume[0]["seeds"])

        self.mean_, self.std_ = fit_normalization(images)
        normalized = [normalize(image, self.mean_, self.std_) for image in images]
        if labels is None:
            classes = [None] * len(images)
        else:
            classes = [labels_to_classes(lab) if np.any(lab) else None for lab in labels]
        annotated = np.array([c is not None for c in classes])
        train, valid = split_images(
            annotated, self.validation_fraction, np.random.default_rng(seeds[0])
        )

        def sampler(indices):
            return PatchSampler(
                [normalized[i] for i in indices],
                [classes[i] for i in indices],
                patch_size=self.patch_size,
                batch_size=self.batch_size,
                label_fraction=self.label_fraction,
                perc_pix=self.n2v_perc_pix,
                radius=self.n2v_radius,
            )

        steps = self.steps_per_epoch or self._auto_steps([images[i] for i in train])
        self.steps_per_epoch_ = steps
        valid_batches = None
        # without annotated validation images the validation loss of a
        # segmentation-only model is always zero: monitor the training loss
        if len(valid) and (self.alpha > 0 or annotated[valid].any()):
            valid_patches = sum(
                math.ceil(images[i].shape[0] / self.patch_size)
                * math.ceil(images[i].shape[1] / self.patch_size)
                for i in valid
            )
            # about one pass over the validation images, but never more than a
            # quarter of the training steps of an epoch
            n_valid = min(math.ceil(valid_patches / self.batch_size), max(1, steps // 4))
            valid_batches = FixedBatches(sampler(valid), n_valid, seeds[1])

        checkpointer = None
        if checkpoint is not None:
            metadata = {**self._metadata(), "seeds": seeds.tolist()}
            checkpointer = Checkpoint(checkpoint, metadata, resume[1] if resume else None)
        net = self._build_net(steps, valid_batches, seeds[2], device, checkpointer)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seeds[3]))
            net.initialize()
        if resume is not None:
            restore(net, *resume)
            if self.verbose:
                print(f"resuming from {checkpoint} after epoch {len(net.history)}")
        # partial_fit, unlike fit, keeps the seeded initialisation; it returns
        # normally after a KeyboardInterrupt, with the best weights restored
        net.partial_fit(
            RandomBatches(sampler(train), steps), None,
            epochs=self.max_epochs - len(net.history),
        )
        self._warn_if_interrupted(net.history)
        # The validation batches are not needed after training; keep them out
        # of pickles of the fitted estimator.
        net.train_split = None
        self.net_ = net
        self.history_ = net.history

        self._fit_threshold(images, labels, annotated, train, valid)
        return self

    def _forget_fit(self):
        """Drop the state of an earlier fit, so that a fit that fails leaves
        an unfitted estimator rather than a mix of old and new state."""
        for name in [name for name in vars(self) if name.endswith("_")]:
            delattr(self, name)

    def __sklearn_is_fitted__(self):
        # threshold_ is set last, once training has succeeded
        return hasattr(self, "threshold_")

    def _open_checkpoint(self, images, labels):
        """Checkpoint file of this fit, and its content when it exists."""
        if self.checkpoint_dir is None:
            return None, None
        directory = Path(self.checkpoint_dir)
        directory.mkdir(parents=True, exist_ok=True)
        digest = fingerprint(self._portable_params(), images, labels)
        path = directory / f"denoiseg-{digest}.pt"
        return path, (read(path) if path.exists() else None)

    def _warn_if_interrupted(self, history):
        if history and "dur" not in history[-1]:
            history.pop()  # the epoch cut short by the interrupt
        if len(history) == self.max_epochs:
            return
        monitor = "valid_loss_best" if history and "valid_loss" in history[-1] else "train_loss_best"
        best = [row["epoch"] for row in history if row.get(monitor)]
        kept = (
            f"the weights of epoch {best[-1]}, the best so far"
            if best
            else "the weights reached during its first epoch"
        )
        warnings.warn(
            f"training was interrupted after {len(history)} of {self.max_epochs} epochs; "
            f"the model keeps {kept}",
            UserWarning,
            stacklevel=3,
        )

    def _build_net(self, steps, valid_batches, seed, device, checkpointer=None):
        has_valid = valid_batches is not None
        monitor = "valid_loss" if has_valid else "train_loss"
        callbacks = [
            (f"train_{term}", PassthroughScoring(f"train_{term}", on_train=True))
            for term in LOSS_TERMS
        ]
        if has_valid:
            callbacks += [
                (f"valid_{term}", PassthroughScoring(f"valid_{term}")) for term in LOSS_TERMS
            ]
        callbacks += [
            (
                "lr_scheduler",
                LRScheduler(
                    policy="ReduceLROnPlateau",
                    monitor=monitor,
                    factor=LR_FACTOR,
                    patience=LR_PATIENCE,
                    min_lr=MIN_LR,
                ),
            ),
            ("restore_best", RestoreBestWeights(monitor=monitor)),
        ]
        if checkpointer is not None:
            callbacks.append(("checkpoint", checkpointer))
        if self.verbose:
            # a notebook progress widget needs ipywidgets; without it the bar
            # is printed as text, which every notebook frontend shows
            callbacks.append(("progress", ProgressBar(
                batches_per_epoch=steps, detect_notebook=find_spec("ipywidgets") is not None
            )))
        return DenoiSegNet(
            module=UNet,
            module__depth=self.depth,
            module__n_filters=self.n_filters,
            module__batch_norm=bool(self.batch_norm),
            criterion=DenoiSegLoss,
            criterion__alpha=float(self.alpha),
            criterion__class_weights=tuple(float(w) for w in self.class_weights),
            optimizer=torch.optim.Adam,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train__batch_size=None,
            iterator_train__sampler=BatchSeeds(steps, seed),
            iterator_valid__batch_size=None,
            train_split=predefined_split(valid_batches) if has_valid else None,
            callbacks=callbacks,
            device=device,
            autocast_dtype=torch.bfloat16 if self.precision_ == "bf16" else None,
            channels_last=True,
            iterator_train__pin_memory=torch.device(device).type == "cuda",
            iterator_valid__pin_memory=torch.device(device).type == "cuda",
            verbose=int(self.verbose),
        )

    def _fit_threshold(self, images, labels, annotated, train, valid):
        self.threshold_scores_ = {}
        if labels is None or not annotated.any() or self.alpha == 1:
            self.threshold_ = None
            return
        if self.threshold != "auto":
            self.threshold_ = float(self.threshold)
            return
        chosen = [i for i in valid if annotated[i]]
        if not chosen:
            warnings.warn(
                "no annotated image in the validation split; the threshold is chosen on "
                "the annotated training images and may be optimistic",
                UserWarning,
                stacklevel=3,
            )
            chosen = [i for i in train if annotated[i]]
        try:
            foregrounds = [self._foreground(images[i]) for i in chosen]
            self.threshold_, self.threshold_scores_ = search_threshold(
                foregrounds, [labels[i] for i in chosen]
            )
        except KeyboardInterrupt:
            self.threshold_ = 0.5
            warnings.warn(
                "the threshold search was interrupted; the trained model is kept, "
                "with threshold_=0.5",
                UserWarning,
                stacklevel=3,
            )
            return
        if self.verbose:
            best = self.threshold_scores_[self.threshold_]
            print(f"threshold {self.threshold_:.2f} (mean AP {best:.3f} on "
                  f"{len(chosen)} image(s))")

    # ------------------------------------------------------------ predict

    def _outputs(self, image, channels):
        """Network outputs for one image: ``channels`` of [denoised (normalised
        units), background, foreground, border probabilities], (n, H, W)."""
        return predict_tiled(
            self.net_.predict_window,
            normalize(image, self.mean_, self.std_),
            multiple=2**self.depth,
            tile_size=self.tile_size - self.tile_size % 2**self.depth,
            margin=self._margin(),
            channels=channels,
        )

    def _foreground(self, image):
        """Foreground probability of one image, (H, W) float32."""
        return self._outputs(image, FOREGROUND)[0]

    def _denoised(self, image):
        """Denoised image in the units of the input, (H, W) float32."""
        return denormalize(self._outputs(image, DENOISED)[0], self.mean_, self.std_)

    def _map_images(self, X, function):
        check_is_fitted(self)
        images, is_stack = check_images(X)
        results = [function(image) for image in images]
        return np.stack(results) if is_stack else results

    def _check_segmentation(self):
        check_is_fitted(self)
        if self.threshold_ is None:
            raise ValueError(
                "this DenoiSegEstimator was fitted without annotated labels (y=None, "
                "all-zero label images, or alpha=1), so it can denoise with transform() "
                "but cannot segment; fit it with instance labels and alpha < 1"
            )

    def predict(self, X):
        """Instance labels of each image.

        Parameters
        ----------
        X : ndarray of shape (n_images, H, W) or list of 2D arrays

        Returns
        -------
        labels : int32 ndarray of shape (n_images, H, W) or list of 2D arrays
            Same form as ``X``; 0 is background, objects numbered from 1.
        """
        self._check_segmentation()
        return self._map_images(
            X, lambda image: foreground_to_instances(self._foreground(image), self.threshold_)
        )

    def predict_proba(self, X):
        """Class probabilities [background, foreground, border] per pixel.

        Returns
        -------
        proba : float32 ndarray of shape (n_images, H, W, 3) or list of (H, W, 3)
        """
        self._check_segmentation()
        return self._map_images(
            X, lambda image: np.moveaxis(self._outputs(image, CLASSES), 0, -1)
        )

    def transform(self, X):
        """Denoise images.

        Returns
        -------
        denoised : float32 ndarray or list of 2D arrays
            Same form as ``X``, in the units of ``X``.
        """
        return self._map_images(X, self._denoised)

    def score(self, X, y):
        """Mean average precision (IoU > 0.5) over the annotated images of ``y``.

        Parameters
        ----------
        X : ndarray of shape (n_images, H, W) or list of 2D arrays
        y : same form as X
            Instance labels; all-zero images are skipped.

        Returns
        -------
        score : float
        """
        self._check_segmentation()
        images, _ = check_images(X)
        labels = check_labels(y, images)
        annotated = [i for i, label in enumerate(labels) if np.any(label)]
        if not annotated:
            raise ValueError("y holds no annotated image (all label images are zero)")
        predictions = self.predict([images[i] for i in annotated])
        return average_precision([labels[i] for i in annotated], predictions)

    # ---------------------------------------------------------- persistence

    def _portable_params(self):
        """Parameters as plain values that survive a JSON round trip."""
        params = self.get_params()
        if not isinstance(params["random_state"], (numbers.Integral, type(None))):
            params["random_state"] = None  # a RandomState object is not portable
        if params["checkpoint_dir"] is not None:
            params["checkpoint_dir"] = str(params["checkpoint_dir"])
        params["class_weights"] = [float(w) for w in params["class_weights"]]
        return params

    def _metadata(self):
        """Parameters and fitted statistics as plain values."""
        return {
            "params": self._portable_params(),
            "mean_": self.mean_,
            "std_": self.std_,
            "steps_per_epoch_": self.steps_per_epoch_,
        }

    def save(self, path):
        """Save the fitted model to a file that loads without unpickling.

        Parameters
        ----------
        path : str or Path
            File to write (conventionally ``*.pt``); written atomically.

        See Also
        --------
        load : read the file back.
        """
        check_is_fitted(self)
        metadata = {
            **self._metadata(),
            "threshold_": self.threshold_,
            "threshold_scores_": list(self.threshold_scores_.items()),
            "history": list(self.history_),
        }
        write(path, metadata, {"weights": cpu_state(self.net_.module_.state_dict())})

    @classmethod
    def load(cls, path):
        """Load a model saved with :meth:`save`.

        Only tensors and plain data are read (``torch.load(weights_only=True)``),
        so loading a file cannot execute code. A model trained on a GPU loads
        on a machine without one and then runs on the CPU.

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        estimator : DenoiSegEstimator
            Fitted, ready to ``predict`` and ``transform``.

        Raises
        ------
        ValueError
            If the file is not a model file, is corrupted, or has another
            format version.
        """
        metadata, payload = read(path)
        try:
            params = dict(metadata["params"])
            params["class_weights"] = tuple(params["class_weights"])
            estimator = cls(**params)
            estimator._check_params()
            estimator.mean_ = float(metadata["mean_"])
            estimator.std_ = float(metadata["std_"])
            estimator.steps_per_epoch_ = int(metadata["steps_per_epoch_"])
            estimator.threshold_ = metadata["threshold_"]
            estimator.threshold_scores_ = {float(t): s for t, s in metadata["threshold_scores_"]}
            device = estimator._resolve_device(fallback="cpu")
            # the precision suited to this machine, which may not be the trainer's
            estimator.precision_ = estimator._resolve_precision(device)
            net = estimator._build_net(estimator.steps_per_epoch_, None, 0, device)
            with torch.random.fork_rng(devices=[]):
                net.initialize()
            net.module_.load_state_dict(payload["weights"])
            net.history = History(metadata["history"])
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise ValueError(
                f"{path} does not describe a valid DenoiSegEstimator: {error}"
            ) from error
        estimator.net_ = net
        estimator.history_ = net.history
        return estimator
