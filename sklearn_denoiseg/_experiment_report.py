"""Tables and figures of the few-shot experiment, from its rows: the paper's
Figure 3 (AP against annotated images), Figure 4a (alpha), Figure 4b (the
change of AP with the noise level), the gain of co-learning per noise level,
and Table 1 (PSNR)."""

import numpy as np

METHODS = ("Baseline", "Sequential", "DenoiSeg")
"""Segmentation methods of the paper's Figure 3, in plotting order."""

MAIN_ALPHA = 0.5
"""The alpha of "DenoiSeg" in Figure 3 and Table 1; other alphas are the
sensitivity runs of Figure 4a."""

COLORS = {"Baseline": "tab:blue", "Sequential": "tab:orange", "DenoiSeg": "tab:green"}


def _is_main(row):
    """Rows of Figure 3: every Baseline and Sequential run, DenoiSeg at
    :data:`MAIN_ALPHA`."""
    return row["method"] in METHODS and (row["method"] != "DenoiSeg"
                                         or np.isclose(row["alpha"], MAIN_ALPHA))


def mean_se(values):
    """Mean and standard error of the finite ``values`` (NaN when there
    are none; NaN standard error for one)."""
    values = np.asarray([v for v in values if not np.isnan(v)], dtype=float)
    if len(values) == 0:
        return np.nan, np.nan
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else np.nan
    return float(values.mean()), float(se)


def cell(mean, se, digits=3):
    """``mean ± se`` as text; empty for NaN, the mean alone without se."""
    if np.isnan(mean):
        return ""
    return f"{mean:.{digits}f}" if np.isnan(se) else f"{mean:.{digits}f} ± {se:.{digits}f}"


def summarize(rows):
    """Mean and standard error over seeds of AP, SEG and AP on real nuclei
    per configuration of Figure 3.

    Parameters
    ----------
    rows : list of dict
        As returned by :func:`~sklearn_denoiseg.experiments.run_experiment`.

    Returns
    -------
    list of dict
        One entry per (protocol, sigma, method, n_annotated) of the
        segmentation methods (DenoiSeg at alpha 0.5), with ``n_runs`` and
        ``<metric>_mean``, ``<metric>_se`` for AP, SEG and AP_real (NaN
        standard error for a single run).
    """
    groups = {}
    for row in filter(_is_main, rows):
        key = (row["protocol"], row["sigma"], row["method"], row["n_annotated"])
        groups.setdefault(key, []).append(row)
    order = sorted(groups, key=lambda g: (g[0], g[1], METHODS.index(g[2]), g[3]))
    summary = []
    for protocol, sigma, method, k in order:
        group = groups[(protocol, sigma, method, k)]
        entry = {"protocol": protocol, "sigma": sigma, "method": method, "n_annotated": k,
                 "n_runs": len(group)}
        for metric in ("AP", "SEG", "AP_real"):
            entry[f"{metric}_mean"], entry[f"{metric}_se"] = mean_se(
                [r.get(metric, np.nan) for r in group])
        summary.append(entry)
    return summary


def segmentation_table(rows, metric="AP"):
    """The paper's Figure 3 in numbers, as a Markdown table.

    Parameters
    ----------
    rows : list of dict
        As returned by :func:`~sklearn_denoiseg.experiments.run_experiment`.
    metric : {"AP", "SEG", "AP_real"}, default="AP"
        ``AP_real``: AP on the real nuclei image of models trained on
        synthetic images.

    Returns
    -------
    str
        One line per protocol, noise level and method, one column per number
        of annotated images; cells hold the mean ± standard error over seeds.
    """
    if metric not in ("AP", "SEG", "AP_real"):
        raise ValueError(f"metric must be 'AP', 'SEG' or 'AP_real'; got {metric!r}")
    summary = summarize(rows)
    budgets = sorted({s["n_annotated"] for s in summary})
    lines = ["| protocol | sigma | method | "
             + " | ".join(f"{k} annotated" for k in budgets) + " |",
             "|---|---|---|" + "---|" * len(budgets)]
    for protocol, sigma in sorted({(s["protocol"], s["sigma"]) for s in summary}):
        for method in METHODS:
            cells = {s["n_annotated"]: cell(s[f"{metric}_mean"], s[f"{metric}_se"])
                     for s in summary if (s["protocol"], s["sigma"], s["method"])
                     == (protocol, sigma, method)}
            if any(cells.values()):
                lines.append(f"| {protocol} | {sigma:g} | {method} | "
                             + " | ".join(cells.get(k, "") for k in budgets) + " |")
    return "\n".join(lines)


