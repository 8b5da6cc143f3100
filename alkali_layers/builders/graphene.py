"""Graphene sheets, pristine bilayers and graphite (no metal).

Conventions
-----------
The graphene primitive vectors are ``a1 = a (1, 0)`` and ``a2 = a (1/2, sqrt(3)/2)``
(60 degrees).  The two carbon atoms of the bottom sheet sit at fractional (1/3, 1/3)
and (2/3, 2/3), so the hexagon centre (hollow site) is at the origin, where the
builders put intercalated metal.  AB (Bernal) stacking shifts the top sheet by
(1/3, 1/3): one top atom sits above a bottom atom, the other above the bottom hollow.
Tags: bottom sheet 1, top sheet 2 (see :mod:`alkali_layers.geometry`).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from ..elements import (
    GRAPHENE_A,
    GRAPHENE_SPACING_AA,
    GRAPHENE_SPACING_AB,
    check_stacking,
)
from ..geometry import TAG_BOTTOM_SHEET, TAG_TOP_SHEET

_SHEET_FRACTIONAL = np.array([[1 / 3, 1 / 3], [2 / 3, 2 / 3]])
_STACKING_SHIFT = {"AA": np.zeros(2), "AB": np.array([1 / 3, 1 / 3])}


def graphene_lattice(a: float = GRAPHENE_A) -> np.ndarray:
    """Primitive 2D lattice of graphene, rows ``a1, a2`` (A)."""
    return a * np.array([[1.0, 0.0], [0.5, np.sqrt(3.0) / 2.0]])


def pristine_spacing(stacking: str) -> float:
    """Interlayer distance (A) of a pristine bilayer: AB 3.35, AA 3.60."""
    check_stacking(stacking)
    return GRAPHENE_SPACING_AB if stacking == "AB" else GRAPHENE_SPACING_AA


def integer_points_in_supercell(matrix: np.ndarray) -> np.ndarray:
    """Integer vectors ``n`` with ``n @ inv(matrix)`` in [0, 1)^2 (one per cell)."""
    matrix = np.asarray(matrix, dtype=int)
    corners = np.array([[0, 0], [1, 0], [0, 1], [1, 1]]) @ matrix
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    grid = np.mgrid[lo[0] : hi[0] + 1, lo[1] : hi[1] + 1].reshape(2, -1).T
    frac = grid @ np.linalg.inv(matrix)
    inside = np.all((frac > -1e-9) & (frac < 1 - 1e-9), axis=1)
    points = grid[inside]
    n_expected = abs(round(np.linalg.det(matrix)))
    assert len(points) == n_expected, (len(points), n_expected)
    return points


def lattice_sites(
    lattice: np.ndarray, matrix: np.ndarray, basis_frac: np.ndarray
) -> np.ndarray:
    """Cartesian 2D positions of the basis sites of ``lattice`` in ``matrix``."""
    points = integer_points_in_supercell(matrix)
    frac = (points[:, None, :] + np.asarray(basis_frac)[None, :, :]).reshape(-1, 2)
    return frac @ lattice


def graphene_sheet_xy(matrix: np.ndarray, shift_frac=(0.0, 0.0), a: float = GRAPHENE_A):
    """In-plane positions (A) of one graphene sheet in the supercell ``matrix``."""
    basis = _SHEET_FRACTIONAL + np.asarray(shift_frac)
    return lattice_sites(graphene_lattice(a), matrix, basis)


def supercell_cell(matrix: np.ndarray, c: float, a: float = GRAPHENE_A) -> np.ndarray:
    """3x3 cell of a graphene supercell with ``c`` (A) along z."""
    cell = np.zeros((3, 3))
    cell[:2, :2] = np.asarray(matrix) @ graphene_lattice(a)
    cell[2, 2] = c
    return cell


def carbon_sheets(
    matrix: np.ndarray,
    stacking: str,
    z_bottom: float,
    z_top: float,
    a: float = GRAPHENE_A,
) -> Atoms:
    """Two graphene sheets at ``z_bottom`` and ``z_top`` (tags 1 and 2); no cell."""
    check_stacking(stacking)
    bottom = graphene_sheet_xy(matrix, (0.0, 0.0), a)
    top = graphene_sheet_xy(matrix, _STACKING_SHIFT[stacking], a)
    xy = np.vstack([bottom, top])
    z = np.concatenate([np.full(len(bottom), z_bottom), np.full(len(top), z_top)])
    atoms = Atoms(f"C{len(xy)}", positions=np.column_stack([xy, z]))
    atoms.set_tags([TAG_BOTTOM_SHEET] * len(bottom) + [TAG_TOP_SHEET] * len(top))
    return atoms


def graphite(
    stacking: str = "AB", interlayer_A: float | None = None, supercell=None
) -> Atoms:
    """Bulk graphite with AA (one sheet per cell) or AB (Bernal, two sheets) stacking.

    Parameters
    ----------
    stacking : {"AB", "AA"}
        Sheet stacking; AB is the ground state.
    interlayer_A : float, optional
        Sheet-to-sheet distance (default 3.35 A for AB, 3.60 A for AA).
    supercell : 2x2 int array, optional
        In-plane supercell of the graphene primitive cell (default 1x1).

    Returns
    -------
    ase.Atoms
        Fully periodic; ``info`` holds ``host="graphite"``, stacking and supercell.
    """
    check_stacking(stacking)
    d = pristine_spacing(stacking) if interlayer_A is None else float(interlayer_A)
    matrix = np.eye(2, dtype=int) if supercell is None else np.asarray(supercell, int)
    if stacking == "AA":
        xy = graphene_sheet_xy(matrix)
        atoms = Atoms(f"C{len(xy)}", positions=np.column_stack([xy, np.zeros(len(xy))]))
        atoms.set_tags([TAG_BOTTOM_SHEET] * len(xy))
        atoms.cell = supercell_cell(matrix, d)
    else:
        atoms = carbon_sheets(matrix, "AB", 0.0, d)
        atoms.cell = supercell_cell(matrix, 2 * d)
    atoms.pbc = True
    atoms.info.update(
        host="graphite",
        stacking=stacking,
        n_layers=0,
        supercell=matrix.tolist(),
        gallery_height_A=d,
    )
    return atoms
