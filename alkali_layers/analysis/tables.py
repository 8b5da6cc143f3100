"""Result tables (CSV and Markdown) from stored rows (plain dicts); no calculators.

The bilayer table has one row per model with the columns of :data:`BILAYER_COLUMNS`:
formation energies in eV per metal atom (docs/science/energies.md), capacities in
mAh/g on the total-mass and host-mass bases (docs/science/capacity.md), and the
voltage of the step from the previous layer count of the same metal and stacking (the
first from the empty bilayer), in V vs M+/M.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..elements import ALKALI_METALS
from .voltage import successive_voltage_steps_V

BILAYER_COLUMNS: tuple[str, ...] = (
    "metal",
    "n_layers",
    "stacking",
    "n_atoms",
    "supercell",
    "metal_strain_pct",
    "gallery_height_A",
    "formation_energy_eV_per_metal_atom",
    "capacity_total_mAh_g",
    "capacity_host_mAh_g",
    "voltage_step_V",
    "converged",
)

#: Columns of the generic table (any builder): one row per model.
FORMATION_COLUMNS: tuple[str, ...] = (
    "label",
    "formula",
    "n_atoms",
    "energy_eV",
    "formation_energy_eV_per_metal_atom",
    "gallery_height_A",
    "capacity_total_mAh_g",
    "capacity_host_mAh_g",
    "converged",
)

_DECIMALS = {
    "energy_eV": 4,
    "metal_strain_pct": 2,
    "gallery_height_A": 3,
    "formation_energy_eV_per_metal_atom": 3,
    "capacity_total_mAh_g": 1,
    "capacity_host_mAh_g": 1,
    "voltage_step_V": 3,
    "formation_energy_std_eV": 3,
    "voltage_step_std_V": 3,
    "graphene_a_A": 3,
    "metal_nn_A": 3,
    "gallery_force_eV_A": 3,
    "bader_metal_e_per_atom": 3,
    "bader_outer_e_per_atom": 3,
    "bader_inner_e_per_atom": 3,
    "bader_C_e_per_atom": 4,
    "dq_z_mean_e_per_atom": 3,
    "bader_sum_error_e": 4,
    "drho_integral_e": 4,
    "voltage_filling_V": 3,
    "voltage_V": 3,
    "voltage_std_V": 3,
    "delta_V": 3,
    "formation_vs_AB_eV": 3,
    "formation_vs_AB_std_eV": 3,
    "formation_vs_AA_eV": 3,
    "formation_vs_AA_std_eV": 3,
}


#: error-bar columns (BEEF ensemble standard deviations) and the column each follows
ERROR_COLUMNS: dict[str, str] = {
    "formation_energy_std_eV": "formation_energy_eV_per_metal_atom",
    "voltage_step_std_V": "voltage_step_V",
    "intercalation_energy_std_eV": "intercalation_energy_eV",
    "dE_2H_minus_1Tp_std_eV_per_Mo": "dE_2H_minus_1Tp_eV_per_Mo",
}

#: optional columns of the relaxed in-plane geometry (models whose in-plane cell was
#: relaxed, ``[relax] slab_cell = "ab"``) and the column each follows: the graphene
#: lattice constant and the in-plane metal-metal distance within a metal layer
#: (:func:`~alkali_layers.geometry.graphene_lattice_A`,
#: :func:`~alkali_layers.geometry.metal_in_plane_nn_A`)
IN_PLANE_COLUMNS: dict[str, str] = {
    "graphene_a_A": "gallery_height_A",
    "metal_nn_A": "graphene_a_A",
}

#: the net force on the gallery height of a DFT-relaxed bilayer model
#: (:func:`~alkali_layers.geometry.gallery_force_eV_A`; from the stored DFT forces)
GALLERY_FORCE_COLUMNS: dict[str, str] = {"gallery_force_eV_A": "gallery_height_A"}

#: columns a table shows only when some row carries them, and the column each follows
OPTIONAL_COLUMNS: dict[str, str] = {
    **ERROR_COLUMNS,
    **IN_PLANE_COLUMNS,
    **GALLERY_FORCE_COLUMNS,
}


def _metal_order(metal: str) -> int:
    return ALKALI_METALS.index(metal) if metal in ALKALI_METALS else len(ALKALI_METALS)


def _compact_matrix(value) -> str:
    if isinstance(value, str):
        value = json.loads(value)
    return ";".join(" ".join(str(int(x)) for x in row) for row in value)


def bilayer_table(rows: Iterable[dict]) -> list[dict]:
    """Table rows from model results.

    Parameters
    ----------
    rows : iterable of dict
        One dict per successful model with at least metal, n_layers, stacking,
        n_atoms, n_carbon, n_metal, supercell, metal_strain_pct, gallery_height_A,
        formation_energy_eV_per_metal_atom, capacity_total_mAh_g, capacity_host_mAh_g
        and converged.

    Returns
    -------
    list of dict
        Sorted by metal (Li..Cs), stacking, n_layers, with ``voltage_step_V`` added:
        the step from the next-lower layer count present (1 layer: from the empty
        bilayer); None when the lower layer count is missing from ``rows``.  Several
        models of one metal, stacking and layer count (a strain series in other
        cells): the steps use the first one given, the others get None.
    """
    rows = sorted(
        rows, key=lambda r: (_metal_order(r["metal"]), r["stacking"], r["n_layers"])
    )
    out = []
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["metal"], r["stacking"]), []).append(r)
    for group in groups.values():
        present = {r["n_layers"] for r in group}
        first: dict[int, dict] = {}  # one model per layer count: the first given
        for r in group:
            first.setdefault(r["n_layers"], r)
        contiguous = [
            r
            for r in first.values()
            if all(k in present for k in range(1, r["n_layers"]))
        ]
        x = [r["n_metal"] / r["n_carbon"] for r in contiguous]
        ef = [r["formation_energy_eV_per_metal_atom"] for r in contiguous]
        steps = dict(
            zip(
                (r["n_layers"] for r in contiguous),
                successive_voltage_steps_V(x, ef),
                strict=True,
            )
        )
        step_std = _voltage_step_std(contiguous, x)
        for r in group:
            row = {c: r.get(c) for c in BILAYER_COLUMNS}
            row["supercell"] = _compact_matrix(r["supercell"])
            chosen = first[r["n_layers"]] is r
            row["voltage_step_V"] = steps.get(r["n_layers"]) if chosen else None
            row["converged"] = bool(r["converged"])
            extras = ("formation_energy_std_eV", *IN_PLANE_COLUMNS)
            for extra in (*extras, *GALLERY_FORCE_COLUMNS):
                if r.get(extra) is not None:
                    row[extra] = r[extra]
            if chosen and r["n_layers"] in step_std:
                row["voltage_step_std_V"] = step_std[r["n_layers"]]
            out.append(row)
    return out


def _voltage_step_std(contiguous: list[dict], x: list[float]) -> dict[int, float]:
    """Standard deviation of each voltage step over the BEEF ensemble (V), by layer
    count, when every model of the series carries its E_f ensemble: each member's
    steps are computed like the steps themselves."""
    ensembles = [r.get("formation_energy_ensemble_eV") for r in contiguous]
    if not ensembles or any(e is None for e in ensembles):
        return {}
    members = np.array(
        [
            successive_voltage_steps_V(x, [float(e[k]) for e in ensembles])
            for k in range(len(ensembles[0]))
        ],
        dtype=float,
    )
    return {
        r["n_layers"]: float(std)
        for r, std in zip(contiguous, members.std(axis=0), strict=True)
    }


def with_error_columns(columns: Sequence[str], table: list[dict]) -> tuple[str, ...]:
    """``columns`` with each optional column (:data:`OPTIONAL_COLUMNS`: error bars,
    relaxed in-plane geometry) that some row of ``table`` carries inserted right
    after the column it follows (tables without them keep their columns)."""
    out = list(columns)
    for extra, after in OPTIONAL_COLUMNS.items():
        if after in out and any(row.get(extra) is not None for row in table):
            out.insert(out.index(after) + 1, extra)
    return tuple(out)


def formation_table(rows: Iterable[dict]) -> list[dict]:
    """Generic table rows (:data:`FORMATION_COLUMNS`, and the optional columns
    :data:`OPTIONAL_COLUMNS` that a row carries) sorted by label."""
    out = []
    for r in sorted(rows, key=lambda r: r["label"]):
        row = {c: r.get(c) for c in FORMATION_COLUMNS}
        row["converged"] = bool(r.get("converged"))
        for extra in OPTIONAL_COLUMNS:  # error bars, in-plane geometry, gallery force
            if r.get(extra) is not None:
                row[extra] = r[extra]
        out.append(row)
    return out


def _fmt(column: str, value) -> str:
    if value is None:
        return ""
    if column in _DECIMALS:
        return f"{value:.{_DECIMALS[column]}f}"
    return str(value)


def write_csv(
    table: Sequence[dict], path, columns: Sequence[str] = BILAYER_COLUMNS
) -> Path:
    """Write ``table`` as CSV (empty cell = missing value)."""
    path = Path(path)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in table:
            writer.writerow([_fmt(c, row.get(c)) for c in columns])
    return path


def markdown_table(
    table: Sequence[dict], columns: Sequence[str] = BILAYER_COLUMNS
) -> str:
    """``table`` as a GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in table:
        lines.append("| " + " | ".join(_fmt(c, row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def write_markdown(
    table: Sequence[dict],
    path,
    title: str,
    notes: Sequence[str] = (),
    columns: Sequence[str] = BILAYER_COLUMNS,
) -> Path:
    """Write a Markdown file: title, the table, then notes (conventions, failures)."""
    path = Path(path)
    body = [f"# {title}", "", markdown_table(table, columns), ""]
    body += list(notes)
    path.write_text("\n".join(body).rstrip() + "\n")
    return path