def _paired_gains(rows, method, alpha=None):
    """AP of ``method`` minus the Baseline's of the same protocol, noise,
    seed and budget: {(protocol, sigma, k): [gain per seed]}."""
    baseline = {(r["protocol"], r["sigma"], r["seed"], r["n_annotated"]): r["AP"]
                for r in rows if r["method"] == "Baseline"}
    gains = {}
    for r in rows:
        if r["method"] != method or (alpha is not None and not np.isclose(r["alpha"], alpha)):
            continue
        key = (r["protocol"], r["sigma"], r["seed"], r["n_annotated"])
        if key in baseline:
            gains.setdefault((key[0], key[1], key[3]), []).append(r["AP"] - baseline[key])
    return gains


def gain_table(rows):
    """How much the denoising methods add to the Baseline, per noise level:
    AP minus the Baseline's AP of the same seed, mean ± standard error over
    seeds, as a Markdown table."""
    gains = {method: _paired_gains(rows, method, MAIN_ALPHA if method == "DenoiSeg" else None)
             for method in ("Sequential", "DenoiSeg")}
    keys = sorted(set(gains["Sequential"]) | set(gains["DenoiSeg"]))
    budgets = sorted({k for _, _, k in keys})
    lines = ["| protocol | sigma | method | " + " | ".join(f"{k} annotated" for k in budgets)
             + " |", "|---|---|---|" + "---|" * len(budgets)]
    for protocol, sigma in sorted({(p, s) for p, s, _ in keys}):
        for method, by_key in gains.items():
            cells = [cell(*mean_se(by_key.get((protocol, sigma, k), []))) for k in budgets]
            if any(cells):
                lines.append(f"| {protocol} | {sigma:g} | {method} - Baseline | "
                             + " | ".join(cells) + " |")
    return "\n".join(lines)


def noise_table(rows):
    """The paper's "noise helps" (Figure 4b) in numbers: each method's AP at
    every noise level minus its AP at the lowest noise level of the same
    seed (the same clean images, annotated images and initialisation; each
    noise level is tested on its own noisy test images), mean ± standard
    error over seeds, as a Markdown table. Empty with a single noise level.
    """
    sigmas = sorted({r["sigma"] for r in rows if _is_main(r)})
    if len(sigmas) < 2:
        return ""
    lowest = {(r["protocol"], r["method"], r["seed"], r["n_annotated"]): r["AP"]
              for r in filter(_is_main, rows) if r["sigma"] == sigmas[0]}
    changes = {}
    for r in filter(_is_main, rows):
        key = (r["protocol"], r["method"], r["seed"], r["n_annotated"])
        if r["sigma"] != sigmas[0] and key in lowest:
            changes.setdefault((r["protocol"], r["sigma"], r["method"], r["n_annotated"]),
                               []).append(r["AP"] - lowest[key])
    budgets = sorted({key[3] for key in changes})
    lines = ["| protocol | sigma | method | " + " | ".join(f"{k} annotated" for k in budgets)
             + " |", "|---|---|---|" + "---|" * len(budgets)]
    for protocol, sigma in sorted({key[:2] for key in changes}):
        for method in METHODS:
            cells = [cell(*mean_se(changes.get((protocol, sigma, method, k), [])))
                     for k in budgets]
            if any(cells):
                lines.append(f"| {protocol} | {sigma:g} - {sigmas[0]:g} | {method} | "
                             + " | ".join(cells) + " |")
    return "\n".join(lines)


def alpha_table(rows):
    """The paper's Figure 4a in numbers: DenoiSeg's AP minus the Baseline's
    for every alpha run, per protocol, noise level and budget, and the best
    alpha (highest mean gain, chosen after the fact, so optimistic). Empty
    when only one alpha was run."""
    alphas = sorted({r["alpha"] for r in rows if r["method"] == "DenoiSeg"})
    if len(alphas) < 2:
        return ""
    per_alpha = {alpha: _paired_gains(rows, "DenoiSeg", alpha) for alpha in alphas}
    keys = sorted({key for gains in per_alpha.values() for key in gains})
    lines = ["| protocol | sigma | annotated | "
             + " | ".join(f"alpha {a:g}" for a in alphas) + " | best alpha |",
             "|---|---|---|" + "---|" * (len(alphas) + 1)]
    for key in keys:
        stats = [mean_se(per_alpha[a].get(key, [])) for a in alphas]
        means = [m if not np.isnan(m) else -np.inf for m, _ in stats]
        best = alphas[int(np.argmax(means))]
        lines.append(f"| {key[0]} | {key[1]:g} | {key[2]} | "
                     + " | ".join(cell(*s) for s in stats) + f" | {best:g} |")
    return "\n".join(lines)


