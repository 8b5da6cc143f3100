"""Charge-transfer tables and figures from charge-run results (no calculators).

Sign convention: a net charge is the nuclear charge minus the Bader population, so
positive = electrons given away (metal atoms), negative = electrons received
(carbon).  ``dq_z`` is the electron count that left the depletion region
(``drho < 0``) around a metal plane, per atom of the plane (positive).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..elements import ALKALI_METALS
from .figures import _COLORS, plt, save_figure
from .tables import write_csv, write_markdown

CHARGE_COLUMNS = (
    "label",
    "metal",
    "host",
    "n_layers",
    "n_atoms",
    "bader_metal_e_per_atom",
    "bader_outer_e_per_atom",
    "bader_inner_e_per_atom",
    "bader_layers_e_per_atom",
    "bader_C_e_per_atom",
    "dq_z_mean_e_per_atom",
    "dq_z_layers_e_per_atom",
    "bader_sum_error_e",
    "drho_integral_e",
)


def _slash(values: Sequence[float]) -> str:
    return " / ".join(f"{v:+.3f}" for v in values)


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def charge_row(result: dict) -> dict:
    """One table row (see :data:`CHARGE_COLUMNS`) from a charge result."""
    info = result.get("info", {})
    summary = result["summary"]
    layers = summary["layers"]
    q = np.array(result["net_charges_e"])
    symbols = np.array(result["symbols"])
    metal = result["metal"]
    sheets = summary["sheets"].values()
    n_c = sum(s["n_carbon"] for s in sheets)
    outer = [x["net_charge_e"] for x in layers if x["position"] == "outer"]
    n_outer = sum(x["n_atoms"] for x in layers if x["position"] == "outer")
    inner = [x["net_charge_e"] for x in layers if x["position"] == "inner"]
    n_inner = sum(x["n_atoms"] for x in layers if x["position"] == "inner")
    return {
        "label": result["label"],
        "metal": metal,
        "host": info.get("host", ""),
        "n_layers": info.get("n_layers", len(layers)),
        "n_atoms": result["n_atoms"],
        "bader_metal_e_per_atom": float(q[symbols == metal].mean()),
        "bader_outer_e_per_atom": sum(outer) / n_outer if n_outer else None,
        "bader_inner_e_per_atom": sum(inner) / n_inner if n_inner else None,
        "bader_layers_e_per_atom": _slash([x["per_atom_e"] for x in layers]),
        "bader_C_e_per_atom": (
            sum(s["total_e"] for s in sheets) / n_c if n_c else None
        ),
        "dq_z_mean_e_per_atom": _mean(result["dq_z_per_atom_e"]),
        "dq_z_layers_e_per_atom": _slash(result["dq_z_per_atom_e"]),
        "bader_sum_error_e": result["bader_sum_error_e"],
        "drho_integral_e": result["drho_integral_e"],
    }


def _order(row: dict):
    metal = row["metal"]
    rank = ALKALI_METALS.index(metal) if metal in ALKALI_METALS else 99
    return (row["host"] != "bilayer_graphene", rank, row["n_layers"] or 0, row["label"])


def charge_table(results: Sequence[dict]) -> list[dict]:
    """Rows of the finished results, bilayer models first, by metal and layers."""
    return sorted((charge_row(r) for r in results if r["status"] == "ok"), key=_order)


def plot_density_differences(results: Sequence[dict], path) -> Path:
    """Plane-averaged drho(z) of every model, metal planes (coloured) and C planes.

    One panel per model; the profile data goes to ``<name>.csv`` (long format).
    """
    path = Path(path)
    ok = sorted(
        (r for r in results if r["status"] == "ok"), key=lambda r: _order(charge_row(r))
    )
    ncol = 3
    nrow = max(1, -(-len(ok) // ncol))
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(4.0 * ncol, 2.6 * nrow), squeeze=False
    )
    for ax in axes.flat[len(ok) :]:
        ax.axis("off")
    for ax, r in zip(axes.flat, ok, strict=False):
        z = np.array(r["z_A"])
        d = np.array(r["drho_e_per_A"])
        color = _COLORS.get(r["metal"], "k")
        ax.plot(z, d, color="k", lw=1.0)
        ax.fill_between(z, d, 0, where=d < 0, color=color, alpha=0.35, lw=0)
        for zc in r["carbon_planes_z_A"]:
            ax.axvline(zc, color="0.45", ls="-", lw=1.2)
        for zm in r["metal_planes_z_A"]:
            ax.axvline(zm, color=color, ls="--", lw=1.0)
        ax.axhline(0.0, color="0.6", lw=0.6)
        ax.set_title(r["label"], fontsize=9)
        ax.set_xlabel("z (A)")
        ax.set_ylabel("drho (e/A)")
    fig.suptitle(
        "Plane-averaged density difference rho(host+M) - rho(host) - rho(M); "
        "grey: C planes, dashed: metal planes, shaded: depletion",
        fontsize=9,
    )
    return save_figure(
        fig,
        path,
        ["label", "z_A", "drho_e_per_A"],
        (
            [r["label"], f"{zi:.4f}", f"{di:.6f}"]
            for r in ok
            for zi, di in zip(r["z_A"], r["drho_e_per_A"], strict=True)
        ),
        dpi=130,
    )


def plot_layer_charges(results: Sequence[dict], path) -> Path:
    """Bars of the charge given away per metal atom of each layer: Bader vs dq_z.

    The data goes to ``<name>.csv``.
    """
    path = Path(path)
    ok = sorted(
        (r for r in results if r["status"] == "ok"), key=lambda r: _order(charge_row(r))
    )
    rows = []
    for r in ok:
        for layer, dq in zip(r["summary"]["layers"], r["dq_z_per_atom_e"], strict=True):
            rows.append((r["label"], r["metal"], layer["layer"], layer, dq))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(rows) + 2), 3.6))
    x = np.arange(len(rows))
    bader = [row[3]["per_atom_e"] for row in rows]
    dqz = [row[4] for row in rows]
    colors = [_COLORS.get(row[1], "k") for row in rows]
    ax.bar(x - 0.2, bader, 0.4, color=colors, label="Bader")
    ax.bar(x + 0.2, dqz, 0.4, color=colors, alpha=0.4, hatch="//", label="dq_z")
    ax.set_xticks(x)
    ax.set_xticklabels(
        [f"{_short(row[0])} L{row[2]}" for row in rows],
        rotation=70,
        fontsize=7,
    )
    ax.set_ylabel("electrons given away\nper metal atom (e)")
    ax.axhline(0.0, color="0.5", lw=0.6)
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(
        "Charge per metal layer: Bader (solid) vs plane-averaged dq_z", fontsize=9
    )
    return save_figure(
        fig,
        path,
        ["label", "layer", "position", "bader_e_per_atom", "dq_z_e_per_atom"],
        (
            [label, n, layer["position"], f"{layer['per_atom_e']:.4f}", f"{dq:.4f}"]
            for label, _, n, layer, dq in rows
        ),
    )


def _short(label: str) -> str:
    """Tick label: the model without its host prefix (``Li-2L-AA``, ``LiC6``)."""
    return label.replace("bilayer_graphene-", "").replace("graphite_intercalation-", "")


def write_charge_outputs(
    results: Sequence[dict], out, title: str, notes: Sequence[str] = ()
) -> list[Path]:
    """charges.csv, charges.md, density_difference.png/.csv, layer_charges.png/.csv."""
    out = Path(out)
    table = charge_table(results)
    failed = [r for r in results if r["status"] != "ok"]
    conventions = [
        "Conventions: net charge = nuclear charge - Bader population of the "
        "all-electron density (positive = electrons given away); "
        "bader_outer/inner = per metal atom of the layers facing carbon / facing "
        "only metal; bader_C = per carbon atom (negative = received); "
        "layers bottom to top separated by '/'; dq_z = electrons leaving the "
        "depletion region (drho < 0) around each metal plane, per atom of the plane; "
        "drho = rho(host+M) - rho(host) - rho(M) at frozen geometry; "
        "bader_sum_error_e = summed populations - electron count (|.| <= 0.01 e "
        "enforced); drho_integral_e = integral of drho over the cell (0 up to grid "
        "error).",
    ]
    if failed:
        conventions.append(
            "Failed: " + "; ".join(f"{r['label']}: {r['reason']}" for r in failed)
        )
    paths = [
        write_csv(table, out / "charges.csv", CHARGE_COLUMNS),
        write_markdown(
            table,
            out / "charges.md",
            title,
            [*notes, "", *conventions],
            CHARGE_COLUMNS,
        ),
    ]
    if table:
        paths.append(plot_density_differences(results, out / "density_difference.png"))
        paths.append(plot_layer_charges(results, out / "layer_charges.png"))
    return paths
