r"""``isgd filters``: draw what a regularizer learned.

For a Field of Experts (:mod:`bilevel.foe`),
``R_theta(x) = sum_j D_j sum_p psi_j((c_j * x)_p)`` with ``D_j = e^{theta_0 + theta_j}`` and
``psi_j(u) = sqrt(u^2 + nu_j^2) - nu_j``:

* ``filters.png``: every kernel ``c_j`` (``k x k`` over the colour channels) as a colour image
  (mid-grey is 0; each kernel scaled by its largest absolute entry), titled with its weight ``D_j``;
  the initial kernels below when the training config is known;
* ``potentials.png``: the potentials ``D_j psi_j(u)`` and their derivatives ``D_j psi_j'(u)`` (the
  "influence functions") over filter responses ``u``, learned (one colour per expert) and initial
  (dashed).

For the weakly convex ridge family (:mod:`bilevel.ridge`), ``filters.png`` holds the kernels
(strongest first), the potentials of the eight strongest filters and each filter's share of the
negative-curvature budget, titled with the certified bound against the prescribed modulus.
"""
from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

import numpy as np
import torch

from .export import LearnedRegularizer, load_regularizer
from .plots import pyplot, save_figure
from .ridge import atom_phi, filter_activity

log = logging.getLogger(__name__)


def _initial_theta(reg: LearnedRegularizer) -> torch.Tensor | None:
    """The FoE run's starting point, rebuilt from its training config (``init_*`` options; ``None`` or a
    missing option takes the family's default); ``None`` without a training config."""
    cfg = reg.training
    if not cfg:
        return None
    options = {"scale": "init_scale", "nu": "init_nu"}
    given = {k: float(cfg[key]) for k, key in options.items() if cfg.get(key) is not None}
    return reg.family.init_theta(dtype=torch.float64, **given)


