"""DenoiSegEstimator: joint Noise2Void denoising and few-shot segmentation."""

import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from skorch.history import History

from . import _bioimageio, _persistence
from ._axes import ImageAxes
from ._hardware import resolve_device, resolve_precision
from ._instances import search_threshold
from ._parameters import check_params, check_threshold, portable, with_defaults, with_role
from ._predictor import DenoiSegPredictor
from ._training import monitored_loss, reports_progress, train_network
from ._validation import check_images, check_labels
from .exceptions import ThresholdOnTrainingImagesWarning
from .metrics import average_precision
from .presets import preset


def _annotated(X, y, axes, n_channels, why_needed):
    """The images of ``X`` (with ``n_channels`` channels) whose labels in
    ``y`` are not all zero, and their labels; a ValueError that says
    ``why_needed`` when there is none."""
    images, _ = check_images(X, axes=axes, n_channels=n_channels)
    labels = check_labels(y, images, axes=axes)
    annotated = [i for i, label in enumerate(labels) if np.any(label)]
    if not annotated:
        raise ValueError(f"y holds no annotated image (all label images are zero): {why_needed}")
    return [images[i] for i in annotated], [labels[i] for i in annotated]


ARCHITECTURE = ("depth", "n_filters", "batch_norm", "n2v2")
"""Parameters of the network's shape, which a warm start must keep."""


def _warm_start(previous, params, n_channels):
    """Where a warm-started fit begins: the fitted network's weights and,
    unless ``refit_normalization``, its normalisation; a ValueError naming
    the first parameter that does not fit the fitted network."""
    predictor = previous["predictor_"]
    fitted = dict(predictor.module.architecture, n2v2=predictor.module.n2v2,
                  axes=predictor.axes.axes)
    for name in (*ARCHITECTURE, "axes"):
        if params[name] != fitted[name]:
            raise ValueError(
                f"warm_start=True continues the fitted network, but {name}={params[name]!r} "
                f"differs from its {name}={fitted[name]!r}: set {name}={fitted[name]!r}, or "
                "warm_start=False to train a new network")
    if n_channels != fitted["in_channels"]:
        raise ValueError(
            f"warm_start=True continues the fitted network, but X has {n_channels} "
            f"channel(s) and the network was trained on {fitted['in_channels']}")
    start = {"init": predictor.weights()}
    if not params["refit_normalization"]:
        start["normalization"] = (predictor.mean, predictor.std)
    return start


