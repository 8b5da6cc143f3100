"""Formation energies of intercalated models (relaxation + references).

Convention (docs/science/energies.md):
``E_f = [E(host + n M) - E(host) - n mu_M] / n`` in eV per metal atom, with ``mu_M``
the relaxed bcc metal and ``E(host)`` the relaxed pristine host of the same stacking
in the same supercell (evaluated as ``n_C x`` the energy per carbon of the primitive
host; see
:mod:`alkali_layers.calculators.references`).  Negative = stable against bulk metal
plus the empty host.
"""

from __future__ import annotations

from dataclasses import dataclass

from ase import Atoms

from ..analysis.voltage import formation_energy_eV_per_metal_atom
from .guards import ModelFailure
from .references import ReferenceEnergies
from .relax import RelaxResult, RelaxSettings, relax

#: A formation energy beyond this magnitude (eV per metal atom) is not physical for
#: alkali metals in carbon (cohesive energies are 0.8-1.6 eV) and fails the model.
MAX_ABS_FORMATION_EV = 5.0


@dataclass
class FormationEnergy:
    """Formation energy of one relaxed model and the numbers behind it (eV)."""

    formation_energy_eV_per_metal_atom: float
    energy_eV: float
    host_energy_eV: float
    mu_metal_eV: float
    n_metal: int
    n_carbon: int
    relaxed: RelaxResult


def model_metal(atoms: Atoms) -> str:
    """The alkali metal of a model: ``info["metal"]``, else the one alkali present.

    Raises ValueError when the model holds no alkali metal (n_layers = 0?) or more
    than one.
    """
    from ..elements import ALKALI_METALS

    metal = atoms.info.get("metal") or ""
    if metal:
        return metal
    present = [m for m in ALKALI_METALS if m in set(atoms.get_chemical_symbols())]
    if len(present) != 1:
        raise ValueError(
            f"the model must hold exactly one alkali metal, found {present or 'none'} "
            "(n_layers = 0?)"
        )
    return present[0]


def formation_from_energy(
    energy_eV: float, atoms: Atoms, host_eV_per_carbon: float, mu_metal_eV: float
) -> tuple[float, float]:
    """(E_f per metal atom, E_host) for a model of energy ``energy_eV``; guarded."""
    metal = model_metal(atoms)
    symbols = atoms.get_chemical_symbols()
    n_metal, n_c = symbols.count(metal), symbols.count("C")
    host_energy = n_c * host_eV_per_carbon
    ef = formation_energy_eV_per_metal_atom(
        energy_eV, n_metal, host_energy, mu_metal_eV
    )
    if not abs(ef) <= MAX_ABS_FORMATION_EV:
        raise ModelFailure(
            f"formation energy {ef:.4g} eV/atom is beyond +-{MAX_ABS_FORMATION_EV} eV: "
            "unphysical result of the engine"
        )
    return ef, host_energy


def formation_energy(
    atoms: Atoms,
    calc,
    settings: RelaxSettings | None = None,
    references: ReferenceEnergies | None = None,
) -> FormationEnergy:
    """Relax ``atoms`` and its references with ``calc``; return the formation energy.

    Parameters
    ----------
    atoms : ase.Atoms
        A model from :func:`~alkali_layers.builders.bilayer_graphene` or
        :func:`~alkali_layers.builders.graphite_intercalation`.
    calc : ase Calculator
        The engine.
    settings : RelaxSettings, optional
        Relaxation settings for model and references.
    references : ReferenceEnergies, optional
        Reuse references across calls (pass the same object for a series of models).
    """
    settings = settings or RelaxSettings()
    references = references or ReferenceEnergies(calc, settings)
    metal = model_metal(atoms)
    mu = references.metal_eV_per_atom(metal)
    e_c = references.host_eV_per_carbon(atoms)
    result = relax(atoms, calc, settings)
    ef, host_energy = formation_from_energy(result.energy_eV, atoms, e_c, mu)
    symbols = atoms.get_chemical_symbols()
    return FormationEnergy(
        formation_energy_eV_per_metal_atom=ef,
        energy_eV=result.energy_eV,
        host_energy_eV=host_energy,
        mu_metal_eV=mu,
        n_metal=symbols.count(metal),
        n_carbon=symbols.count("C"),
        relaxed=result,
    )