def _foe_parts(family, theta: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights ``D_j`` ``(J,)``, smoothing ``nu_j`` ``(J,)`` and kernels ``(J, C, k, k)``."""
    p = family.unpack(theta.to(torch.float64))
    weights = torch.exp(p.log_scale + p.log_weights).numpy()
    nu = torch.exp(p.log_nu).expand(family.num_experts).numpy()
    return weights, nu, p.kernels.numpy()


def _kernel_image(k: np.ndarray) -> np.ndarray:
    """A kernel ``(C, k, k)`` as an image in ``[0, 1]`` (0 is mid-grey); one channel -> grey."""
    scale = np.abs(k).max() or 1.0
    img = 0.5 + 0.5 * k / scale
    return np.repeat(img[0][..., None], 3, axis=2) if img.shape[0] == 1 else np.moveaxis(img[:3], 0, -1)


def draw_filters(reg: LearnedRegularizer, out: str | Path) -> list[Path]:
    """Write ``filters.png`` and ``potentials.png`` into ``out``; the paths written."""
    name = reg.family.describe().get("name")
    out = Path(out)
    if name == "ridge":
        return [draw_ridge(reg.family, reg.theta, out / "filters.png",
                           f"weakly convex ridge regularizer learned for {reg.task} at sigma = {reg.sigma:.4g}")]
    if name != "foe":
        raise ValueError(f"isgd filters draws Field-of-Experts and weakly convex ridge regularizers; this one is "
                         f"{name!r}")
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    learned = _foe_parts(reg.family, reg.theta)
    theta0 = _initial_theta(reg)
    initial = _foe_parts(reg.family, theta0) if theta0 is not None else None
    J = reg.family.num_experts
    rows = [("learned", learned)] + ([("initial", initial)] if initial is not None else [])
    fig, axes = plt.subplots(len(rows), J, figsize=(1.35 * J, 1.5 * len(rows) + 0.3), squeeze=False)
    for r, (label, (w, _, kernels)) in enumerate(rows):
        for j in range(J):
            ax = axes[r, j]
            ax.imshow(_kernel_image(kernels[j]), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{j + 1}: {w[j]:.3g}", fontsize=8)
        axes[r, 0].set_ylabel(label, fontsize=9)
    fig.suptitle(f"FoE kernels c_j ({reg.family.kernel_size}x{reg.family.kernel_size}x{reg.family.channels}; title: "
                 "j and weight D_j = e^(theta_0 + theta_j); grey = 0)", fontsize=9)
    paths = [save_figure(fig, out / "filters.png")]

    w, nu, _ = learned
    u_max = max(0.5, 6.0 * float(nu.max()))
    u = np.linspace(-u_max, u_max, 801)
    fig, (ax_p, ax_d) = plt.subplots(1, 2, figsize=(11, 4))
    for j in range(J):
        root = np.sqrt(u**2 + nu[j] ** 2)
        ax_p.plot(u, w[j] * (root - nu[j]), color=f"C{j % 10}", lw=1.2, label=f"expert {j + 1}")
        ax_d.plot(u, w[j] * u / root, color=f"C{j % 10}", lw=1.2)
    if initial is not None:
        wi, nui, _ = initial
        root = np.sqrt(u**2 + nui[0] ** 2)
        ax_p.plot(u, wi[0] * (root - nui[0]), "k--", lw=1.0, label="initial (every expert)")
        ax_d.plot(u, wi[0] * u / root, "k--", lw=1.0)
    ax_p.set_title("potentials D_j (sqrt(u^2 + nu^2) - nu)", fontsize=10)
    ax_d.set_title("derivatives D_j u / sqrt(u^2 + nu^2)", fontsize=10)
    for ax in (ax_p, ax_d):
        ax.set_xlabel("filter response u")
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.yaxis.set_major_locator(MaxNLocator(6))
    ax_p.legend(fontsize=7, ncol=2)
    fig.suptitle(f"learned for {reg.task} at sigma = {reg.sigma:.4g}; nu = "
                 + ", ".join(f"{v:.3g}" for v in sorted(set(np.round(nu, 6)))), fontsize=9)
    paths.append(save_figure(fig, out / "potentials.png"))
    return paths


def draw_ridge(family, theta: torch.Tensor, path: str | Path, title: str) -> Path:
    """Learned filters (RGB, each scaled to its largest entry; the budget share in the title) and the
    potentials ``psi_j`` (convex part, weakly convex part and their sum) on a range of responses."""
    plt = pyplot()
    R = family.at(theta.double())
    p = family.unpack(theta.double())
    J = family.num_filters
    act = filter_activity(family, theta)
    order = torch.argsort(torch.tensor(act.norms), descending=True).tolist()  # strongest filters first
    cols = min(12, J)
    rows = math.ceil(J / cols)
    fig = plt.figure(figsize=(cols * 1.0, rows * 1.1 + 3.6))
    gs = fig.add_gridspec(rows + 3, cols)
    for n, j in enumerate(order):
        ax = fig.add_subplot(gs[n // cols, n % cols])
        k = p.kernels[j]
        img = (0.5 + 0.5 * k / k.abs().max()).permute(1, 2, 0).numpy() if k.shape[0] == 3 else k[0].numpy()
        ax.imshow(img, cmap=None if k.shape[0] == 3 else "gray", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{j}", fontsize=6)
    ax = fig.add_subplot(gs[rows:, : cols // 2])
    t = torch.linspace(-0.5, 0.5, 801, dtype=torch.float64)
    for j in order[:8]:
        nu, s, omega = (float(v[j]) for v in (R.nu, R.s, R.omega))
        psi = torch.sqrt(t * t + nu * nu) - nu + omega * s * s * atom_phi(R.atom.name, t / s)
        ax.plot(t.numpy(), psi.numpy(), lw=1, label=f"filter {j}")
    ax.set_xlabel("filter response t")
    ax.set_ylabel("psi_j(t)")
    ax.set_title("potentials of the 8 strongest filters (the filter norm is their strength)", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    ax = fig.add_subplot(gs[rows:, cols // 2:])
    ax.bar(range(J), (R.rho / R.rho.sum().clamp_min(1e-30)).numpy()[order], color="C3")
    ax.set_xlabel("filter (same order)")
    ax.set_ylabel("share of rho")
    ax.yaxis.set_label_position("right")
    ax.set_title(f"certified negative curvature {R.negative_curvature_bound():.3f} (prescribed <= {family.weak_convexity})",
                 fontsize=9)
    fig.suptitle(f"{title}; {act.active} of {J} filters above {act.threshold:g} x the largest norm", fontsize=10)
    return save_figure(fig, path)


def add_filters_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("regularizer", metavar="RUN_DIR_OR_FILE",
                   help="a run directory of `isgd train` or a regularizer file (regularizer.json)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="where filters.png and potentials.png go (default: RUN_DIR/figures, or the file's folder)")


def run_filters(args: argparse.Namespace) -> int:
    from .rundir import check_writable_directory

    src = Path(args.regularizer)
    reg = load_regularizer(src)
    out = Path(args.out) if args.out else (src / "figures" if src.is_dir() else src.parent)
    check_writable_directory(out, "--out")
    for path in draw_filters(reg, out):
        log.info("written %s", path)
    return 0
