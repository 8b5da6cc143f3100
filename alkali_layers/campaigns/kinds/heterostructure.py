"""Graphene/metal/MoS2 heterostructures: builders and the "heterostructure" layout.

The models are relaxed by the ``relax`` kind: a spec lists ``graphene_mos2`` models
(0 layers = the empty heterostructure of the same cell, the reference) and
``bulk_metal`` models (mu_M).  The layout computes the intercalation energy per
metal atom vs x (metal per Mo), the 2H - 1T' energy per Mo and the loading where 1T'
wins (:mod:`alkali_layers.analysis.heterostructure`), and writes ``table.md``,
``table.csv`` and the figures into the campaign folder.
"""

from __future__ import annotations

import numpy as np

from ...analysis.heterostructure import (
    HETEROSTRUCTURE_COLUMNS,
    beef_ensemble,
    crossovers,
    free_layer_phase_energies,
    heterostructure_columns,
    heterostructure_table,
    mos2_charges,
    write_heterostructure_figures,
)
from ...analysis.tables import write_csv, write_markdown
from ...builders.mos2 import graphene_mos2, mos2
from ...elements import MOS2_1TPRIME_ELECTRONS_PER_MO
from ...jsonio import read_json
from ..registry import register_builder, register_layout
from .charges import TASK_KIND_CHARGES

register_builder("graphene_mos2", graphene_mos2)
register_builder("mos2", mos2)


def metal_chemical_potentials(rows) -> dict[str, float]:
    """Energy per atom (eV) of each relaxed bcc metal among the model rows."""
    mu = {}
    for r in rows:
        if r.get("host") == "bulk" and r.get("energy_eV") is not None:
            mu[r["metal"]] = float(r["energy_eV"]) / int(r["n_atoms"])
    return mu


def metal_chemical_potential_ensembles(rows) -> dict[str, np.ndarray]:
    """BEEF-vdW ensemble of the energy per atom (eV) of each relaxed bcc metal
    among the model rows that carry one (GPAW with ``error_bars``)."""
    out = {}
    for r in rows:
        ensemble = beef_ensemble(r)
        if r.get("host") == "bulk" and ensemble is not None:
            out[r["metal"]] = ensemble / int(r["n_atoms"])
    return out


#: Where ``alkali-layers charges`` writes the Bader analyses of this campaign's
#: models (structure files named by the model label, ``--out <campaign>/charges``).
CHARGES_DIR = "charges"


def _set_charges(row: dict, atoms, net_charges_e) -> None:
    q = mos2_charges(atoms, net_charges_e)
    row["charge_per_Mo_e"] = round(q["electrons_per_Mo"], 4)
    row["charge_per_S_upper_e"] = round(q["per_S_upper_e"], 4)
    row["charge_per_S_lower_e"] = round(q["per_S_lower_e"], 4)


def attach_charges(campaign, rows: list[dict]) -> int:
    """Add the MoS2 charges of finished Bader analyses to the model rows.

    A row of a ``charges`` task (GPAW at a stored geometry, this campaign) carries
    its own analysis.  Other rows take theirs from ``alkali-layers charges``:
    ``<campaign>/charges/tasks/*/result.json`` and the committed copies
    ``<campaign>/charges/*.json`` (status ok; task folders are not committed),
    matched to the row of the same label and geometry (same atom count and
    symbols).  Sets ``charge_per_Mo_e`` (electrons received by MoS2 per Mo) and the
    mean net charge per S of the upper (metal side) and lower S planes; returns how
    many rows got charges.
    """
    found = 0
    for row in rows:
        data = row.get("data") or {}
        if row.get("task_kind") == TASK_KIND_CHARGES and data.get("net_charges_e"):
            stored = campaign.store.rows(label=row["label"], status="ok")
            if stored:
                _set_charges(row, stored[-1].toatoms(), data["net_charges_e"])
                found += 1
    by_label = {r.get("label"): r for r in rows}
    folder = campaign.root / CHARGES_DIR
    for path in sorted([*folder.glob("tasks/*/result.json"), *folder.glob("*.json")]):
        result = read_json(path)
        if not result or result.get("status") != "ok":
            continue
        row = by_label.get(result.get("label"))
        if row is None or row.get("charge_per_Mo_e") is not None:
            continue
        stored = campaign.store.rows(label=row["label"], status="ok")
        if not stored:
            continue
        atoms = stored[-1].toatoms()
        if atoms.get_chemical_symbols() != result["symbols"]:
            continue
        _set_charges(row, atoms, result["net_charges_e"])
        found += 1
    return found


