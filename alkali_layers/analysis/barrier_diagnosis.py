"""One-factor-at-a-time diagnosis of an adatom barrier on graphene (layout
``barrier_diagnosis``).

A diagnosis campaign has one *factor* per spec group label (``[[models]] label``):
each factor is the reference settings with one thing changed (an engine field via
``[models.engine]``, or the cell via the builder's ``supercell``), and holds a
``barrier`` task of the ``graphene_hop`` path and/or constrained ``relax`` tasks of
the adatom at the hollow, bridge and top sites
(:func:`~alkali_layers.builders.pathways.adatom_site`).  The table has one row per
factor:

* ``barrier_fwd_eV``: CI-NEB hollow -> hollow barrier (eV; empty when the band did
  not converge) and ``delta_barrier_eV``, its difference from the reference factor;
* ``E_bridge_minus_hollow_eV``, ``E_top_minus_hollow_eV``: energy differences (eV)
  of the constrained relaxations (adatom x, y held above the site, heights free);
  E(bridge) - E(hollow) is the barrier of the straight path through the bridge;
* ``height_<site>_A``: adatom height above the mean plane of the carbon atoms (A);
* ``not_converged``: the band and/or sites whose optimizer did not converge (their
  numbers are left empty, never reported).

Pure functions of records (:func:`diagnosis_table`) plus the writer reading the
campaign database (:func:`write_diagnosis_outputs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms

from .tables import write_csv, write_markdown

#: the columns of the diagnosis table, in order
DIAGNOSIS_COLUMNS: tuple[str, ...] = (
    "factor",
    "engine",
    "supercell",
    "barrier_fwd_eV",
    "delta_barrier_eV",
    "E_bridge_minus_hollow_eV",
    "E_top_minus_hollow_eV",
    "height_hollow_A",
    "height_bridge_A",
    "height_top_A",
    "force_calls",
    "not_converged",
)
SITES: tuple[str, ...] = ("hollow", "bridge", "top")


def adatom_height_A(atoms: Atoms, adatom: int) -> float:
    """Height (A) of atom ``adatom`` above the mean z of the carbon atoms."""
    carbon = atoms.numbers == 6
    if not carbon.any():
        raise ValueError("no carbon atoms: not an adatom on graphene")
    return float(atoms.positions[adatom, 2] - atoms.positions[carbon, 2].mean())


def diagnosis_table(
    records: Sequence[dict], reference: str = "reference"
) -> list[dict]:
    """One row per factor from barrier and site records.

    Parameters
    ----------
    records : sequence of dict
        Each with ``factor``, ``engine`` (description) and ``kind``: ``"barrier"``
        records carry ``supercell``, ``converged``, ``barrier_fwd_eV``,
        ``force_calls``; ``"site"`` records carry ``site``, ``energy_eV``,
        ``height_A`` and ``converged`` (an unconverged relaxation gives no energy
        and no height; it is named in ``not_converged``).
    reference : str
        The factor the others are compared with (``delta_barrier_eV``).

    Returns
    -------
    list of dict
        Rows with :data:`DIAGNOSIS_COLUMNS`, in the order factors first appear;
        energies rounded to meV, heights to 0.01 A, missing values None.

    Raises
    ------
    ValueError
        A factor with two records of the same kind and site, or an unknown kind.
    """
    rows: dict[str, dict] = {}
    seen: set[tuple] = set()
    energies: dict[str, dict[str, float]] = {}
    for rec in records:
        factor, kind = rec["factor"], rec["kind"]
        if kind not in ("barrier", "site"):
            raise ValueError(f"unknown record kind {kind!r}; allowed: barrier, site")
        ident = (factor, kind, rec.get("site"))
        if ident in seen:
            raise ValueError(f"factor {factor!r} has two {kind} records {ident}")
        seen.add(ident)
        row = rows.setdefault(
            factor, {c: None for c in DIAGNOSIS_COLUMNS} | {"factor": factor}
        )
        row["engine"] = row["engine"] or rec.get("engine")
        if kind == "barrier":
            row["supercell"] = rec.get("supercell")
            row["force_calls"] = rec.get("force_calls")
            if rec.get("converged") and rec.get("barrier_fwd_eV") is not None:
                row["barrier_fwd_eV"] = round(float(rec["barrier_fwd_eV"]), 3)
            else:
                _not_converged(row, "band")
        else:
            site = rec["site"]
            if site not in SITES:
                raise ValueError(f"unknown site {site!r}; allowed: {', '.join(SITES)}")
            if row["supercell"] is None:
                row["supercell"] = rec.get("supercell")
            if not rec.get("converged", True):
                _not_converged(row, site)
                continue
            energies.setdefault(factor, {})[site] = float(rec["energy_eV"])
            row[f"height_{site}_A"] = round(float(rec["height_A"]), 2)
    for factor, e in energies.items():
        for site in ("bridge", "top"):
            if site in e and "hollow" in e:
                value = round(e[site] - e["hollow"], 3)
                rows[factor][f"E_{site}_minus_hollow_eV"] = value
    ref = rows.get(reference, {}).get("barrier_fwd_eV")
    for row in rows.values():
        if ref is not None and row["barrier_fwd_eV"] is not None:
            row["delta_barrier_eV"] = round(row["barrier_fwd_eV"] - ref, 3)
    return list(rows.values())


def _not_converged(row: dict, what: str) -> None:
    row["not_converged"] = ", ".join(filter(None, [row["not_converged"], what]))


def _supercell_n(info: dict) -> int | None:
    matrix = info.get("supercell")
    return None if matrix is None else int(np.asarray(matrix)[0][0])


def diagnosis_records(campaign) -> list[dict]:
    """Records for :func:`diagnosis_table` from a campaign's finished tasks: the
    factor is the group's label (``[[models]] label``), the engine its
    description; site energies and heights from the stored relaxed structures."""
    spec = campaign.spec
    factor_of = {}
    for group in spec.models:
        factor = group.label_prefix.rstrip("-") or group.builder
        engine = spec.engine_of(group).describe()
        for point in group.points():
            factor_of[group.label(point)] = (factor, engine)
    records = []
    for entry in campaign.entries():
        if entry.task.role != "model" or entry.task.atoms is None:
            continue
        row = campaign.store.find(entry.key)
        if row is None or row.get("status") != "ok":
            continue
        factor, engine = factor_of[entry.label]
        info = entry.task.atoms.info
        base = dict(factor=factor, engine=engine, supercell=_supercell_n(info))
        if info.get("pathway") == "adatom_site":
            atoms = row.toatoms()
            records.append(
                base
                | dict(
                    kind="site",
                    site=info["site"],
                    converged=bool(row.get("converged", False)),
                    energy_eV=row.get("energy"),
                    height_A=adatom_height_A(atoms, int(info["hop_atom"])),
                )
            )
        elif entry.task.kind in ("barrier", "diffusion"):
            records.append(
                base
                | dict(
                    kind="barrier",
                    converged=bool(row.get("band_converged", False)),
                    barrier_fwd_eV=row.get("barrier_fwd_eV"),
                    force_calls=row.get("force_calls"),
                )
            )
    return records


def write_diagnosis_outputs(campaign) -> list[dict]:
    """``table.md`` and ``table.csv`` of a diagnosis campaign in its folder."""
    root = Path(campaign.root)
    table = diagnosis_table(diagnosis_records(campaign))
    _, failed = campaign.model_rows()
    notes = [
        "One factor changed per row against `reference`. barrier_fwd_eV: CI-NEB "
        "hollow -> hollow over the bridge (empty: band not converged or not run); "
        "delta_barrier_eV = barrier - reference barrier. E_site_minus_hollow_eV: "
        "energy differences of constrained relaxations (adatom x, y fixed above the "
        "site, the x, y of the farthest carbon fixed, every z free). height: adatom "
        "above the mean carbon plane (A). Energies in eV.",
    ]
    pending = [
        e.label
        for e in campaign.entries()
        if e.task.role == "model" and campaign.store.find(e.key) is None
    ]
    if pending:
        notes.append(f"Not run yet: {', '.join(pending)}.")
    if failed:
        notes.append("Failed tasks:")
        notes += [f"- {label}: {reason}" for label, reason in failed]
    title = campaign.spec.title or campaign.spec.name
    write_markdown(table, root / "table.md", title, notes, columns=DIAGNOSIS_COLUMNS)
    write_csv(table, root / "table.csv", columns=DIAGNOSIS_COLUMNS)
    return table
