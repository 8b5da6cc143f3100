"""Theoretical capacities (docs/science/capacity.md).

``Q = n_M * F / (3.6 * m)`` in mAh/g, with F = 96485.33212 C/mol, ``n_M`` the metal
atoms per formula unit and ``m`` its mass (g/mol); 1 mAh = 3.6 C.

Two gravimetric bases are in use and both are offered and labelled:

* ``basis="host"``: ``m`` is the host mass only (graphite convention:
  LiC6 = 372 mAh/g, KC8 = 279 mAh/g);
* ``basis="total"``: ``m`` includes the metal (the bilayer-graphene convention:
  C6LiC6 = 177 mAh/g).
"""

from __future__ import annotations

from collections import Counter

from ase import Atoms
from ase.data import atomic_masses, atomic_numbers

from ..elements import check_metal

FARADAY_C_MOL = 96485.33212  # CODATA 2018
ELEMENTARY_CHARGE_C = 1.602176634e-19
BASES = ("host", "total")


def _mass(symbol: str) -> float:
    return float(atomic_masses[atomic_numbers[symbol]])


def capacity_mAh_g(n_metal: float, mass_g_mol: float) -> float:
    """``n_metal * F / (3.6 * mass)``: mAh per gram of a unit of mass ``mass_g_mol``."""
    if mass_g_mol <= 0:
        raise ValueError(f"mass must be positive, got {mass_g_mol!r} g/mol")
    if n_metal < 0:
        raise ValueError(f"number of metal atoms must be >= 0, got {n_metal!r}")
    return n_metal * FARADAY_C_MOL / (3.6 * mass_g_mol)


def composition_capacity_mAh_g(
    counts: dict[str, float], metal: str, basis: str = "total"
) -> float:
    """Gravimetric capacity of a composition, e.g. ``{"C": 12, "Li": 1}``.

    Parameters
    ----------
    counts : dict
        Atoms of each element in the formula unit.
    metal : str
        The mobile alkali metal (one electron per atom).
    basis : {"host", "total"}
        Divide by the host mass (everything except ``metal``) or by the total mass.
    """
    check_metal(metal)
    if basis not in BASES:
        raise ValueError(f"unknown basis {basis!r}; allowed: {', '.join(BASES)}")
    n_metal = counts.get(metal, 0)
    host = sum(n * _mass(s) for s, n in counts.items() if s != metal)
    mass = host + (n_metal * _mass(metal) if basis == "total" else 0.0)
    return capacity_mAh_g(n_metal, mass)


def atoms_capacity_mAh_g(atoms: Atoms, metal: str, basis: str = "total") -> float:
    """Gravimetric capacity of the composition of ``atoms`` (see above)."""
    return composition_capacity_mAh_g(
        Counter(atoms.get_chemical_symbols()), metal, basis
    )


def volumetric_capacity_mAh_cm3(n_metal: float, volume_A3: float) -> float:
    """Charge of ``n_metal`` electrons per volume, mAh/cm^3 (``volume_A3`` in A^3)."""
    if volume_A3 <= 0:
        raise ValueError(f"volume must be positive, got {volume_A3!r} A^3")
    return n_metal * ELEMENTARY_CHARGE_C / 3.6 / (volume_A3 * 1e-24)


def atoms_volumetric_capacity_mAh_cm3(atoms: Atoms, metal: str) -> float:
    """Volumetric capacity of a 3D-periodic bulk cell (e.g. a GIC), mAh/cm^3.

    Raises ``ValueError`` for slabs (a vacuum region makes the volume arbitrary).
    """
    check_metal(metal)
    if atoms.info.get("host") == "bilayer_graphene" or not all(atoms.pbc):
        raise ValueError(
            "volumetric capacity needs a bulk cell; a slab's volume includes vacuum"
        )
    n_metal = atoms.get_chemical_symbols().count(metal)
    return volumetric_capacity_mAh_cm3(n_metal, atoms.get_volume())
