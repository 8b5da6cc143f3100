"""Geometry checks shared by builders and the relaxation guards (no calculators).

Distances are compared with the sum of covalent radii (``ase.data.covalent_radii``):
a pair closer than ``min_ratio * (r_i + r_j)`` is unphysical.  The default 0.7 lets
through every bonded distance of the models here (C-C 1.42 A is 0.93 of the radii
sum, a metal atom above a carbon atom at the starting metal-carbon distance is
>= 0.9) and catches collapsed sheets, overlapping metal atoms or atoms that an ML
potential has pulled into each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.data import covalent_radii
from ase.neighborlist import neighbor_list

DEFAULT_MIN_RATIO = 0.7

#: Tag values used by the builders to label the parts of a model.
TAG_BOTTOM_SHEET = 1
TAG_TOP_SHEET = 2
TAG_METAL_FIRST_LAYER = 11  # metal layer k (0-based) has tag 11 + k


@dataclass(frozen=True)
class ClosestPair:
    """The pair of atoms with the smallest distance relative to their radii sum."""

    i: int
    j: int
    distance_A: float
    ratio: float

    def describe(self, atoms: Atoms) -> str:
        s = atoms.get_chemical_symbols()
        return (
            f"{s[self.i]}{self.i}-{s[self.j]}{self.j} at {self.distance_A:.3f} A "
            f"({self.ratio:.2f} x the sum of covalent radii)"
        )


def closest_pair(atoms: Atoms) -> ClosestPair | None:
    """The pair with the smallest ``d_ij / (r_i + r_j)``, periodic images included.

    Returns ``None`` for a single atom without periodic neighbours within reach.
    """
    radii = covalent_radii[atoms.numbers]
    cutoff = 2.0 * float(radii.max())
    i, j, d = neighbor_list("ijd", atoms, cutoff, self_interaction=False)
    if len(d) == 0:
        return None
    ratio = d / (radii[i] + radii[j])
    k = int(np.argmin(ratio))
    return ClosestPair(int(i[k]), int(j[k]), float(d[k]), float(ratio[k]))


def check_distances(
    atoms: Atoms, min_ratio: float = DEFAULT_MIN_RATIO, what: str = ""
) -> None:
    """Raise ``ValueError`` if two atoms are closer than ``min_ratio`` x radii sum."""
    pair = closest_pair(atoms)
    if pair is not None and pair.ratio < min_ratio:
        where = f" in {what}" if what else ""
        raise ValueError(
            f"unphysical geometry{where}: {pair.describe(atoms)} < {min_ratio}"
        )


def sheet_heights(atoms: Atoms) -> tuple[float, float]:
    """Mean z (A) of the bottom and top carbon sheets (tags 1 and 2)."""
    tags = atoms.get_tags()
    z = atoms.positions[:, 2]
    if not (np.any(tags == TAG_BOTTOM_SHEET) and np.any(tags == TAG_TOP_SHEET)):
        raise ValueError("atoms carry no sheet tags 1 and 2 (not a bilayer model)")
    return float(z[tags == TAG_BOTTOM_SHEET].mean()), float(
        z[tags == TAG_TOP_SHEET].mean()
    )


def gallery_height(atoms: Atoms) -> float:
    """Carbon-plane to carbon-plane height (A) of the gallery holding the metal.

    For a bilayer model (sheet tags 1 and 2) the distance between the mean planes of
    the two sheets; for a 3D-periodic graphite model with one sheet per cell the
    length of the c axis.
    """
    tags = atoms.get_tags()
    if np.any(tags == TAG_TOP_SHEET):
        bottom, top = sheet_heights(atoms)
        return top - bottom
    if atoms.pbc[2]:
        return float(atoms.cell[2, 2])
    raise ValueError("cannot tell the gallery height: no top sheet and no c axis")


def metal_outside_gallery(atoms: Atoms, tolerance_A: float = 0.3) -> list[int]:
    """Indices of metal atoms (tags >= 11) not between the two sheets of a bilayer."""
    tags = atoms.get_tags()
    if not np.any(tags == TAG_TOP_SHEET):
        return []
    bottom, top = sheet_heights(atoms)
    z = atoms.positions[:, 2]
    metal = np.nonzero(tags >= TAG_METAL_FIRST_LAYER)[0]
    out = (z[metal] < bottom + tolerance_A) | (z[metal] > top - tolerance_A)
    return [int(k) for k in metal[out]]
