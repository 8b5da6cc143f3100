"""Sanity guards on every stored number.

Machine-learned potentials return absurd numbers silently (measured here: two graphene
sheets 0.4 A apart gave -2e12 eV and no error), so every energy that enters a result
passes these checks, and a violation fails that model with its reason.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from ..errors import ModelFailure  # noqa: F401 - re-exported: guards raise it
from ..geometry import DEFAULT_MIN_RATIO, closest_pair, metal_outside_gallery

#: Sane bounds of the total energy per atom (eV) for the engines used here (DFT
#: energies relative to isolated atoms and 7net-0 energies are both within
#: roughly -10 and 0 eV/atom for carbon and the alkali metals).
ENERGY_PER_ATOM_BOUNDS_EV = (-20.0, 5.0)
#: Largest force (eV/A) accepted in a relaxed structure before it counts as exploded.
MAX_FORCE_EV_A = 1.0e3


def check_geometry(
    atoms: Atoms, stage: str, min_ratio: float = DEFAULT_MIN_RATIO
) -> None:
    """Raise :class:`ModelFailure` for overlapping atoms or metal out of the gallery."""
    pair = closest_pair(atoms)
    if pair is not None and pair.ratio < min_ratio:
        raise ModelFailure(
            f"{stage}: atoms too close, {pair.describe(atoms)} < {min_ratio}"
        )
    outside = metal_outside_gallery(atoms)
    if outside:
        raise ModelFailure(
            f"{stage}: {len(outside)} metal atom(s) left the gallery "
            f"(e.g. index {outside[0]})"
        )


def energy_bounds(calc) -> tuple[float, float] | None:
    """Sane energy-per-atom bounds (eV) for the energies of ``calc``.

    A calculator may carry its own as ``energy_bounds_eV_per_atom`` (None: only
    finiteness is checked): GPAW with a functional other than PBE reports energies
    relative to the PBE reference atoms of its PAW setups, which are offset by the
    exchange-correlation difference on the core densities (vdW-DF2: -35 eV/atom for
    bcc K), so no fixed window fits them.
    """
    return getattr(calc, "energy_bounds_eV_per_atom", ENERGY_PER_ATOM_BOUNDS_EV)


def check_energy(
    energy_eV: float,
    n_atoms: int,
    stage: str,
    bounds: tuple[float, float] | None = ENERGY_PER_ATOM_BOUNDS_EV,
) -> None:
    """Raise :class:`ModelFailure` for a non-finite energy, or one outside
    ``bounds`` (eV per atom; None: finiteness only, see :func:`energy_bounds`)."""
    if not np.isfinite(energy_eV):
        raise ModelFailure(f"{stage}: energy is {energy_eV}")
    if bounds is None:
        return
    lo, hi = bounds
    per_atom = energy_eV / n_atoms
    if not lo <= per_atom <= hi:
        raise ModelFailure(
            f"{stage}: energy {per_atom:.4g} eV/atom outside the sane range "
            f"[{lo}, {hi}]"
        )


def largest_force(forces: np.ndarray) -> float:
    """Largest force vector length (eV/A) of an N x 3 array; 0 for no atoms."""
    return float(np.sqrt((forces**2).sum(axis=1)).max()) if len(forces) else 0.0


def check_forces(forces: np.ndarray, stage: str) -> None:
    """Raise :class:`ModelFailure` for NaN/inf or exploding forces."""
    if not np.all(np.isfinite(forces)):
        raise ModelFailure(f"{stage}: forces contain NaN or inf")
    fmax = largest_force(forces)
    if fmax > MAX_FORCE_EV_A:
        raise ModelFailure(f"{stage}: forces exploded (max {fmax:.3g} eV/A)")
