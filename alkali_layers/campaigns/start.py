"""Models that start from the relaxed geometries of another campaign.

A group of a spec may say ``start_from = "<campaign directory>"`` (relative to the
spec): each of its models then starts from the relaxed geometry of the model with the
same label in that campaign's database instead of the builder's geometry, and (for
GPAW) without the ML pre-relaxation, which would pull a DFT geometry back to the ML
minimum.  The use: re-relaxing a study with a new DFT treatment from the geometries of
the old one, where the ML start is far away (the 7net-0 galleries of Li and Na
multilayers in bilayer graphene are 0.4-2 A too wide and cost 25-45 GPAW steps).

The energies are unaffected by where a relaxation starts (the same treatment, the same
convergence criteria); what the start can change is which local minimum is found,
which the table's provenance records (``start_from`` in the task parameters).  The
references (bcc metal, pristine host) are those of the builder's model, shared with
every other group.
"""

from __future__ import annotations

import os
from pathlib import Path

import ase.db
import numpy as np
from ase import Atoms

from ..geometry import gallery_height


def results_database(source: Path | str) -> Path:
    """The results database of the campaign directory ``source``.

    Raises
    ------
    ValueError
        When ``source`` holds no ``results.db`` (not run yet, or a wrong path).
    """
    db_path = Path(source) / "results.db"
    if not db_path.is_file():
        raise ValueError(
            f"{source} holds no results.db: not a campaign that has run, or a wrong "
            "path (start_from is relative to the spec)"
        )
    return db_path


def _row_of(db, label: str, builder: str | None):
    """The finished model row labelled ``label`` (or ``label`` with or without the
    ``<builder>-`` prefix, which single-group specs leave out)."""
    names = [label]
    if builder:
        prefix = f"{builder}-"
        names.append(
            label[len(prefix) :] if label.startswith(prefix) else prefix + label
        )
    for name in names:
        rows = [
            r
            for r in db.select(label=name)
            if r.get("role") == "model"
            and r.get("status") == "ok"
            and not r.get("superseded_by")
        ]
        if rows:
            return rows[-1]
    return None


def start_geometry(
    source: Path | str, label: str, built: Atoms, builder: str | None = None
) -> Atoms:
    """The relaxed geometry of model ``label`` of the campaign at ``source``, in the
    place of the builder's ``built``.

    Parameters
    ----------
    source : path
        The other campaign's directory (with its ``results.db``).
    label : str
        The model's label here; matched with and without the ``<builder>-`` prefix.
    built : ase.Atoms
        The builder's model: the atoms must match the stored ones element by element
        in the same order, with the same periodicity.
    builder : str, optional
        The builder's name (for the label prefix).

    Returns
    -------
    ase.Atoms
        ``built`` with the stored positions and cell; tags and ``info`` of ``built``,
        plus ``info["start_from"]``.

    Raises
    ------
    ValueError
        No such campaign, no finished model of that label, or different atoms.
    """
    source = Path(os.path.normpath(source))
    db_path = results_database(source)
    row = _row_of(ase.db.connect(str(db_path)), label, builder)
    if row is None:
        raise ValueError(
            f"start_from: no finished model {label!r} in {db_path} (see "
            f"`alkali-layers status {source}`)"
        )
    stored = row.toatoms()
    if stored.get_chemical_symbols() != built.get_chemical_symbols():
        raise ValueError(
            f"start_from: model {label!r} of {source} has the atoms "
            f"{stored.get_chemical_formula()} in another composition or order than "
            f"the builder's {built.get_chemical_formula()}; the two campaigns must "
            "build the same model"
        )
    if not np.array_equal(stored.pbc, built.pbc):
        raise ValueError(
            f"start_from: model {label!r} of {source} has periodicity {stored.pbc}, "
            f"the builder's {built.pbc}"
        )
    atoms = built.copy()
    atoms.set_cell(stored.cell)
    atoms.set_positions(stored.positions)
    atoms.info["start_from"] = f"{source}:{row.get('label')}"
    if "gallery_height_A" in atoms.info:  # the starting gallery, not the builder's
        atoms.info["gallery_height_A"] = gallery_height(atoms)
    return atoms
