"""pymatgen at the boundary: ``ase.Atoms`` <-> ``pymatgen.core.Structure`` with the
builders' metadata, and battery entries for pymatgen's electrode analysis.

The package works on ``ase.Atoms``; pymatgen is used where it is the field's tool
(structure matching, symmetry, the Materials Project battery analysis).  Conversion
goes through pymatgen's own ``AseAtomsAdaptor``; ``atoms.info`` (host, metal,
n_layers, stacking, strains, ...) travels in ``Structure.properties["alkali_info"]``
and comes back unchanged, tags in the site property ``tag``.

Battery entries: a model of total energy ``E`` (eV) becomes a
``ComputedEntry(composition, E)``; the working ion is ``ComputedEntry(M, mu_M)`` with
``mu_M`` the energy per atom of the relaxed bcc metal (same engine).  pymatgen's
``InsertionElectrode`` then gives the voltage steps ``V = -[E(n2) - E(n1) -
(n2 - n1) mu_M] / (n2 - n1)`` (V vs M+/M) along the convex hull, and capacities per
gram of the most metal-rich (discharged) composition, i.e. the project's
``basis="total"`` (:mod:`alkali_layers.analysis.capacity`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
from ase import Atoms

from .elements import check_metal

INFO_KEY = "alkali_info"


def to_structure(atoms: Atoms):
    """``ase.Atoms`` -> ``pymatgen.core.Structure`` (3D periodic cells only).

    ``atoms.info`` is kept in ``structure.properties["alkali_info"]``; tags in the
    site property ``tag``.
    """
    from pymatgen.io.ase import AseAtomsAdaptor

    if not all(atoms.pbc):
        raise ValueError(
            "to_structure needs a cell periodic in all three directions "
            f"(pbc={atoms.pbc.tolist()}); use a vacuum-padded periodic cell"
        )
    bare = Atoms(
        atoms.get_chemical_symbols(),
        positions=atoms.positions,
        cell=atoms.cell,
        pbc=True,
        tags=atoms.get_tags(),
    )
    structure = AseAtomsAdaptor.get_structure(bare)
    structure.properties[INFO_KEY] = copy.deepcopy(dict(atoms.info))
    return structure


def from_structure(structure) -> Atoms:
    """``pymatgen.core.Structure`` -> ``ase.Atoms``; metadata and tags restored."""
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(structure)
    info = structure.properties.get(INFO_KEY, {})
    atoms.info = copy.deepcopy(dict(info))
    tags = structure.site_properties.get("tag")
    if tags is not None:
        atoms.set_tags(np.asarray(tags, dtype=int))
    atoms.pbc = True
    return atoms


def computed_entry(atoms_or_formula, energy_eV: float, entry_id: str | None = None):
    """A ``ComputedEntry`` of total energy ``energy_eV`` for a cell or a formula."""
    from pymatgen.entries.computed_entries import ComputedEntry

    formula = (
        atoms_or_formula.get_chemical_formula()
        if isinstance(atoms_or_formula, Atoms)
        else str(atoms_or_formula)
    )
    return ComputedEntry(formula, float(energy_eV), entry_id=entry_id)


def insertion_electrode(
    compositions: Sequence[dict[str, float]],
    energies_eV: Sequence[float],
    metal: str,
    mu_metal_eV: float,
):
    """pymatgen ``InsertionElectrode`` of host compositions with ``metal`` inserted.

    Parameters
    ----------
    compositions : sequence of dict
        Atoms per cell of each state, e.g. ``{"C": 12}``, ``{"C": 12, "Li": 2}``;
        must include the empty host.  Cells of different sizes are fine (pymatgen
        normalises per formula unit of the host framework).
    energies_eV : sequence of float
        Total energies of those cells (eV).
    metal : str
        The working ion.
    mu_metal_eV : float
        Energy per atom of the bcc metal (eV).
    """
    from pymatgen.apps.battery.insertion_battery import InsertionElectrode
    from pymatgen.core import Composition
    from pymatgen.entries.computed_entries import ComputedEntry

    check_metal(metal)
    if len(compositions) != len(energies_eV):
        raise ValueError("one energy per composition")
    if not any(c.get(metal, 0) == 0 for c in compositions):
        raise ValueError("the states must include the empty host (no metal)")
    entries = [
        ComputedEntry(Composition(c), float(e), entry_id=f"state-{i}")
        for i, (c, e) in enumerate(zip(compositions, energies_eV, strict=True))
    ]
    ion = ComputedEntry(Composition({metal: 1}), float(mu_metal_eV), entry_id=metal)
    return InsertionElectrode.from_entries(entries, ion)
