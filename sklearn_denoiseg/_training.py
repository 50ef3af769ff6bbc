"""Training assembly: data preparation, the skorch network with its callbacks,
checkpoints and the training loop. Returns a trained U-Net; knows nothing of
prediction or of the estimator."""

import math
import multiprocessing
import os
import sys
import time
import warnings
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback, LRScheduler, PassthroughScoring
from skorch.helper import predefined_split
from skorch.history import History

from . import _persistence
from ._allocator import keep_freed_memory
from ._axes import per_axis
from ._checkpoint import Checkpoint, fingerprint, restore
from ._loss import DenoiSegLoss
from ._net import LOSS_TERMS, DenoiSegNet, RestoreBestWeights
from ._normalization import fit_normalization, normalize
from ._patches import BatchSeeds, FixedBatches, PatchSampler, RandomBatches
from ._split import split_images
from ._targets import labels_to_classes
from ._unet import UNet
from .exceptions import FitInterruptedWarning, UnreadableCheckpointWarning

LR_FACTOR, LR_PATIENCE, MIN_LR = 0.75, 10, 1.25e-5
"""ReduceLROnPlateau settings of the paper's runs."""

FROZEN = {None: (), "encoder": ("encoder",)}
"""The U-Net's submodules that each value of ``freeze`` leaves unchanged:
``"encoder"``, the convolutions of the contracting path above the
bottleneck."""

AUGMENTATIONS = 8
"""Rotations by 90 degrees times flips, used to count the patches of an epoch."""


@dataclass
class TrainedNetwork:
    """What training hands back.

    Attributes
    ----------
    module : UNet
        The network with the weights of the best epoch.
    history : skorch.History
    steps_per_epoch : int
    mean, std : ndarray of shape (C,)
        Normalisation statistics of the training images, per channel.
    validation : list of int
        Annotated images to tune the threshold on: the validation images
        given or held out; empty when none is annotated. Indices into the
        training images followed by the validation images.
    annotated_training : list of int
        The annotated training images, indices as above.
    """

    module: UNet
    history: History
    steps_per_epoch: int
    mean: np.ndarray
    std: np.ndarray
    validation: list
    annotated_training: list


def _in_worker():
    """Whether this is a worker process (joblib, Dask), whose output nobody reads."""
    return multiprocessing.parent_process() is not None


def is_interactive():
    """Whether progress output reaches a person: a terminal or a notebook, in
    the main process (joblib's and Dask's worker processes stay quiet)."""
    if _in_worker():
        return False
    if "ipykernel" in sys.modules:
        return True
    return sys.stderr.isatty()


def writes_epoch_lines(verbose):
    """Whether to print one plain line per epoch: at ``verbose=1`` where
    output goes to a file, a pipe or a CI log rather than to a terminal,
    which a progress bar's carriage returns would fill with noise (at 2,
    skorch's epoch table does it)."""
    if verbose != 1 or _in_worker() or "ipykernel" in sys.modules:
        return False
    return not (sys.stdout.isatty() and sys.stderr.isatty())


def reports_progress(verbose):
    """Whether to print what training does (its plan, the tuned threshold)
    at this verbosity: always at 2 and above, at 1 outside worker processes
    (:func:`is_interactive`, :func:`writes_epoch_lines`)."""
    return verbose >= 2 or (verbose == 1 and not _in_worker())


class TrainingProgress(Callback):
    """One progress bar over all training steps, with the latest losses; its
    rate gives the estimated time of the whole training from the first steps.

    Parameters
    ----------
    total_steps : int
        Steps of the whole training (resumed epochs excluded).
    """

    def __init__(self, total_steps):
        self.total_steps = total_steps

    def on_train_begin(self, net, **kwargs):
        # tqdm's notebook widget needs ipywidgets; without it the text bar
        # is printed, which every notebook front end shows
        if "ipykernel" in sys.modules and find_spec("ipywidgets") is not None:
            from tqdm.notebook import tqdm
        else:
            from tqdm import tqdm
        self.bar_ = tqdm(total=self.total_steps, desc="training", unit="step",
                         dynamic_ncols=True, leave=True)

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            self.bar_.update(1)

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        scores = {"epoch": row["epoch"]}
        for key in ("train_loss", "valid_loss"):
            if key in row:
                scores[key] = f"{row[key]:.4f}"
        self.bar_.set_postfix(scores, refresh=True)

    def on_train_end(self, net, **kwargs):
        self.bar_.close()