def psnr_table(rows):
    """The paper's Table 1 in kind, as a Markdown table.

    Parameters
    ----------
    rows : list of dict
        As returned by :func:`~sklearn_denoiseg.experiments.run_experiment`.

    Returns
    -------
    str
        PSNR (dB, mean ± standard error over seeds) of the noisy input, of
        Noise2Void (``alpha=1``) and of DenoiSeg (``alpha=0.5``) per number of
        annotated images; one line per protocol and noise level with a clean
        reference.
    """
    measured = [r for r in rows if not np.isnan(r["PSNR"])]
    sigmas = sorted({r["sigma"] for r in measured})
    protocols = sorted({r["protocol"] for r in measured if r["method"] == "DenoiSeg"})
    budgets = sorted({r["n_annotated"] for r in measured if r["method"] == "DenoiSeg"})
    columns = [("Input", 0, "noisy input"), ("Noise2Void", 0, "Noise2Void")] + [
        ("DenoiSeg", k, f"DenoiSeg, {k} annotated") for k in budgets]
    lines = ["| protocol | sigma | " + " | ".join(title for _, _, title in columns) + " |",
             "|---|---|" + "---|" * len(columns)]
    for protocol in protocols:
        for sigma in sigmas:
            cells = []
            for method, k, _ in columns:
                mean, se = mean_se([
                    r["PSNR"] for r in measured if r["sigma"] == sigma and r["method"] == method
                    and r["n_annotated"] == k and r["protocol"] in (protocol, "")
                    and (method != "DenoiSeg" or np.isclose(r["alpha"], MAIN_ALPHA))])
                cells.append(cell(mean, se, digits=2))
            lines.append(f"| {protocol} | {sigma:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_figure3(rows, path=None, metric="AP"):
    """``metric`` against the number of annotated images, one row of panels
    per validation protocol and one column per noise level, mean ±
    standard error over seeds, like the paper's Figure 3.

    Parameters
    ----------
    rows : list of dict
        As returned by :func:`~sklearn_denoiseg.experiments.run_experiment`.
    path : str or Path, default=None
        Where to save the figure; not saved when None.
    metric : {"AP", "SEG", "AP_real"}, default="AP"

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    summary = summarize(rows)
    if not summary:
        raise ValueError("rows hold no Baseline, Sequential or DenoiSeg run to plot")
    sigmas = sorted({s["sigma"] for s in summary})
    protocols = sorted({s["protocol"] for s in summary})
    fig, axes = plt.subplots(len(protocols), len(sigmas),
                             figsize=(4 * len(sigmas), 3.4 * len(protocols) + 0.4),
                             sharex=True, sharey=True, squeeze=False)
    budgets = sorted({s["n_annotated"] for s in summary})
    for row_index, protocol in enumerate(protocols):
        for column, sigma in enumerate(sigmas):
            ax = axes[row_index, column]
            for method in METHODS:
                points = [s for s in summary if (s["protocol"], s["sigma"], s["method"])
                          == (protocol, sigma, method)]
                if not points:
                    continue
                k = np.array([p["n_annotated"] for p in points])
                mean = np.array([p[f"{metric}_mean"] for p in points])
                se = np.nan_to_num([p[f"{metric}_se"] for p in points])
                ax.plot(k, mean, "o-", color=COLORS[method], label=method)
                ax.fill_between(k, mean - se, mean + se, color=COLORS[method], alpha=0.2)
            ax.set_xscale("log")
            ax.set_xticks(budgets)
            ax.get_xaxis().set_major_formatter(plt.ScalarFormatter())
            ax.grid(alpha=0.3)
            ax.set_title(f"{protocol} validation, sigma = {sigma:g}", fontsize=10)
            if row_index == len(protocols) - 1:
                ax.set_xlabel("annotated training images")
            if column == 0:
                ax.set_ylabel(metric)
    axes[0, 0].legend(loc="lower right")
    n_seeds = len({r["seed"] for r in rows if r["method"] in METHODS})
    fig.suptitle(f"{metric}: mean ± standard error over {n_seeds} seeds")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def plot_alpha(rows, path=None):
    """The paper's Figure 4a: DenoiSeg's AP gain over the Baseline against
    alpha, one line per number of annotated images, one panel per protocol
    and noise level. Returns None when only one alpha was run."""
    import matplotlib.pyplot as plt

    alphas = sorted({r["alpha"] for r in rows if r["method"] == "DenoiSeg"})
    if len(alphas) < 2:
        return None
    per_alpha = {alpha: _paired_gains(rows, "DenoiSeg", alpha) for alpha in alphas}
    panels = sorted({key[:2] for gains in per_alpha.values() for key in gains})
    budgets = sorted({key[2] for gains in per_alpha.values() for key in gains})
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels) + 1.4, 3.6),
                             squeeze=False, sharey=True)
    for ax, (protocol, sigma) in zip(axes[0], panels):
        for k, color in zip(budgets, plt.cm.viridis(np.linspace(0, 0.9, len(budgets)))):
            stats = [mean_se(per_alpha[a].get((protocol, sigma, k), [])) for a in alphas]
            mean, se = np.array(stats).T
            ax.errorbar(alphas, mean, yerr=np.nan_to_num(se), marker="o", color=color,
                        capsize=3, label=f"{k} annotated")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_title(f"{protocol} validation, sigma = {sigma:g}", fontsize=10)
        ax.set_xlabel("alpha")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("AP of DenoiSeg - AP of Baseline")
    axes[0, -1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))  # beside the data
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