def heterostructure_rows(campaign) -> tuple[list[dict], list[dict], dict, list]:
    """(table rows, model rows, mu_M per metal, failed models) of a campaign of
    this layout, nothing written.  Each table row gets ``model``, its name across
    campaigns (metal, layers, loading, packing, phase: what ``alkali-layers
    compare`` matches)."""
    rows, failed = campaign.model_rows()
    attach_charges(campaign, rows)
    mu = metal_chemical_potentials(rows)
    table = heterostructure_table(rows, mu, metal_chemical_potential_ensembles(rows))
    for t in table:
        t["model"] = (
            f"{t['metal']}-{t['n_layers']}L-{t['n_metal']}-{t['packing']}-{t['phase']}"
        )
    return table, rows, mu, failed


def write_outputs(campaign) -> list[dict]:
    """table.md, table.csv, intercalation_energy.png, phase_difference.png (+ CSV),
    charge_per_Mo.png when charges are stored; returns the table rows."""
    table, rows, mu, failed = heterostructure_rows(campaign)
    columns = heterostructure_columns(table)
    root = campaign.root
    write_csv(table, root / "table.csv", columns)
    notes = [
        "Intercalation energy per metal atom (eV): [E(het + n M) - E(het) - n mu_M]"
        " / n, E(het) the relaxed empty heterostructure of the same phase and "
        "supercell, mu_M the relaxed bcc metal (docs/science.md, 'Energies').",
        "x_per_Mo = metal atoms per Mo.  dE_2H_minus_1Tp_eV_per_Mo = [E(2H) - "
        "E(1T')] / n_Mo at the same loading and cell; > 0 (favours_1Tprime) means "
        "1T' is lower.",
        f"Charge criterion of the 2H -> 1T' transition: {MOS2_1TPRIME_ELECTRONS_PER_MO}"
        " electrons per Mo (column above_0_46_e, where Bader charges exist).",
        "Strains: largest principal strain (%) of each lattice in the common "
        "supercell; graphene and MoS2 share their mismatch by their 2D moduli.",
    ]
    if mu:
        notes += [
            "",
            "mu_M (eV/atom): "
            + ", ".join(f"{m} {v:.4f}" for m, v in sorted(mu.items())),
        ]
    if len(columns) > len(HETEROSTRUCTURE_COLUMNS):
        notes += [
            "",
            "Error bars: *_std_eV columns are standard deviations over the 2000-"
            "member BEEF-vdW ensemble (ase.dft.bee; Wellendorff et al., PRB 85, "
            "235149 (2012)) of one BEEF-vdW calculation per structure at its final "
            "geometry, each member through the same formula: the sensitivity to the "
            "exchange-correlation functional, not a statistical error.",
        ]
    free = free_layer_phase_energies(rows, with_std=True)
    if free:
        notes += [
            "",
            "Free-standing MoS2 (relaxed at the builder's lattice), E(phase) - E(2H)"
            " in eV per Mo: "
            + ", ".join(
                f"{p} {v:+.3f}" + ("" if std is None else f" +- {std:.3f} (BEEF std)")
                for p, (v, std) in sorted(free.items())
            ),
        ]
    cross = crossovers(table)
    if cross:
        notes += ["", "Loading where 1T' becomes lower than 2H:"]
        for c in cross:
            x = c["x_1Tprime_wins"]
            span = f"x = {c['x_range'][0]:.3f}-{c['x_range'][1]:.3f}"
            where = f"x = {x:.3f}" if x is not None else f"not within {span}"
            if "members_crossing_fraction" in c:
                std = c["x_1Tprime_wins_std"]
                where += (
                    ("" if std is None else f" +- {std:.3f}")
                    + " (BEEF-vdW: std of the crossing over the ensemble members; "
                    f"{100 * c['members_crossing_fraction']:.0f} % of them cross "
                    f"within {span})"
                )
            notes.append(f"* {c['metal']} {c['packing']}: {where}")
    if failed:
        notes += ["", "Failed models:"] + [f"* {lab}: {why}" for lab, why in failed]
    write_markdown(
        table,
        root / "table.md",
        campaign.spec.title or campaign.spec.name,
        notes,
        columns,
    )
    write_heterostructure_figures(table, root)
    return table


register_layout("heterostructure", write_outputs)