class EpochLines(Callback):
    """One plain, flushed line per epoch on standard output: the epoch, the
    losses, the time so far and the estimated time left, for logs.

    Parameters
    ----------
    max_epochs : int
        Epochs of the whole training, resumed ones included.
    """

    def __init__(self, max_epochs):
        self.max_epochs = max_epochs

    def on_train_begin(self, net, **kwargs):
        self.start_ = time.monotonic()
        self.first_epoch_ = len(net.history) + 1

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        elapsed = time.monotonic() - self.start_
        done = row["epoch"] - self.first_epoch_ + 1
        left = elapsed / done * (self.max_epochs - row["epoch"])
        losses = "  ".join(f"{key} {row[key]:.4f}" for key in LOGGED_LOSSES if key in row)
        print(f"epoch {row['epoch']}/{self.max_epochs}  {losses}  {_duration(elapsed)} so far, "
              f"about {_duration(left)} left", flush=True)


LOGGED_LOSSES = ("train_loss", "valid_loss", "valid_n2v_loss", "valid_seg_loss")
"""The losses of an epoch line: the monitored ones and the validation terms."""


def _duration(seconds):
    """Seconds as "45s", "3m 05s" or "2h 04m".

    Examples
    --------
    >>> _duration(45.2), _duration(185), _duration(7440)
    ('45s', '3m 05s', '2h 04m')
    """
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def auto_steps(images, patch_size, batch_size):
    """The paper's steps per epoch: ``max(100, min(P / batch_size, 400))``
    with ``P`` the augmented non-overlapping patches of the images
    (channels first)."""
    patch = per_axis(patch_size, images[0].ndim - 1)
    patches = sum(math.prod(max(1, side // size) for side, size in zip(image.shape[1:], patch))
                  for image in images)
    return max(100, min(AUGMENTATIONS * patches // batch_size, 400))


def _classes(labels, n_images):
    if labels is None:
        return [None] * n_images
    return [labels_to_classes(label) if np.any(label) else None for label in labels]


def _open_checkpoint(checkpoint_dir, key_params, data):
    """Checkpoint file of this fit, and its content when it exists and can
    be read.

    An unreadable one is set aside with an :class:`UnreadableCheckpointWarning`
    rather than stopping the fit: no epoch can be resumed from it anyway, and
    a fit restarted unattended (a requeued cluster job) should train rather
    than fail again at every restart.
    """
    if checkpoint_dir is None:
        return None, None
    directory = Path(checkpoint_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"denoiseg-{fingerprint(key_params, *data)}.pt"
    _persistence.remove_stale_partials(path)
    if not path.exists():
        return path, None
    try:
        metadata, tensors, _ = _persistence.read(path)
    except ValueError as error:
        aside = path.with_name(f"{path.name}.unreadable")
        os.replace(path, aside)
        warnings.warn(f"checkpoint_dir holds an unreadable checkpoint of this fit, so training "
                      f"starts from the first epoch ({error}); it was renamed to {aside}",
                      UnreadableCheckpointWarning, stacklevel=5)
        return path, None
    return path, (metadata, tensors)


def monitored_loss(history):
    """The loss whose best epoch training keeps: ``"valid_loss"`` where
    there is a validation loss, else ``"train_loss"``."""
    return "valid_loss" if history and "valid_loss" in history[-1] else "train_loss"


def kept_epoch(history):
    """The epoch whose weights training keeps: the last one that lowered the
    monitored loss (the validation loss where there is one, else the
    training loss); None before any epoch has finished."""
    monitor = f"{monitored_loss(history)}_best"
    best = [row["epoch"] for row in history if row.get(monitor)]
    return best[-1] if best else None


def _warn_if_interrupted(history, max_epochs):
    if history and "dur" not in history[-1]:
        history.pop()  # the epoch cut short by the interrupt
    if len(history) == max_epochs:
        return
    best = kept_epoch(history)
    kept = (f"the weights of epoch {best}, the best so far" if best is not None
            else "the weights reached during its first epoch")
    warnings.warn(f"training was interrupted after {len(history)} of {max_epochs} epochs; "
                  f"the model keeps {kept}", FitInterruptedWarning, stacklevel=5)


def _build_net(config, *, n_dims, n_channels, steps, valid_batches, seed, device, precision,
               verbose, checkpointer=None, progress_steps=0, epoch_lines=False):
    has_valid = valid_batches is not None
    monitor = "valid_loss" if has_valid else "train_loss"
    callbacks = [(f"train_{term}", PassthroughScoring(f"train_{term}", on_train=True))
                 for term in LOSS_TERMS]
    if has_valid:
        callbacks += [(f"valid_{term}", PassthroughScoring(f"valid_{term}"))
                      for term in LOSS_TERMS]
    callbacks += [
        ("lr_scheduler", LRScheduler(policy="ReduceLROnPlateau", monitor=monitor,
                                     factor=LR_FACTOR, patience=LR_PATIENCE, min_lr=MIN_LR)),
        ("restore_best", RestoreBestWeights(monitor=monitor)),
    ]
    if checkpointer is not None:
        callbacks.append(("checkpoint", checkpointer))
    if progress_steps:
        callbacks.append(("progress", TrainingProgress(progress_steps)))
    if epoch_lines:
        callbacks.append(("epoch_lines", EpochLines(config["max_epochs"])))
    on_cuda = torch.device(device).type == "cuda"
    return DenoiSegNet(
        module=UNet,
        module__depth=config["depth"],
        module__n_filters=config["n_filters"],
        module__batch_norm=bool(config["batch_norm"]),
        module__n_dims=n_dims,
        module__in_channels=n_channels,
        module__n2v2=bool(config["n2v2"]),
        criterion=DenoiSegLoss,
        criterion__alpha=float(config["alpha"]),
        criterion__class_weights=tuple(float(w) for w in config["class_weights"]),
        criterion__n_channels=n_channels,
        optimizer=torch.optim.Adam,
        lr=config["lr"],
        max_epochs=config["max_epochs"],
        # every batch is one item of RandomBatches / FixedBatches
        iterator_train__batch_size=None,
        iterator_train__sampler=BatchSeeds(steps, seed),
        iterator_valid__batch_size=None,
        train_split=predefined_split(valid_batches) if has_valid else None,
        callbacks=callbacks,
        device=device,
        autocast_dtype=torch.bfloat16 if precision == "bf16" else None,
        channels_last=True,
        frozen=FROZEN[config["freeze"]],
        iterator_train__pin_memory=on_cuda,
        iterator_valid__pin_memory=on_cuda,
        # skorch's per-epoch table only when asked for more than the bar
        verbose=int(verbose >= 2),
    )


def train_network(config, images, labels, val_images=None, val_labels=None, *,
                  device, precision, random_state, checkpoint_dir=None, key_params=None,
                  verbose=1, init=None, normalization=None):
    """Train the DenoiSeg U-Net.

    Parameters
    ----------
    config : dict
        The estimator's training parameters (``alpha``, ``depth``, ...).
    images : list of ndarray (C, *spatial)
        Images, channels first, 2D or 3D.
    labels : list of ndarray (*spatial) or None
        All-zero label images mark unannotated images.
    val_images, val_labels : list or None
        A separate validation set; None holds out
        ``config["validation_fraction"]`` of the images instead.
    device, precision : str
        Resolved device and "bf16" or "fp32".
    random_state : numpy.random.RandomState
    checkpoint_dir : path or None
        Where to write per-epoch checkpoints and look for one to resume.
    key_params : dict or None
        Parameters that name the checkpoint file (with a digest of the data).
    init : dict or None
        A state dict of the same architecture to start from (warm start,
        fine-tuning); None starts from random weights.
    normalization : tuple (mean, std) or None
        Normalisation statistics to keep (a warm start); None computes them
        on ``images``.
    verbose : int
        0 silent; 1 one progress bar where a person watches
        (:func:`is_interactive`) and one plain line per epoch where output
        goes to a file (:func:`writes_epoch_lines`), nothing in worker
        processes; 2 skorch's per-epoch table, always, and the bar where a
        person watches.

    Returns
    -------
    TrainedNetwork
    """
    chatty = reports_progress(verbose)
    data = [images, labels or []] + ([val_images, val_labels or []] if val_images else [])
    if init is not None:  # a warm start resumes only from a checkpoint of the same start
        data.append([tensor.cpu().numpy() for tensor in init.values()])
    if normalization is not None:
        data.append([np.asarray(statistic, dtype=np.float64) for statistic in normalization])
    checkpoint, resume = _open_checkpoint(checkpoint_dir, key_params, data)
    if resume is None:
        seeds = random_state.randint(0, 2**31 - 1, size=4)
    else:
        seeds = np.array(resume[0]["seeds"])

    mean, std = fit_normalization(images) if normalization is None else normalization
    patch = per_axis(config["patch_size"], images[0].ndim - 1)
    all_images = [*images, *(val_images or [])]
    classes = (_classes(labels, len(images))
               + _classes(val_labels, len(all_images) - len(images)))
    annotated = np.array([c is not None for c in classes])
    if val_images is None:
        train, valid = split_images(annotated, config["validation_fraction"],
                                    np.random.default_rng(seeds[0]))
    else:
        train, valid = np.arange(len(images)), np.arange(len(images), len(all_images))
    normalized = [normalize(image, mean, std) for image in all_images]

    def sampler(indices):
        return PatchSampler(
            [normalized[i] for i in indices], [classes[i] for i in indices],
            patch_size=config["patch_size"], batch_size=config["batch_size"],
            label_fraction=config["label_fraction"], perc_pix=config["n2v_perc_pix"],
            radius=config["n2v_radius"], replacement=config["n2v_replacement"],
            struct_axis=config["struct_n2v_axis"], struct_span=config["struct_n2v_span"],
        )

    steps = config["steps_per_epoch"] or auto_steps(
        [all_images[i] for i in train], config["patch_size"], config["batch_size"])
    valid_batches = None
    # without annotated validation images the validation loss of a
    # segmentation-only model is always zero: monitor the training loss
    if len(valid) and (config["alpha"] > 0 or annotated[valid].any()):
        valid_patches = sum(math.prod(math.ceil(side / size) for side, size
                                      in zip(all_images[i].shape[1:], patch)) for i in valid)
        # about one pass over the validation images, but never more than a
        # quarter of the training steps of an epoch
        n_valid = min(math.ceil(valid_patches / config["batch_size"]), max(1, steps // 4))
        valid_batches = FixedBatches(sampler(valid), n_valid, seeds[1])

    checkpointer = None
    if checkpoint is not None:
        metadata = {"params": key_params, "mean_": mean, "std_": std,
                    "steps_per_epoch_": steps, "seeds": seeds.tolist()}
        checkpointer = Checkpoint(checkpoint, metadata, resume[1] if resume else None)
    done = 0 if resume is None else len(resume[0]["history"])
    epochs = config["max_epochs"] - done
    net = _build_net(config, n_dims=images[0].ndim - 1, n_channels=images[0].shape[0],
                     steps=steps, valid_batches=valid_batches, seed=seeds[2],
                     device=device, precision=precision, verbose=verbose,
                     checkpointer=checkpointer,
                     progress_steps=epochs * steps if is_interactive() and verbose else 0,
                     epoch_lines=writes_epoch_lines(verbose))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seeds[3]))
        net.initialize()
    if init is not None:
        net.module_.load_state_dict(init)
    if resume is not None:
        restore(net, *resume)
        if chatty:
            print(f"resuming from {checkpoint} after epoch {done}", flush=True)
    if chatty and epochs > 0:
        print(f"training {epochs} epochs x {steps} steps x {config['batch_size']} patches of "
              f"{'x'.join(map(str, patch))} on {device} ({precision}); "
              f"{len(train)} training and {len(valid)} validation images", flush=True)
    # partial_fit, unlike fit, keeps the seeded initialisation; it returns
    # normally after a KeyboardInterrupt, with the best weights restored
    with keep_freed_memory():
        net.partial_fit(RandomBatches(sampler(train), steps), None, epochs=epochs)
    _warn_if_interrupted(net.history, config["max_epochs"])

    def annotated_among(indices):
        return [int(i) for i in indices if annotated[i]]

    return TrainedNetwork(net.module_, net.history, steps, mean, std,
                          validation=annotated_among(valid),
                          annotated_training=annotated_among(train))
