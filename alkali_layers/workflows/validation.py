"""Validation of the DFT engine against experiment and published calculations.

For each van der Waals treatment (PBE + D3(BJ), vdW-DF2, vdW-optPBE) it computes

* bcc Li-Cs: relaxed lattice constant and cohesive energy ``E(atom) - E(bulk)/atom``
  (spin-polarized atoms in a periodic box),
* graphite: AB interlayer distance (c relaxed) and interlayer binding energy
  ``E(graphene)/atom - E(graphite)/atom`` (positive = bound),
* stage-1 LiC6, NaC6, NaC8, KC8 (AA-stacked, c relaxed): formation energy per metal
  atom vs the relaxed bcc metal and relaxed AB graphite (the experimental ground
  state, as in the published values below) and vs AA graphite (the host of the same
  stacking, the toolkit's convention for models),

and the layout ``validation`` writes them side by side with reference values.  The
spread between the treatments is the functional-sensitivity error bar.  The study
runs as campaigns, one per (protocol, treatment), under ``runs/validation/``
(``alkali-layers run runs/validation``): task kinds ``cohesive_energy`` and
``graphite_binding`` (:mod:`alkali_layers.campaigns.kinds.validation`) and ``relax``
for AA graphite and the compounds.  This module holds the physics those kinds share
(no persistence of its own).

Protocol.  ``[relax] layered_cell = "ac"`` relaxes the in-plane lattice of
graphite and of the compounds as well as c (energy scans, see
:func:`~alkali_layers.calculators.relax.scan_cell_relax`), and the ``li-sc`` setup
(``[models.engine] setups = "li-sc"`` on the Li groups) puts Li 1s in the valence
for every structure holding Li.
Both are measured corrections (runs/validation/diagnosis.md): LiC6 held at the
graphite lattice with frozen Li 1s came out 0.1-0.2 eV/Li too high.  The original
protocol (``layered_cell = "c"``, Li 1s frozen) is kept for comparison
(``runs/validation/original/``).

References
----------
* bcc lattice constants: ``ase.data.reference_states`` (experiment, low T).
* Cohesive energies: Kittel, Introduction to Solid State Physics, 8th ed., table 3.1.
* Graphite c/2 = 3.354 A (Baskin & Meyer, Phys. Rev. 100, 544 (1955)); interlayer
  binding 44-52 meV/atom (experiment; Zacharia et al., PRB 69, 155406 (2004): 52;
  Benedict et al., Chem. Phys. Lett. 286, 490 (1998): 35 (+15/-10)).
* Formation energies (vdW-optPBE, vs bcc metal and graphite): Wang, Selbach and
  Grande, RSC Adv. 4, 4069 (2014): LiC6 -16.4, KC8 -27.5, NaC6 +20.8, NaC8 +19.9
  kJ/mol (-0.170, -0.285, +0.216, +0.206 eV per metal atom); Li in graphite -0.2 to
  -0.3 eV/Li (Hazrati, de Wijs and Brocks, PRB 90, 155448 (2014)).  Signs:
  LiC6 and KC8 stable, NaC6 and NaC8 unstable.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from ..builders import graphite
from ..elements import GRAPHENE_A

#: the stage-1 compounds of the validation: (metal, stoichiometry)
COMPOUNDS = (("Li", "LiC6"), ("Na", "NaC6"), ("Na", "NaC8"), ("K", "KC8"))

#: the van der Waals treatments of the validation (name -> GPAWSettings fields);
#: vdW-optPBE is the functional of Wang et al. (2014), the published reference
TREATMENTS = {
    "PBE+D3(BJ)": {"xc": "PBE", "dispersion": "d3bj"},
    "vdW-DF2": {"xc": "vdW-DF2", "dispersion": "none"},
    "vdW-optPBE": {"xc": "optPBE-vdW", "dispersion": "none"},
}

#: vacuum axis of the graphene sheet of the interlayer binding energy (A)
SHEET_CELL_C_A = 16.0

#: box edge of the isolated atom of the cohesive energy (A)
ATOM_BOX_A = 14.0


def treatment_name(settings) -> str:
    """The :data:`TREATMENTS` name of GPAW ``settings`` (its xc and dispersion).

    >>> from alkali_layers.engines import GPAWSettings
    >>> treatment_name(GPAWSettings(xc="vdW-DF2", dispersion="none"))
    'vdW-DF2'
    """
    for name, fields in TREATMENTS.items():
        if all(getattr(settings, k) == v for k, v in fields.items()):
            return name
    return f"{settings.xc}/{settings.dispersion}"


def checkpoint_tag(name: str) -> str:
    """The file-name tag the pre-campaign ``alkali-layers validate`` gave treatment
    ``name`` ("PBE+D3(BJ)" -> "PBE_D3BJ"): how its checkpoints are named."""
    return name.replace("+", "_").replace("(", "").replace(")", "")


def bcc_lattice_constant_A(atoms: Atoms) -> float:
    """Cubic lattice constant of a bcc cell of ``len(atoms)`` atoms (2 per cube):
    ``a = (2 V / N)^(1/3)``."""
    return float(np.cbrt(2 * atoms.get_volume() / len(atoms)))


def graphene_sheet(a_A: float, cell_c_A: float = SHEET_CELL_C_A) -> Atoms:
    """One graphene sheet at in-plane lattice constant ``a_A`` in a cell of height
    ``cell_c_A`` (vacuum along z), centred: the reference of the interlayer
    binding energy ``E_b = E(sheet)/atom - E(graphite)/atom``."""
    sheet = graphite("AA")
    scale = a_A / np.linalg.norm(sheet.cell[0])
    sheet.set_cell([*(sheet.cell[:2] * scale), sheet.cell[2]], scale_atoms=True)
    sheet.cell[2, 2] = cell_c_A
    sheet.center(axis=2)
    return sheet


def interlayer_spacing_A(atoms: Atoms) -> float:
    """Sheet-to-sheet distance of bulk graphite: c over the sheets per cell (2 for
    AB, 1 for AA; from ``info["stacking"]``)."""
    sheets = 2 if atoms.info.get("stacking") == "AB" else 1
    return float(atoms.cell[2, 2] / sheets)


def compound_in_plane_a_A(relaxed: Atoms, built: Atoms) -> float:
    """In-plane lattice constant per graphene cell of a relaxed stage-1 compound:
    the relaxed supercell vector over the built one (built at ``GRAPHENE_A``)."""
    scale = np.linalg.norm(relaxed.cell[0]) / np.linalg.norm(built.cell[0])
    return float(scale * GRAPHENE_A)
