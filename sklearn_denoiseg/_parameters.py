"""The estimator's parameters: what each one is for, and their checks.

Every parameter has one role, declared here once:

- ``"training"``: changes the trained network (and so names its checkpoint);
- ``"prediction"``: read when predicting, so ``set_params`` on a fitted model
  takes effect without refitting;
- ``"execution"``: where and how loudly things run, not what they compute.
"""

import math
import numbers
import os

import numpy as np

from ._axes import ImageAxes, per_axis
from ._hardware import PRECISIONS
from ._masking import REPLACEMENTS, STRUCT_AXES
from ._tiling import check_tile_size
from ._validation import check_scalar

SPATIAL_DEFAULTS = {
    2: {"patch_size": 64, "batch_size": 128},
    3: {"patch_size": (16, 64, 64), "batch_size": 8},
}
"""What ``patch_size=None`` and ``batch_size=None`` mean, per number of
spatial axes. 2D: the paper's 128 patches of 64x64. 3D: patches of 16
planes of 64x64 (stacks are rarely more than a few tens of planes, and their
planes lie farther apart than their pixels), 8 per step: the voxels of the
2D step."""

ROLES = {
    "alpha": "training",
    "depth": "training",
    "n_filters": "training",
    "batch_norm": "training",
    "patch_size": "training",
    "batch_size": "training",
    "max_epochs": "training",
    "steps_per_epoch": "training",
    "lr": "training",
    "n2v_perc_pix": "training",
    "n2v_radius": "training",
    "n2v2": "training",
    "n2v_replacement": "training",
    "struct_n2v_axis": "training",
    "struct_n2v_span": "training",
    "class_weights": "training",
    "label_fraction": "training",
    "validation_fraction": "training",
    "precision": "training",
    "axes": "training",
    "random_state": "training",
    "warm_start": "training",
    "freeze": "training",
    "refit_normalization": "training",
    "threshold": "prediction",
    "tile_size": "prediction",
    "device": "execution",
    "checkpoint_dir": "execution",
    "verbose": "execution",
}


FREEZE = (None, "encoder")
"""Values of ``freeze``: nothing, or the encoder (see ``_training.FROZEN``)."""


def with_role(params, *roles):
    """The entries of ``params`` whose role is one of ``roles``."""
    return {name: value for name, value in params.items() if ROLES[name] in roles}


def with_defaults(params):
    """``params`` with a None ``patch_size`` or ``batch_size`` replaced by
    the default for the dimensionality of ``axes``, and a None
    ``n2v_replacement`` by the rule of ``n2v2`` ("median" with N2V2, the
    paper's "uniform_with_center" without)."""
    defaults = dict(SPATIAL_DEFAULTS[ImageAxes(params["axes"]).n_spatial],
                    n2v_replacement="median" if params["n2v2"] else "uniform_with_center")
    return {**params, **{name: value for name, value in defaults.items()
                         if params[name] is None}}


def portable(params):
    """Parameters as plain values that survive a JSON round trip."""
    params = dict(params)
    if not isinstance(params.get("random_state"), (numbers.Integral, type(None))):
        params["random_state"] = None  # a RandomState object is not portable
    if params.get("checkpoint_dir") is not None:
        params["checkpoint_dir"] = str(params["checkpoint_dir"])
    if "class_weights" in params:
        params["class_weights"] = [float(w) for w in params["class_weights"]]
    return params


