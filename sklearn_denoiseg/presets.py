"""Named training budgets for :class:`~sklearn_denoiseg.DenoiSegEstimator`.

The estimator's defaults are the paper's network and schedule, sized for a
GPU (200 epochs of up to 400 steps of 128 patches: hours even there, a day
or more on a CPU). A preset is a dict of parameters to start from::

    DenoiSegEstimator.from_preset("cpu", alpha=0.3)
    DenoiSegEstimator(**PRESETS["cpu"], alpha=0.3)      # the same
    denoiseg train raw/ --masks masks/ --model m.pt --preset cpu

====== ===============================================================
paper  the defaults: the paper's 5.5 M-parameter U-Net and schedule
cpu    half the width, 10 epochs of 35 steps of 32 patches (about 11,000
       patches): about 40 s per model on two CPU cores, the demo's budget
smoke  a tiny network for a few seconds: checks that a pipeline runs,
       does not segment well
====== ===============================================================
"""

__all__ = ["PRESETS", "preset"]

PRESETS = {
    "paper": {},
    "cpu": dict(n_filters=16, batch_size=32, steps_per_epoch=35, max_epochs=10, lr=1e-3),
    "smoke": dict(depth=2, n_filters=8, patch_size=32, batch_size=8, steps_per_epoch=4,
                  max_epochs=2, lr=1e-3),
}


def preset(name):
    """A copy of the parameters of preset ``name``.

    Parameters
    ----------
    name : {"paper", "cpu", "smoke"}

    Returns
    -------
    dict

    Examples
    --------
    >>> preset("cpu")["max_epochs"]
    10
    """
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}; got {name!r}")
    return dict(PRESETS[name])
