"""Figures (matplotlib, Agg backend), each written as PNG with its data as CSV."""

from __future__ import annotations

import csv
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..elements import ALKALI_METALS  # noqa: E402

_COLORS = {
    "Li": "#7b3294",
    "Na": "#e66101",
    "K": "#1b7837",
    "Rb": "#2166ac",
    "Cs": "#b2182b",
}


def plot_formation_vs_layers(table: Sequence[dict], path, title: str = "") -> Path:
    """Formation energy (eV per metal atom) vs number of metal layers.

    One panel per graphene stacking (AA and AB side by side, shared y axis), one
    line per metal; open markers flag unconverged relaxations.  The data behind the
    figure is written next to it as ``<name>.csv``.
    """
    path = Path(path)
    stackings = sorted({r["stacking"] for r in table}) or ["AA"]
    fig, axes = plt.subplots(
        1,
        len(stackings),
        figsize=(4.2 * len(stackings), 3.6),
        sharey=True,
        squeeze=False,
    )
    for ax, stacking in zip(axes[0], stackings, strict=True):
        for metal in ALKALI_METALS:
            pts = sorted(
                (
                    r
                    for r in table
                    if r["metal"] == metal
                    and r["stacking"] == stacking
                    and r.get("formation_energy_eV_per_metal_atom") is not None
                ),
                key=lambda r: r["n_layers"],
            )
            if not pts:
                continue
            n = [r["n_layers"] for r in pts]
            e = [r["formation_energy_eV_per_metal_atom"] for r in pts]
            color = _COLORS.get(metal)
            ax.plot(n, e, "-", color=color, label=metal)
            for ni, ei, r in zip(n, e, pts, strict=True):
                ax.plot(
                    ni,
                    ei,
                    "o",
                    color=color,
                    markerfacecolor=color if r.get("converged") else "white",
                )
        ax.axhline(0.0, color="0.5", lw=0.8, ls="--")
        ax.set_title(f"{stacking} bilayer graphene")
        ax.set_xlabel("metal layers")
        ax.set_xticks([1, 2, 3, 4])
    axes[0][0].set_ylabel("formation energy (eV / metal atom)")
    axes[0][-1].legend(frameon=False, fontsize=8)
    if title:  # long engine descriptions: wrapped to the figure's width
        width = int(11 * fig.get_figwidth())
        fig.suptitle(textwrap.fill(title, width), fontsize=9)
    return save_figure(
        fig,
        path,
        [
            "metal",
            "stacking",
            "n_layers",
            "formation_energy_eV_per_metal_atom",
            "converged",
        ],
        (
            [
                r["metal"],
                r["stacking"],
                r["n_layers"],
                r.get("formation_energy_eV_per_metal_atom"),
                r.get("converged"),
            ]
            for r in table
        ),
    )


def save_figure(fig, path, header: Sequence[str], rows: Iterable, dpi: int = 150):
    """Save ``fig`` as ``path`` (PNG) and its data as ``<name>.csv``; return path."""
    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    with path.with_suffix(".csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path
