"""Coincidence (commensurate) supercells of two 2D lattices, rotation allowed.

The search follows the Zur-McGill idea (J. Appl. Phys. 55, 378 (1984)): enumerate the
sublattices of both 2D lattices up to a maximum index (Hermite normal forms), pair
those of similar area, and for each pair of reduced bases find the linear map that
takes the guest supercell onto the host supercell.  The polar decomposition of that
map separates a rigid rotation from a symmetric stretch; the principal strains
(singular values minus one) must not exceed ``max_strain``.  The strain is applied to
the guest (the softer metal), in-plane only, so that the host (graphene) keeps its
lattice constant.

It is written here instead of using ``pymatgen``'s ``ZSLGenerator`` because that
generator filters on separate vector-length and angle tolerances, not on the strain
tensor, and returns no rotation or strain to apply; the search below is ~100 lines,
vectorised, and returns exactly what the builders need.

Conventions: a 2D lattice is a ``(2, 2)`` array whose rows are the lattice vectors in
Cartesian coordinates (A).  An integer supercell matrix ``P`` gives supercell vectors
``P @ lattice``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["CoincidenceCell", "find_coincidence_cells", "best_coincidence_cell"]


@dataclass(frozen=True)
class CoincidenceCell:
    """A common supercell of a host and a (rotated, strained) guest 2D lattice.

    Attributes
    ----------
    host_matrix, guest_matrix : tuple of tuples of int
        Supercell matrices: supercell vectors are ``host_matrix @ host_lattice`` and
        ``guest_matrix @ guest_lattice`` (before rotation and strain of the guest).
    rotation_deg : float
        Counter-clockwise rotation of the guest lattice (degrees), reduced modulo the
        rotational symmetry of the lattices (into -30..30 when either is hexagonal).
    principal_strains : tuple of float
        Principal strains applied to the guest (fractions; positive = stretched).
    host_area_A2 : float
        Area of the common supercell.
    """

    host_matrix: tuple[tuple[int, int], tuple[int, int]]
    guest_matrix: tuple[tuple[int, int], tuple[int, int]]
    rotation_deg: float
    principal_strains: tuple[float, float]
    host_area_A2: float

    @property
    def n_host_cells(self) -> int:
        """Number of host primitive cells in the supercell."""
        return abs(round(np.linalg.det(np.array(self.host_matrix))))

    @property
    def n_guest_cells(self) -> int:
        """Number of guest primitive cells in the supercell."""
        return abs(round(np.linalg.det(np.array(self.guest_matrix))))

    @property
    def max_abs_strain(self) -> float:
        """Largest principal strain magnitude (fraction)."""
        return max(abs(s) for s in self.principal_strains)

    def guest_map(
        self, guest_lattice: np.ndarray, host_lattice: np.ndarray
    ) -> np.ndarray:
        """The (2, 2) matrix ``T`` with ``x_host = x_guest @ T`` (rotation + strain)."""
        guest_sc = np.array(self.guest_matrix) @ guest_lattice
        host_sc = np.array(self.host_matrix) @ host_lattice
        return np.linalg.solve(guest_sc, host_sc)


def hermite_normal_forms(index: int) -> np.ndarray:
    """All row-style Hermite normal forms ``[[a, b], [0, c]]`` with ``a*c = index``.

    Each sublattice of index ``index`` of a 2D lattice appears exactly once
    (``0 <= b < c``); there are sigma(index) of them.
    """
    out = []
    for a in range(1, index + 1):
        if index % a:
            continue
        c = index // a
        for b in range(c):
            out.append(((a, b), (0, c)))
    return np.array(out, dtype=int).reshape(-1, 2, 2)


#: Relative tolerance under which two lattice quantities count as equal.
_TIE = 1e-9


def _gauss_reduce(m: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    """Lagrange-Gauss reduce the integer basis ``m`` (rows) of a 2D lattice."""
    m = m.copy()
    for _ in range(100):
        v = m @ lattice
        # the comparisons allow for rounding noise, so that ties (equal lengths,
        # a projection of exactly one half, common in hexagonal lattices) are
        # decided the same way on every CPU
        if v[0] @ v[0] > (v[1] @ v[1]) * (1 + _TIE):
            m = m[::-1].copy()
            v = v[::-1]
        k = int(np.floor((v[0] @ v[1]) / (v[0] @ v[0]) + 0.5 - _TIE))
        if k == 0:
            break
        m[1] -= k * m[0]
    if np.linalg.det(m) < 0:
        m[1] = -m[1]
    return m


@lru_cache(maxsize=1)
def _unimodular() -> np.ndarray:
    mats = [
        np.array(e).reshape(2, 2)
        for e in itertools.product((-1, 0, 1), repeat=4)
        if abs(round(np.linalg.det(np.array(e).reshape(2, 2)))) == 1
    ]
    return np.array(mats, dtype=int)


def _reduced_sublattices(lattice: np.ndarray, max_index: int):
    mats, idx = [], []
    for n in range(1, max_index + 1):
        for h in hermite_normal_forms(n):
            mats.append(_gauss_reduce(h, lattice))
            idx.append(n)
    return np.array(mats), np.array(idx)


def find_coincidence_cells(
    host_lattice: np.ndarray,
    guest_lattice: np.ndarray,
    max_strain: float = 0.02,
    max_host_cells: int = 40,
    max_guest_cells: int = 40,
) -> list[CoincidenceCell]:
    """All coincidence cells with principal guest strains ``<= max_strain``.

    Parameters
    ----------
    host_lattice, guest_lattice : array (2, 2)
        Rows are the primitive 2D lattice vectors (A).
    max_strain : float
        Largest allowed principal strain of the guest (fraction, 0.02 = 2 %).
    max_host_cells, max_guest_cells : int
        Largest supercell indices searched.

    Returns
    -------
    list of CoincidenceCell
        Sorted by number of host cells, then strain, then cell elongation.  One
        entry per (host sublattice, guest sublattice) pair.
    """
    host_lattice = np.asarray(host_lattice, float)
    guest_lattice = np.asarray(guest_lattice, float)
    if not max_strain > 0:
        raise ValueError(f"max_strain must be positive, got {max_strain!r}")
    search = _Search(host_lattice, guest_lattice, max_host_cells, max_guest_cells)
    found = [search.cell(*c) for c in search.candidates(max_strain)]
    return sorted(found, key=lambda c: cell_order(c, host_lattice))


def cell_order(cell: CoincidenceCell, host_lattice: np.ndarray) -> tuple:
    """Sort key of coincidence cells: fewest host cells, least strain, least
    elongation, least rotation, then the integer matrices.

    The float criteria are rounded, so that symmetry-equivalent cells (equal up to
    rounding noise, which differs between CPUs) tie exactly and the matrices decide:
    the same cell is chosen on every machine (before 2026-12-02 the noise chose
    among equivalent cells, and a structure built on one machine differed from the
    same call on another).
    """
    return (
        cell.n_host_cells,
        round(cell.max_abs_strain, 6),
        round(_elongation(np.array(cell.host_matrix) @ host_lattice), 6),
        round(abs(cell.rotation_deg), 4),
        cell.host_matrix,
        cell.guest_matrix,
    )


class _Search:
    """Vectorised search over pairs of reduced sublattices (see module docstring)."""

    def __init__(self, host_lattice, guest_lattice, max_host_cells, max_guest_cells):
        self.host, self.guest = host_lattice, guest_lattice
        self.area_h = abs(np.linalg.det(host_lattice))
        self.area_g = abs(np.linalg.det(guest_lattice))
        self.hm, self.hn = _reduced_sublattices(host_lattice, max_host_cells)
        self.gm, self.gn = _reduced_sublattices(guest_lattice, max_guest_cells)
        self.max_host_cells = max_host_cells
        self.uni = _unimodular()
        # the relative orientation is defined modulo the rotations of either lattice
        self.period = int(
            np.gcd(
                _rotation_period_deg(host_lattice), _rotation_period_deg(guest_lattice)
            )
        )

    def _blocks(self, max_strain: float):
        """Per host index n_h: (h_sel, g_sel, best basis map, least strain, T)."""
        lo, hi = (1 - max_strain) ** 2, (1 + max_strain) ** 2
        for n_h in range(1, self.max_host_cells + 1):
            ratio = n_h * self.area_h / (self.gn * self.area_g)  # area stretch of guest
            g_sel = np.nonzero((ratio >= lo) & (ratio <= hi))[0]
            if len(g_sel) == 0:
                continue
            h_sel = np.nonzero(self.hn == n_h)[0]
            host_sc = self.hm[h_sel] @ self.host  # (H, 2, 2)
            guest_sc = np.einsum(
                "uij,gjk,kl->ugil", self.uni, self.gm[g_sel], self.guest
            )
            # x_host = x_guest @ T  ->  T = guest_sc^-1 @ host_sc, for all (U, G, H)
            t = np.einsum("ugij,hjk->ughik", np.linalg.inv(guest_sc), host_sc)
            det = t[..., 0, 0] * t[..., 1, 1] - t[..., 0, 1] * t[..., 1, 0]
            strain = _max_principal_strain(t, det)
            # rounded so that symmetry-equivalent choices tie exactly and the first
            # (lowest index) wins on every machine
            strain = np.round(strain, 9)
            strain[det <= 0] = np.inf  # reflections are not rotations
            best_u = np.argmin(strain, axis=0)  # (G, H)
            best = np.take_along_axis(strain, best_u[None], axis=0)[0]
            yield h_sel, g_sel, best_u, best, t

    def candidates(self, max_strain: float):
        """Yield ``(host index, guest index, basis map, strain, T)`` of matching pairs.

        For each pair of sublattices only the best basis correspondence (least strain,
        proper rotation) is kept.
        """
        for h_sel, g_sel, best_u, best, t in self._blocks(max_strain):
            for g, h in zip(*np.nonzero(best <= max_strain + 1e-12), strict=True):
                u = best_u[g, h]
                yield h_sel[h], g_sel[g], u, float(best[g, h]), t[u, g, h]

    def least_strained(self, max_strain: float = 0.25) -> CoincidenceCell | None:
        """The cell of least strain (ties: fewest host cells) below ``max_strain``."""
        found = None
        for h_sel, g_sel, best_u, best, t in self._blocks(max_strain):
            g, h = np.unravel_index(np.argmin(best), best.shape)
            if found is None or best[g, h] < found[3] - 1e-9:
                u = best_u[g, h]
                found = (h_sel[h], g_sel[g], u, float(best[g, h]), t[u, g, h])
        return None if found is None or found[3] > max_strain else self.cell(*found)

    def cell(self, h_idx, g_idx, u, strain, tm) -> CoincidenceCell:
        # polar decomposition of F = T^T (column convention): F = R U
        uu, svals, vt = np.linalg.svd(tm.T)
        rot = uu @ vt
        angle = _reduce_angle(np.degrees(np.arctan2(rot[1, 0], rot[0, 0])), self.period)
        gmat = self.uni[u] @ self.gm[g_idx]
        return CoincidenceCell(
            host_matrix=tuple(map(tuple, self.hm[h_idx].tolist())),
            guest_matrix=tuple(map(tuple, gmat.tolist())),
            rotation_deg=angle,
            principal_strains=tuple(float(x) - 1.0 for x in sorted(svals)),
            host_area_A2=float(self.hn[h_idx] * self.area_h),
        )


def _max_principal_strain(t: np.ndarray, det: np.ndarray) -> np.ndarray:
    """max |s_i - 1| over the singular values s_i of a stack of 2x2 matrices.

    Closed form: s_1^2 + s_2^2 = |T|_F^2 and s_1 s_2 = |det T|.  The discriminant
    |T|_F^4 - 4 det^2 = (|T|_F^2 - 2|det|)(|T|_F^2 + 2|det|) is formed from its
    first factor written as a sum of squares ((a - d)^2 + (b + c)^2 for det > 0), not
    by subtraction: for the isotropic strain of a hexagonal lattice on another it
    vanishes, and the subtraction left ~1e-16 whose square root (~1e-8) was noise
    large enough to decide between equivalent cells differently on each CPU.
    """
    a, b = t[..., 0, 0], t[..., 0, 1]
    c, d = t[..., 1, 0], t[..., 1, 1]
    frob = np.sum(t**2, axis=(-2, -1))
    first = np.where(det >= 0, (a - d) ** 2 + (b + c) ** 2, (a + d) ** 2 + (b - c) ** 2)
    root = np.sqrt(first * (frob + 2.0 * np.abs(det)))
    s_big = np.sqrt((frob + root) / 2.0)
    s_small = np.sqrt(np.maximum((frob - root) / 2.0, 0.0))
    return np.maximum(np.abs(s_big - 1.0), np.abs(s_small - 1.0))


def _rotation_period_deg(lattice: np.ndarray) -> int:
    """Smallest rotation (deg) mapping a 2D lattice onto itself: 60, 90 or 180."""
    a, b = np.linalg.norm(lattice, axis=1)
    cos = abs(lattice[0] @ lattice[1]) / (a * b)
    if abs(a - b) < 1e-6 * a and abs(cos - 0.5) < 1e-6:
        return 60
    if abs(a - b) < 1e-6 * a and cos < 1e-6:
        return 90
    return 180


def _reduce_angle(angle: float, period: int) -> float:
    """Angle in (-period/2, period/2]."""
    r = (angle + period / 2.0) % period - period / 2.0
    return period / 2.0 if np.isclose(r, -period / 2.0) else float(r)


def _elongation(vectors: np.ndarray) -> float:
    lengths = np.linalg.norm(vectors, axis=1)
    return float(lengths.max() / lengths.min())


def best_coincidence_cell(
    host_lattice: np.ndarray,
    guest_lattice: np.ndarray,
    max_strain: float = 0.02,
    max_host_cells: int = 40,
) -> CoincidenceCell:
    """The smallest coincidence cell (fewest host cells, then least strain).

    Raises
    ------
    ValueError
        If no cell within ``max_host_cells`` meets ``max_strain``; the message gives
        the least-strained cell found with a looser bound so the user can decide.
    """
    area_ratio = abs(np.linalg.det(host_lattice) / np.linalg.det(guest_lattice))
    max_guest = max(
        1, int(np.ceil(max_host_cells * area_ratio * (1 + max_strain) ** 2))
    )
    cells = find_coincidence_cells(
        host_lattice, guest_lattice, max_strain, max_host_cells, max_guest
    )
    if cells:
        return cells[0]
    least = _Search(
        np.asarray(host_lattice, float),
        np.asarray(guest_lattice, float),
        max_host_cells,
        max_guest,
    ).least_strained()
    hint = ""
    if least is not None:
        hint = (
            f"; the least-strained cell within that size has "
            f"{100 * least.max_abs_strain:.2f} % strain "
            f"({least.n_host_cells} host cells)"
        )
    raise ValueError(
        f"no coincidence supercell with metal strain <= {100 * max_strain:.2f} % "
        f"within {max_host_cells} graphene cells{hint}; "
        "raise max_strain or max_host_cells"
    )