def _continued(history, more):
    """``history`` followed by the epochs of ``more``, numbered on."""
    rows = [dict(row) for row in history]
    for row in more:
        rows.append({**row, "epoch": len(rows) + 1})
    return History(rows)


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
        Noise2Void denoiser, 0 the segmentation-only "Baseline". 0.5 is
        the paper's. At CPU budgets it matters more than the paper found:
        on real nuclei with one annotated crop and a separate validation
        set, 0.5 segmented worse than the Baseline and 0.2 better than both
        on average (``benchmarks/README.md``); choose it on your validation
        images.
    depth : int, default=4
        Number of down-sampling steps of the U-Net.
    n_filters : int, default=32
        Filters of the U-Net's first level, doubled at each level.
    batch_norm : bool, default=True
        Batch normalisation after each convolution.
    patch_size : int, tuple of int or None, default=None
        Side of the training patches on every spatial axis, or one side per
        spatial axis, multiples of ``2**depth``. Smaller images are padded,
        and padded pixels carry no loss. None: 64 for 2D images (the
        paper's), (16, 64, 64) for 3D stacks (Z, Y, X): stacks rarely have
        more than a few tens of planes, often farther apart than the
        pixels, so fewer planes than rows keep patches inside the stack.
    batch_size : int or None, default=None
        Patches per training step. None: 128 for 2D images (the paper's), 8
        for 3D stacks (the same number of voxels per step).
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
    n2v2 : bool, default=False
        N2V2 (Höck et al., 2022): blur-pool down-sampling instead of max
        pooling, no skip connection at the top level of the U-Net, and blind
        spots replaced by the median of their window without the centre.
        Removes the checkerboard artefacts of Noise2Void.
    n2v_replacement : {None, "uniform_with_center", "uniform", "median"}, default=None
        Value a blind spot shows the network: a random pixel of its window,
        the centre included (the paper's) or not, or the window's median
        without the centre. None: "median" with ``n2v2``, else
        "uniform_with_center".
    struct_n2v_axis : {None, "horizontal", "vertical"}, default=None
        structN2V (Broaddus et al., 2020), for noise correlated along rows
        ("horizontal", along X) or columns ("vertical", along Y), such as
        camera read-out stripes: the pixels of a line of
        ``struct_n2v_span`` pixels through each blind spot get random
        values, so the network cannot predict the noise from its correlated
        neighbours. In 3D the line lies in the blind spot's plane.
    struct_n2v_span : int, default=5
        Odd length of the structN2V line.
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
        choose the threshold, when ``fit`` gets no ``X_val``. No validation
        is made from a single image. When no annotated image is held out,
        the validation loss measures the denoising term only; with
        ``alpha=0`` it would measure nothing, so the training loss is
        monitored instead.
    threshold : "auto" or float, default="auto"
        Foreground probability above which a pixel belongs to an object,
        read at prediction time (``set_params`` on a fitted model takes
        effect at once). "auto" uses ``threshold_``, the value maximising
        the mean AP on the annotated validation images, tuned after ``fit``
        (on the annotated training images, with a
        :class:`~sklearn_denoiseg.exceptions.ThresholdOnTrainingImagesWarning`,
        when validation has none) or by :meth:`tune_threshold`.
    tile_size : int, tuple of int or None, default=None
        Largest image side processed in one pass at prediction, on every
        spatial axis or one per spatial axis; larger images are predicted in
        overlapping tiles, which bounds memory and gives the same result.
        The side counts the padding of the border rule: images are
        mirrored at their end up to a multiple of ``2**depth``, then by the
        network's context margin on every side, as bioimage.io consumers
        pad exported packages.
        Smaller images of one shape are predicted in batches of up to the
        pixels of one tile. None: images of up to 1024x1024 pixels in one
        pass (a window of 1024 plus the margin on each side); (64, 256, 256) for 3D
        stacks, about 3 GB of working memory for the default network in
        float32. Every side must exceed twice the network's receptive-field
        radius (for ``depth=4``, 272: None raises the default to that).
    device : {"auto", "cpu", "cuda"} or str, default="auto"
        Torch device; "auto" uses CUDA when available, else the CPU.
    precision : {"auto", "bf16", "fp32"}, default="auto"
        Arithmetic of training and prediction. "bf16" runs the network under
        bfloat16 autocast (mixed precision; weights, optimiser and loss stay
        float32); "fp32" runs in float32. "auto" picks "bf16" on CUDA devices
        and, for 2D images, on CPUs with native bfloat16 instructions
        (AVX512-BF16 or AMX), where it is much faster; "fp32" elsewhere and
        for 3D stacks on a CPU, whose bfloat16 training diverged at random
        on those CPUs.
    axes : {"YX", "ZYX", "YXC", "CYX", "ZYXC", "CZYX"}, default="YX"
        Axes of ONE image: 2D ("YX") or 3D stacks ("ZYX"), with or without a
        channel axis ("C", first or last). ``X`` is an array of shape
        ``(n_images, *axes)`` or a list of such images (sizes may differ, the
        channel count may not); ``y`` holds labels over the spatial axes only.
        3D images get a 3D U-Net (3x3x3 convolutions, 2x2x2 pooling), blind
        spots in 3D and rotations in the YX plane only; channels get one
        denoised output each and their own normalisation.
    checkpoint_dir : str, Path or None, default=None
        Directory for a training checkpoint, written after every epoch. A fit
        with the same training parameters on the same data resumes from it
        (after a crash or an interruption), and returns the finished model
        at once when training had completed. The file name is a digest of
        both, so parallel fits (``GridSearchCV``) never share a file, while
        fits that differ only in prediction parameters (``threshold``,
        ``tile_size``) train once. The file is replaced atomically, so a
        process killed at any moment, even while writing it, leaves the last
        complete epoch to resume from; a file damaged otherwise is set aside
        with an :class:`~sklearn_denoiseg.exceptions.UnreadableCheckpointWarning`
        and training starts over. None writes nothing.
    random_state : int, RandomState instance or None, default=None
        Seed of weight initialisation, data split, patch sampling and masks.
        The same seed gives identical results on the CPU.
    warm_start : bool, default=False
        With True, ``fit`` on a fitted estimator (or one read by
        :meth:`load`, a saved model or an exported package) continues from
        its network instead of random weights: to train longer, to fine-tune
        on a few annotated images of a new microscope or sample, or to start
        DenoiSeg from a Noise2Void model (fitted with ``y=None`` or
        ``alpha=1``). The architecture (``depth``, ``n_filters``,
        ``batch_norm``, ``n2v2``, ``axes`` and the channels) must be the
        fitted one's; ``max_epochs`` counts the epochs of this fit, which are
        appended to ``history_``; the threshold is tuned again. With False,
        or on an unfitted estimator, training starts from random weights.
    freeze : {None, "encoder"}, default=None
        Parts of the network that training leaves unchanged. "encoder" keeps
        the convolutions of the contracting path above the bottleneck (and
        their batch statistics): with few annotated images of a new domain,
        fine-tuning then adapts only the bottleneck and the decoder, which
        overfits less. Meant for ``warm_start``.
    refit_normalization : bool, default=False
        With ``warm_start``, whether to compute the normalisation (mean and
        standard deviation) on the new ``X`` instead of keeping the fitted
        model's. Keeping it is right for more data of the same kind; refit
        it when the new images have another brightness or offset (another
        microscope or exposure), so that they reach the network in the range
        it was trained on. Ignored without a warm start.
    verbose : int, default=1
        0 is silent. 1 shows one progress bar over the whole training, with
        the latest losses and the estimated time left, where a person
        watches (a terminal or a notebook), and prints one plain line per
        epoch (losses, time so far, time left) where output goes to a file,
        a pipe or a CI log; nothing in joblib or Dask worker processes. 2
        prints skorch's table of every epoch instead of the lines, wherever
        output goes.

    Notes
    -----
    Two validation protocols: by default the estimator holds out
    ``validation_fraction`` of the images it is given, annotated ones
    included, which costs training annotations when there are few. The
    paper's protocol passes a separate, fully annotated validation set as
    ``fit(X, y, X_val=..., y_val=...)``: every annotated image of ``X``
    trains, and ``X_val`` selects the best epoch, drives the learning-rate
    schedule and tunes the threshold.

    Pressing Ctrl-C during ``fit`` stops training after a
    :class:`~sklearn_denoiseg.exceptions.FitInterruptedWarning` and keeps a
    usable model with the best weights so far (and, with
    ``checkpoint_dir``, the last epoch on disk to resume from). A loss that
    becomes NaN or infinite stops training with a ``TrainingDivergedError``.

    Save a fitted model with :meth:`save` and read it with :meth:`load`: the
    file holds only tensors and plain data and loads without unpickling
    arbitrary objects. ``pickle`` also works, for files from trusted sources
    only.

    Attributes
    ----------
    predictor_ : DenoiSegPredictor
        The trained U-Net with its normalisation, tiling and precision; what
        the prediction methods delegate to, and what is shipped to Dask.
    history_ : skorch.History
        Per-epoch ``train_loss``, ``valid_loss``, ``train_n2v_loss``,
        ``train_seg_loss``, ``valid_n2v_loss``, ``valid_seg_loss``, the
        learning rate ``event_lr``, and ``*_best`` flags for the epochs
        that lowered a loss.
    threshold_ : float or None
        Tuned foreground threshold, used by :meth:`predict` when
        ``threshold="auto"``; None when the model was trained without
        annotated images or with ``alpha=1`` (it cannot segment).
    threshold_scores_ : dict
        Mean AP per threshold tried by the search.
    mean_, std_ : ndarray of shape (n_channels,)
        Normalisation statistics of the training images, per channel.
    steps_per_epoch_ : int
        Training steps per epoch actually used.
    precision_ : str
        Precision actually used, "bf16" or "fp32".

    The torch device in use is ``predictor_.device``: a model trained on
    CUDA and unpickled on a machine without CUDA moves to the CPU (with a
    :class:`~sklearn_denoiseg.exceptions.DeviceFallbackWarning`).

    See Also
    --------
    sklearn_denoiseg.metrics.average_precision : the score used by :meth:`score`.
    sklearn_denoiseg.model_selection.AnnotatedKFold : cross-validation that
        keeps annotated images in every fold.

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
        patch_size=None,
        batch_size=None,
        max_epochs=200,
        steps_per_epoch=None,
        lr=4e-4,
        n2v_perc_pix=1.5,
        n2v_radius=5,
        n2v2=False,
        n2v_replacement=None,
        struct_n2v_axis=None,
        struct_n2v_span=5,
        class_weights=(1.0, 1.0, 5.0),
        label_fraction=0.25,
        validation_fraction=0.15,
        threshold="auto",
        tile_size=None,
        device="auto",
        precision="auto",
        axes="YX",
        checkpoint_dir=None,
        random_state=None,
        warm_start=False,
        freeze=None,
        refit_normalization=False,
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
        self.n2v2 = n2v2
        self.n2v_replacement = n2v_replacement
        self.struct_n2v_axis = struct_n2v_axis
        self.struct_n2v_span = struct_n2v_span
        self.class_weights = class_weights
        self.label_fraction = label_fraction
        self.validation_fraction = validation_fraction
        self.threshold = threshold
        self.tile_size = tile_size
        self.device = device
        self.precision = precision
        self.axes = axes
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.warm_start = warm_start
        self.freeze = freeze
        self.refit_normalization = refit_normalization
        self.verbose = verbose

    @classmethod
    def from_preset(cls, name, **params):
        """An estimator with the parameters of a named training budget.

        Parameters
        ----------
        name : {"paper", "cpu", "smoke"}
            See :mod:`sklearn_denoiseg.presets`: "cpu" trains in about a
            minute on two CPU cores, "paper" is the paper's schedule (GPU).
        **params
            Parameters that replace the preset's.

        Returns
        -------
        DenoiSegEstimator

        Examples
        --------
        >>> DenoiSegEstimator.from_preset("cpu", alpha=0.3).get_params()["max_epochs"]
        10
        """
        return cls(**{**preset(name), **params})

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.target_tags.required = False
        return tags

    # ------------------------------------------------------------------ fit

    def fit(self, X, y=None, *, X_val=None, y_val=None):
        """Train the network on images ``X`` with optional instance labels ``y``.

        Parameters
        ----------
        X : ndarray of shape (n_images, *axes) or list of images
            Noisy images in the layout of ``axes``, any real dtype; list
            images may differ in size.
        y : ndarray of shape (n_images, *spatial axes), list of such, or None
            Integer instance labels (0 = background) per image; an all-zero
            image marks an unannotated image, which still trains the
            denoiser. None trains a pure Noise2Void denoiser.
        X_val : same form as X, or None
            Separate validation images (the paper's protocol): they select
            the best epoch, drive the learning-rate schedule and tune the
            threshold, and every image of ``X`` trains. None holds out
            ``validation_fraction`` of ``X`` instead.
        y_val : same form as X_val, or None
            Instance labels of ``X_val``; all-zero images (or None) validate
            the denoising only.

        Returns
        -------
        self : DenoiSegEstimator
        """
        previous = self._fitted_state() if self.warm_start else None
        self._forget_fit()
        try:
            return self._fit(X, y, X_val, y_val, previous)
        except BaseException:
            # a failed fit leaves an unfitted estimator, never a half-trained
            # one; a failed warm start leaves the model it started from
            self._forget_fit()
            vars(self).update(previous or {})
            raise

    def _fitted_state(self):
        """The learned attributes of a fitted estimator, or None."""
        if not self.__sklearn_is_fitted__():
            return None
        return {name: value for name, value in vars(self).items() if name.endswith("_")}

    def _fit(self, X, y, X_val, y_val, previous=None):
        params = self.get_params()
        check_params(params)
        params = with_defaults(params)
        axes = ImageAxes(self.axes)
        device = resolve_device(self.device)
        self.precision_ = resolve_precision(self.precision, device, axes.n_spatial)
        images, _ = check_images(X, axes=axes)
        start = previous and _warm_start(previous, params, axes.n_channels(images[0]))
        labels = None if y is None else check_labels(y, images, axes=axes)
        val_images = val_labels = None
        if X_val is not None:
            val_images, _ = check_images(X_val, "X_val", axes)
            if axes.n_channels(val_images[0]) != axes.n_channels(images[0]):
                raise ValueError(f"X_val has {axes.n_channels(val_images[0])} channels but X "
                                 f"has {axes.n_channels(images[0])}")
            val_labels = (None if y_val is None
                          else check_labels(y_val, val_images, "y_val", "X_val", axes))
        elif y_val is not None:
            raise ValueError("y_val was given without X_val; pass both, or neither")

        def channels_first(group):
            return None if group is None else [axes.to_channels_first(im) for im in group]

        trained = train_network(
            with_role(params, "training"), channels_first(images), labels,
            channels_first(val_images), val_labels,
            device=device, precision=self.precision_,
            random_state=check_random_state(self.random_state),
            checkpoint_dir=self.checkpoint_dir,
            key_params=portable(with_role(params, "training")), verbose=self.verbose,
            **(start or {}),
        )
        self.predictor_ = DenoiSegPredictor(
            trained.module, mean=trained.mean, std=trained.std, axes=self.axes,
            tile_size=self.tile_size, device=device, precision=self.precision,
        )
        self.history_ = (trained.history if not start
                         else _continued(previous["history_"], trained.history))
        self.steps_per_epoch_ = trained.steps_per_epoch
        self.threshold_, self.threshold_scores_ = None, {}
        if self.alpha < 1 and (trained.validation or trained.annotated_training):
            chosen = trained.validation
            if not chosen and self.threshold == "auto":
                message = ("no annotated image in the validation split; the threshold is chosen "
                           "on the annotated training images and may be optimistic")
                if self.history_ and monitored_loss(self.history_) == "train_loss":
                    message += (", and the weights kept are those of the lowest training loss, "
                                "which may be overfitted")
                warnings.warn(message + ": pass annotated validation images as X_val, y_val",
                              ThresholdOnTrainingImagesWarning, stacklevel=3)
            all_images = [*images, *(val_images or [])]
            all_labels = [*(labels or [None] * len(images)), *(val_labels or [])]
            chosen = chosen or trained.annotated_training
            self._search_threshold([all_images[i] for i in chosen],
                                   [all_labels[i] for i in chosen])
        return self

    def _forget_fit(self):
        """Drop the state of an earlier fit, so that a fit that fails leaves
        an unfitted estimator rather than a mix of old and new state."""
        for name in [name for name in vars(self) if name.endswith("_")]:
            delattr(self, name)

    @property
    def mean_(self):
        """Mean of the training images (normalisation), from ``predictor_``."""
        return self.predictor_.mean

    @property
    def std_(self):
        """Standard deviation of the training images, from ``predictor_``."""
        return self.predictor_.std

    def __sklearn_is_fitted__(self):
        # threshold_ is set last, once training has succeeded
        return hasattr(self, "threshold_")

    # ---------------------------------------------------------- threshold

    def _search_threshold(self, images, labels):
        try:
            foregrounds = self._predictor().foreground(list(images))
            self.threshold_, self.threshold_scores_ = search_threshold(foregrounds, labels)
        except KeyboardInterrupt:
            self.threshold_, self.threshold_scores_ = 0.5, {}
            warnings.warn("the threshold search was interrupted; the trained model is kept, "
                          "with threshold_=0.5", UserWarning, stacklevel=4)
            return
        if reports_progress(self.verbose):
            best = self.threshold_scores_[self.threshold_]
            print(f"threshold_ {self.threshold_:.2f} (mean AP {best:.3f} on "
                  f"{len(foregrounds)} image(s))", flush=True)

    def tune_threshold(self, X, y):
        """Tune ``threshold_`` on annotated images, without retraining.

        The threshold maximising the mean AP over the annotated images of
        ``y`` (steps of 0.05, refined in steps of 0.01) replaces
        ``threshold_``; :meth:`predict` uses it when ``threshold="auto"``.

        Parameters
        ----------
        X : ndarray of shape (n_images, *axes) or list of images
        y : same form as X
            Instance labels; all-zero images are skipped.

        Returns
        -------
        self : DenoiSegEstimator
        """
        self._check_segmentation()
        self._search_threshold(*_annotated(X, y, ImageAxes(self.axes),
                                           self.predictor_.layout.n_channels,
                                           "the threshold needs images with objects"))
        return self

    def decision_threshold(self):
        """The foreground threshold that :meth:`predict` uses now:
        ``threshold`` when it is a number, ``threshold_`` when it is "auto".

        Returns
        -------
        float

        Raises
        ------
        ValueError
            If the model cannot segment (trained without annotations or with
            ``alpha=1``), or ``threshold`` is invalid.
        """
        self._check_segmentation()
        check_threshold(self.threshold)
        return self.threshold_ if self.threshold == "auto" else float(self.threshold)

    # ------------------------------------------------------------ predict

    def _predictor(self):
        """The predictor, with the prediction parameters of this estimator."""
        check_is_fitted(self)
        self.predictor_.tile_size = self.tile_size
        return self.predictor_

    def _check_segmentation(self):
        check_is_fitted(self)
        if self.threshold_ is None:
            raise ValueError(
                "this DenoiSegEstimator was fitted without annotated labels (y=None, "
                "all-zero label images, or alpha=1), so it can denoise with transform() "
                "but cannot segment; fit it with instance labels and alpha < 1"
            )

    def _map(self, X, method, *args):
        """Apply a predictor method to ``X``; outputs take the form of ``X``."""
        predictor = self._predictor()
        images, is_stack = check_images(X, axes=ImageAxes(self.axes),
                                        n_channels=predictor.layout.n_channels)
        results = getattr(predictor, method)(images, *args)
        return np.stack(results) if is_stack else results

    def predict(self, X):
        """Instance labels of each image.

        Parameters
        ----------
        X : ndarray of shape (n_images, *axes) or list of images

        Returns
        -------
        labels : int32 ndarray of shape (n_images, *spatial axes) or list
            Same form as ``X``, without a channel axis; 0 is background,
            objects numbered from 1.
        """
        return self._map(X, "segment", self.decision_threshold())

    def predict_proba(self, X):
        """Class probabilities [background, foreground, border] per pixel.

        Returns
        -------
        proba : float32 ndarray of shape (n_images, *spatial axes, 3) or list
        """
        self._check_segmentation()
        return self._map(X, "proba")

    def transform(self, X):
        """Denoise images.

        Returns
        -------
        denoised : float32 ndarray or list
            Same form, shape and channels as ``X``, in the units of ``X``.
        """
        return self._map(X, "denoise")

    def score(self, X, y):
        """Mean average precision (IoU > 0.5) over the annotated images of ``y``.

        Parameters
        ----------
        X : ndarray of shape (n_images, *axes) or list of images
        y : same form as X
            Instance labels; all-zero images are skipped.

        Returns
        -------
        score : float

        Raises
        ------
        ValueError
            If no image of ``y`` is annotated: in cross-validation, use
            :class:`~sklearn_denoiseg.model_selection.AnnotatedKFold`, which
            puts annotated images in every fold.
        """
        self._check_segmentation()
        images, labels = _annotated(
            X, y, ImageAxes(self.axes), self.predictor_.layout.n_channels,
            "there is nothing to score; in cross-validation, pass "
            "cv=sklearn_denoiseg.model_selection.AnnotatedKFold(n_splits) so that every "
            "test fold holds annotated images")
        return average_precision(labels, self.predict(images))

    # ---------------------------------------------------------- persistence

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
            "predictor": self.predictor_.metadata(),
            "estimator": {
                "params": portable(self.get_params()),
                "steps_per_epoch_": self.steps_per_epoch_,
                "threshold_": self.threshold_,
                "threshold_scores_": list(self.threshold_scores_.items()),
                "history": list(self.history_),
            },
        }
        _persistence.write(path, metadata, {"weights": self.predictor_.weights()})

    def export_bioimageio(self, path, *, name, authors, description=None,
                          license="CC-BY-4.0", cite=(), test_image=None, tags=()):
        """Export the fitted model as a BioImage Model Zoo package (a zip).

        The package follows the bioimage.io model spec 0.5 and runs in Fiji
        (deepImageJ), napari, ilastik and ``bioimageio.core``. It holds the
        weights as ``pytorch_state_dict`` (architecture from this package,
        which consumers then need installed) and as ``torchscript`` (PyTorch
        alone); one input ``raw`` with axes (batch, channel, [z,] y, x),
        normalised by the training mean and standard deviation of each
        channel; one output ``prediction`` with the denoised channel(s) in
        input units, then background, foreground and border probabilities;
        sizes of ``min + n * 2**depth`` pixels with a halo of the network's
        context margin, for tiling; test tensors computed by the exported
        network in float32; a cover image; a README that says how to turn
        the foreground channel into instances with ``threshold_``; and this
        package's own model file, so that :meth:`load` reads the zip back.
        Exporting works offline: no URL is checked, nothing is downloaded.

        Parameters
        ----------
        path : str or Path
            Zip file to write (conventionally ``*.zip``); replaced if it
            exists.
        name : str
            Name of the model: 5 to 128 letters, digits, spaces and
            ``_+-()``.
        authors : list of str or dict
            Names, or dicts with ``name`` and optionally ``affiliation``,
            ``email``, ``github_user`` and ``orcid``.
        description : str or None, default=None
            One or two sentences; None gives a generic description of
            DenoiSeg.
        license : str, default="CC-BY-4.0"
            SPDX identifier of the license of the weights.
        cite : sequence of dict, default=()
            Citations besides the DenoiSeg paper (always cited), each with
            ``text`` and ``doi`` or ``url``.
        test_image : ndarray or None, default=None
            One image in the layout of ``axes``, stored with the outputs
            the model computes for it (bioimage.io's model test reproduces
            them) and drawn on the cover. It is cut from its origin to sides
            that are multiples of ``2**depth``, at most 256x256 (2D) or
            32x128x128 (3D), and reflected at its end up to the smallest
            side consumers accept, ``2 * halo + 2**depth`` (60 for
            ``depth=2``, 272 for ``depth=4``: 3D models of depth 4 get test
            stacks of 272³ voxels). None uses a synthetic image of the shape
            of a training patch (bright disks on noise, scaled to the
            training mean and standard deviation), which tests the model but
            makes a poor cover: pass a real image when you can.
        tags : sequence of str, default=()
            Tags besides those of the model's kind (2d/3d, denoising,
            instance-segmentation, ...), e.g. the modality and the content:
            ``("fluorescence-light-microscopy", "nuclei")``.

        Returns
        -------
        path : Path
            The written package.

        Raises
        ------
        ImportError
            Without the optional dependencies
            (``pip install "sklearn_denoiseg[bioimageio]"``).
        ValueError
            If the model cannot segment (``threshold_`` is None: a pure
            denoiser is not exported; :meth:`save` keeps it), or the
            metadata is invalid for bioimage.io.

        Notes
        -----
        The outputs of the package match :meth:`transform` and
        :meth:`predict_proba` of an estimator with ``precision="fp32"``
        (bioimage.io consumers compute in float32). With ``precision="bf16"``
        the estimator rounds activations to bfloat16 (8 bits of mantissa), so
        its outputs differ from the package's by more than float rounding
        (up to 4e-3 in probability for a small test network).
        Consumers pad the image by the package's halo by mirroring, whole
        or in tiles; the estimator predicts by the same rule (see
        :meth:`predict_proba`), so their outputs agree everywhere, image
        border included. They accept sides of ``2 * halo + n * 2**depth``
        pixels; mirror other images at their end up to such a side first
        (as the estimator does) and crop the output.
        """
        check_is_fitted(self)
        return _bioimageio.export(self, path, name=name, authors=authors,
                                  description=description, license=license, cite=cite,
                                  test_image=test_image, tags=tags)

    @classmethod
    def load(cls, path):
        """Load a model saved with :meth:`save` or exported with
        :meth:`export_bioimageio`.

        Only tensors and plain data are read (``torch.load(weights_only=True)``),
        so loading a file cannot execute code. A model trained on a GPU loads
        on a machine without one and then runs on the CPU. Files of every
        earlier format version are read. A bioimage.io package (zip) is read
        from the model file that :meth:`export_bioimageio` stores inside it;
        this needs no bioimage.io library.

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
            If the file is not a model file, is corrupted, or has a format
            version newer than this package reads, or is a bioimage.io
            package not exported by this package.
        """
        with _bioimageio.opened_model_file(path) as model_file:
            metadata, tensors, version = _persistence.read(model_file)
        try:
            metadata = _persistence.model_metadata(metadata, version)
            saved = metadata["estimator"]
            params = dict(saved["params"])
            params["class_weights"] = tuple(params["class_weights"])
            estimator = cls(**params)
            check_params(estimator.get_params())
            device = resolve_device(estimator.device, fallback="cpu")
            estimator.predictor_ = DenoiSegPredictor.from_metadata(
                metadata["predictor"], tensors["weights"], device=device,
                precision=estimator.precision, tile_size=estimator.tile_size)
            # the precision suited to this machine, which may not be the trainer's
            estimator.precision_ = resolve_precision(estimator.precision, device,
                                                   estimator.predictor_.module.n_dims)
            estimator.steps_per_epoch_ = int(saved["steps_per_epoch_"])
            estimator.history_ = History(saved["history"])
            estimator.threshold_scores_ = {float(t): s for t, s in saved["threshold_scores_"]}
            estimator.threshold_ = saved["threshold_"]
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise ValueError(
                f"{path} does not describe a valid DenoiSegEstimator: {error}"
            ) from error
        return estimator
