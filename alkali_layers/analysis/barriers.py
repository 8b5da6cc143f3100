"""Tables and figures of migration barriers, from stored barrier rows.

Pure functions of rows (dicts of the database key-value pairs plus ``data``, the
:class:`~alkali_layers.calculators.barriers.BarrierResult` as a dict), no engines.
Conventions (:mod:`alkali_layers.calculators.barriers`): ``barrier_fwd_eV`` =
E(saddle) - E(initial), ``barrier_bwd_eV`` = E(saddle) - E(final), eV, from ASE's
NEBTools spline; a band that did not converge has no barrier (empty cells) and is
listed in the notes.  Profiles: reaction coordinate (A) against energy relative to
the initial state (eV).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..elements import ALKALI_METALS  # noqa: E402
from .figures import save_figure  # noqa: E402
from .tables import write_csv, write_markdown  # noqa: E402

#: the columns of the barrier table, in order
BARRIER_COLUMNS: tuple[str, ...] = (
    "pathway",
    "metal",
    "spacing_A",
    "engine",
    "barrier_fwd_eV",
    "barrier_bwd_eV",
    "delta_E_eV",
    "ml_barrier_fwd_eV",
    "n_images",
    "converged",
    "force_calls",
    "n_atoms",
    "hop_length_A",
    "prefactor_THz",
    "D_300K_cm2_s",
    "note",
)
#: pathway order of tables and figures (builders.pathways.PATHWAYS)
PATHWAY_ORDER: tuple[str, ...] = (
    "graphene_hop",
    "gallery_hop",
    "bilayer_vacancy_hop",
    "multilayer_vacancy_hop",
    "interface_vacancy_hop",
    "bulk_vacancy_hop",
)
_EV_COLUMNS = ("barrier_fwd_eV", "barrier_bwd_eV", "delta_E_eV", "ml_barrier_fwd_eV")


def pathway_order_key(row: dict) -> tuple:
    """Sort key of barrier-table rows: pathway (as :data:`PATHWAY_ORDER`), metal
    (Li to Cs), gallery spacing."""
    pathway = row.get("pathway", "")
    metal = row.get("metal", "")
    return (
        PATHWAY_ORDER.index(pathway) if pathway in PATHWAY_ORDER else 99,
        ALKALI_METALS.index(metal) if metal in ALKALI_METALS else 99,
        row.get("spacing_A") or 0.0,
    )


def not_built_row(pathway: str, metal: str, spacing_A, reason: str) -> dict:
    """A table row for a path whose builder refused it (no band, no barrier).

    ``note`` reads "does not fit: ..." when the builder found overlapping atoms
    (the metal does not fit the host, e.g. Cs in a 3.4 A gallery; the reason
    names the closest pair and its distance), else "not built: <reason>".
    """
    reason = reason.removeprefix("builder: ")
    if "atoms overlap" in reason:
        closest = reason.split("atoms overlap, ", 1)[-1]
        note = f"does not fit: closest pair {closest}"
    else:
        note = f"not built: {reason}"
    return {
        "pathway": pathway,
        "metal": metal,
        "spacing_A": spacing_A,
        "converged": False,
        "note": note,
    }


def barrier_table(rows: Sequence[dict], not_built: Sequence[dict] = ()) -> list[dict]:
    """One row per stored barrier task, ordered by pathway, metal, spacing.

    Barrier columns are rounded to meV and left empty (None) unless the band
    converged; ``ml_barrier_fwd_eV`` is filled for GPAW-refined rows only, and a
    GPAW band started from the interpolated path instead of the ML band
    (``gpaw_band_start = "idpp"``) says so in ``engine``.
    ``not_built`` rows (:func:`not_built_row`: paths the builder refused) are
    listed in their place with empty barriers and their ``note``.
    """
    out = []
    for row in sorted([*rows, *not_built], key=pathway_order_key):
        if "note" in row and "barrier_fwd_eV" not in row:  # a refused path
            out.append({c: row.get(c) for c in BARRIER_COLUMNS})
            continue
        converged = bool(row.get("band_converged", row.get("converged", False)))
        entry = {c: row.get(c) for c in BARRIER_COLUMNS}
        entry["converged"] = converged
        entry["note"] = None if converged else "band not converged"
        for column in _EV_COLUMNS:
            value = entry.get(column)
            entry[column] = None if value is None else round(float(value), 3)
        if not converged:
            entry["barrier_fwd_eV"] = entry["barrier_bwd_eV"] = None
        if row.get("engine") != "gpaw":
            entry["ml_barrier_fwd_eV"] = None
        if row.get("gpaw_band_start") == "idpp":  # the benchmark's DFT-only band
            entry["engine"] = f"{row.get('engine')} (DFT-only band)"
        if entry.get("spacing_A") is not None:
            entry["spacing_A"] = round(float(entry["spacing_A"]), 3)
        for column in ("prefactor_THz", "D_300K_cm2_s"):
            if entry.get(column) is not None:
                entry[column] = float(f"{float(entry[column]):.3g}")
        out.append(entry)
    return out


def _label(row: dict) -> str:
    spacing = row.get("spacing_A")
    return f"{row['metal']} {spacing:g} A" if spacing else str(row["metal"])


def _profile(row: dict) -> tuple[list, list] | None:
    data = row.get("data") or {}
    if not data.get("converged"):
        return None
    return data.get("profile_path_A"), data.get("profile_energy_eV")


def pathway_panels(n: int, panel_height_in: float = 3.3):
    """A figure with ``n`` panels, at most three per row (one per pathway); returns
    (figure, the ``n`` axes); the spare panels of the last row are hidden."""
    ncols = min(n, 3)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(4.2 * ncols, panel_height_in * nrows)
    )
    axes = list(getattr(axes, "flat", [axes]))
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def plot_profiles(rows: Sequence[dict], path, title: str = "") -> Path | None:
    """Energy profiles (spline), one panel per pathway, one line per metal (and
    gallery spacing); converged bands only.  PNG + CSV of the curves."""
    rows = sorted(rows, key=pathway_order_key)
    pathways = [p for p in PATHWAY_ORDER if any(r.get("pathway") == p for r in rows)]
    if not pathways:
        return None
    fig, axes = pathway_panels(len(pathways), panel_height_in=3.3)
    csv_rows = []
    for ax, pathway in zip(axes, pathways, strict=False):
        for row in (r for r in rows if r.get("pathway") == pathway):
            curve = _profile(row)
            if curve is None:
                continue
            x, y = curve
            ax.plot(x, y, label=_label(row), lw=1.2)
            csv_rows += [
                (pathway, _label(row), a, b) for a, b in zip(x, y, strict=True)
            ]
        ax.set_title(pathway.replace("_", " "), fontsize=9)
        ax.set_xlabel("reaction coordinate (A)")
        ax.set_ylabel("E - E(initial) (eV)")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, ncol=2)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path, ("pathway", "model", "path_A", "energy_eV"), csv_rows)


def plot_barrier_vs_spacing(rows: Sequence[dict], path, title: str = "") -> Path | None:
    """Gallery-hop barrier (forward, eV) against the interlayer spacing, per metal."""
    gallery = [r for r in barrier_table(rows) if r["pathway"] == "gallery_hop"]
    if not gallery:
        return None
    fig, ax = plt.subplots(figsize=(5.0, 3.6))
    csv_rows = []
    for metal in ALKALI_METALS:
        pts = [
            (r["spacing_A"], r["barrier_fwd_eV"])
            for r in gallery
            if r["metal"] == metal and r["barrier_fwd_eV"] is not None
        ]
        if not pts:
            continue
        xs, ys = zip(*sorted(pts), strict=True)
        ax.plot(xs, ys, "o-", label=metal)
        csv_rows += [(metal, x, y) for x, y in zip(xs, ys, strict=True)]
    for spacing, name in ((3.74, "C6LiC6"), (6.79, "C2LiC2")):
        ax.axvline(spacing, color="0.7", lw=0.8, ls=":")
        ax.text(spacing, ax.get_ylim()[1], name, fontsize=7, ha="center", va="bottom")
    ax.set_xlabel("gallery spacing (A, carbon plane to carbon plane)")
    ax.set_ylabel("barrier (eV)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=8, pad=14)
    return save_figure(fig, path, ("metal", "spacing_A", "barrier_fwd_eV"), csv_rows)


def plot_metal_pathways(
    rows: Sequence[dict], path, metal: str = "Na", title: str = ""
) -> Path | None:
    """The pathways of one metal side by side: barriers (bars) and profiles."""
    mine = [r for r in sorted(rows, key=pathway_order_key) if r.get("metal") == metal]
    table = [r for r in barrier_table(mine) if r["barrier_fwd_eV"] is not None]
    if not table:
        return None
    fig, (bars, prof) = plt.subplots(1, 2, figsize=(10.0, 3.8))
    names = [
        r["pathway"].replace("_hop", "").replace("_", " ")
        + (f"\n{r['spacing_A']:g} A" if r["spacing_A"] else "")
        for r in table
    ]
    values = [r["barrier_fwd_eV"] for r in table]
    bars.bar(range(len(values)), values, color="tab:blue")
    bars.set_xticks(range(len(values)), names, fontsize=6, rotation=60, ha="right")
    bars.set_ylabel(f"{metal} barrier (eV)")
    for row in mine:
        curve = _profile(row)
        if curve is not None:
            label = row["pathway"].replace("_hop", "") + (
                f" {row['spacing_A']:g}" if row.get("spacing_A") else ""
            )
            prof.plot(*curve, label=label, lw=1.2)
    prof.set_xlabel("reaction coordinate (A)")
    prof.set_ylabel("E - E(initial) (eV)")
    if prof.get_legend_handles_labels()[0]:
        prof.legend(fontsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    csv_rows = [
        (r["pathway"], r["spacing_A"], r["barrier_fwd_eV"], r["barrier_bwd_eV"])
        for r in table
    ]
    return save_figure(
        fig,
        path,
        ("pathway", "spacing_A", "barrier_fwd_eV", "barrier_bwd_eV"),
        csv_rows,
    )


def write_barrier_outputs(
    rows: Sequence[dict],
    failed: Sequence[tuple[str, str]],
    root,
    title: str,
    engine_line: str = "",
    not_built: Sequence[dict] = (),
) -> list[dict]:
    """table.md, table.csv and the figures of a barrier campaign in ``root``;
    ``not_built``: rows of paths the builder refused (:func:`not_built_row`),
    listed in the table with their reason."""
    root = Path(root)
    table = barrier_table(rows, not_built)
    unconverged = [r for r in table if r["note"] == "band not converged"]
    notes = [
        "Barriers in eV: forward = E(saddle) - E(initial), backward = E(saddle) - "
        "E(final), from ASE's NEBTools spline through the converged climbing-image "
        "band (ase.mep.NEB, improved tangent, IDPP path). delta_E_eV = E(final) - "
        "E(initial). spacing_A: gallery spacing (carbon plane to carbon plane) of "
        "gallery hops. force_calls: energy+force evaluations, endpoint relaxations "
        "included. Empty barrier cells: see the note (band not converged: never "
        "reported as a barrier; does not fit: the builder refused the path, the "
        "metal overlaps the host, closest pair given).",
    ]
    if engine_line:
        notes.append(f"Engine: {engine_line}.")
    if unconverged:
        notes.append(
            "Not converged: "
            + ", ".join(
                f"{r['pathway']} {r['metal']}"
                + (f" {r['spacing_A']:g} A" if r["spacing_A"] else "")
                for r in unconverged
            )
            + "."
        )
    if failed:
        notes.append("Failed tasks:")
        notes += [f"- {label}: {reason}" for label, reason in failed]
    write_markdown(table, root / "table.md", title, notes, columns=BARRIER_COLUMNS)
    write_csv(table, root / "table.csv", columns=BARRIER_COLUMNS)
    plot_profiles(rows, root / "profiles.png", title)
    plot_barrier_vs_spacing(rows, root / "barrier_vs_spacing.png", title)
    plot_metal_pathways(rows, root / "na_pathways.png", "Na", title)
    return table