def check_params(params):
    """Check the type and range of every parameter; raise with a message that
    names the parameter, what it accepts and what it got."""
    Integral, Real = numbers.Integral, numbers.Real
    p = params
    check_scalar(p["alpha"], "alpha", low=0, high=1)
    check_scalar(p["depth"], "depth", kind=Integral, low=1, high=8)
    check_scalar(p["n_filters"], "n_filters", kind=Integral, low=1)
    if not isinstance(p["batch_norm"], (bool, np.bool_)):
        raise TypeError(f"batch_norm must be True or False; got {p['batch_norm']!r}")
    axes = ImageAxes(p["axes"])
    check_patch_size(with_defaults(p)["patch_size"], axes.n_spatial, p["depth"],
                     from_none=p["patch_size"] is None)
    check_scalar(p["batch_size"], "batch_size", kind=Integral, low=1, allow=(None,))
    if p["batch_norm"]:
        check_bottleneck(with_defaults(p), axes.n_spatial)
    check_scalar(p["max_epochs"], "max_epochs", kind=Integral, low=1)
    check_scalar(p["steps_per_epoch"], "steps_per_epoch", kind=Integral, low=1, allow=(None,))
    check_scalar(p["lr"], "lr", low=0, low_inclusive=False)
    check_scalar(p["n2v_perc_pix"], "n2v_perc_pix", low=0, high=100, low_inclusive=False)
    check_scalar(p["n2v_radius"], "n2v_radius", kind=Integral, low=1)
    if not isinstance(p["n2v2"], (bool, np.bool_)):
        raise TypeError(f"n2v2 must be True or False; got {p['n2v2']!r}")
    if p["n2v_replacement"] not in (None, *REPLACEMENTS):
        raise ValueError(f"n2v_replacement must be None or one of {', '.join(REPLACEMENTS)}; "
                         f"got {p['n2v_replacement']!r}")
    if p["struct_n2v_axis"] not in (None, *STRUCT_AXES):
        raise ValueError(f"struct_n2v_axis must be None, 'horizontal' or 'vertical'; "
                         f"got {p['struct_n2v_axis']!r}")
    check_scalar(p["struct_n2v_span"], "struct_n2v_span", kind=Integral, low=3)
    if p["struct_n2v_span"] % 2 == 0:
        raise ValueError(f"struct_n2v_span must be odd (the blind spot in the middle); "
                         f"got {p['struct_n2v_span']}")
    weights = np.asarray(p["class_weights"], dtype=object)
    if weights.shape != (3,) or not all(
        isinstance(w, Real) and not isinstance(w, bool) and w >= 0 for w in weights
    ):
        raise ValueError("class_weights must be 3 non-negative numbers (background, foreground, "
                         f"border); got {p['class_weights']!r}")
    check_scalar(p["label_fraction"], "label_fraction", low=0, high=1, low_inclusive=False,
                 allow=(None,))
    check_scalar(p["validation_fraction"], "validation_fraction", low=0, high=1,
                 high_inclusive=False)
    check_threshold(p["threshold"])
    check_tile_size(p["tile_size"], p["depth"], axes.n_spatial, p["n2v2"])
    check_scalar(p["verbose"], "verbose", kind=Integral, low=0)
    for name in ("warm_start", "refit_normalization"):
        if not isinstance(p[name], (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False; got {p[name]!r}")
    if p["freeze"] not in FREEZE:
        raise ValueError(f"freeze must be None or 'encoder'; got {p['freeze']!r}")
    if p["precision"] not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {p['precision']!r}")
    if p["checkpoint_dir"] is not None and not isinstance(p["checkpoint_dir"],
                                                          (str, os.PathLike)):
        raise TypeError(f"checkpoint_dir must be a path or None; got {p['checkpoint_dir']!r}")


def check_patch_size(patch_size, n_spatial, depth, from_none=False):
    """``patch_size``: an int, or one int per spatial axis, multiples of
    ``2**depth``; ``from_none`` says that it is the default for None."""
    sides = (patch_size,) if isinstance(patch_size, numbers.Integral) else patch_size
    if isinstance(patch_size, (str, bytes)) or not isinstance(sides, (tuple, list)) or len(
            sides) not in (1, n_spatial) or not all(
            isinstance(side, numbers.Integral) and not isinstance(side, bool) and side >= 1
            for side in sides):
        raise ValueError(f"patch_size must be a positive integer or a tuple of {n_spatial} "
                         f"positive integers (one per spatial axis); got {patch_size!r}")
    if any(side % 2**depth for side in sides):
        got = f"None, which means {patch_size!r} here" if from_none else repr(patch_size)
        raise ValueError(f"patch_size must be a multiple of 2**depth = {2**depth} on every "
                         f"axis; got {got}")


def check_bottleneck(params, n_spatial):
    """Batch normalisation needs more than one value per channel in a
    training batch, also at the U-Net's bottleneck, where a patch has
    shrunk by ``2**depth`` on every axis."""
    depth, batch_size = params["depth"], params["batch_size"]
    bottleneck = [side // 2**depth for side in per_axis(params["patch_size"], n_spatial)]
    if batch_size * math.prod(bottleneck) < 2:
        raise ValueError(
            f"batch_size={batch_size} with patch_size={params['patch_size']!r} leaves one value "
            f"per channel at the bottleneck of a U-Net of depth={depth} (patches shrink by "
            f"2**depth = {2**depth} per axis), which batch normalisation cannot train on; use "
            f"batch_size >= 2, a patch_size of at least {2 ** (depth + 1)} on some axis, a "
            "smaller depth or batch_norm=False")


def check_threshold(threshold):
    """``threshold`` must be "auto" or a probability in [0, 1)."""
    return check_scalar(threshold, "threshold", low=0, high=1, high_inclusive=False,
                        allow=("auto",))
