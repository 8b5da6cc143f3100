"""MoS2 monolayers (2H, 1T, 1T') and graphene/metal/MoS2 heterostructures.

Conventions
-----------
* MoS2 lattice: hexagonal ``a1 = a (1, 0)``, ``a2 = a (1/2, sqrt(3)/2)`` with Mo at
  fractional (0, 0) and S at (1/3, 1/3) in both S planes for 2H (trigonal prismatic
  Mo) or at (1/3, 1/3) below and (2/3, 2/3) above for 1T (octahedral Mo).  The
  rectangular cell ``A1 = a (1, 0)``, ``A2 = a (0, sqrt(3))`` holds two formula units
  (Mo at (0, 0) and (1/2, 1/2)); 1T' is 1T in this cell with the two Mo moved apart
  along ``A2`` by ``+-delta`` so that each Mo has two Mo neighbours at
  :data:`~alkali_layers.elements.MOS2_1TPRIME_MO_MO_SHORT_A` (2.8 A): the zigzag
  chains run along ``A1`` (the standard 1T -> 1T' dimerisation; the relaxation, not
  the builder, sets the final distortion and the S positions).
* Lattice constants and the S-S thickness come from :mod:`alkali_layers.elements`.
* Heterostructure: MoS2 at the bottom (tag 1, the "bottom sheet" of the distance
  and gallery helpers of :mod:`alkali_layers.geometry`), metal planes above it (tag
  11 + k, k = 0 next to MoS2) and graphene on top (tag 2).  The supercell is a
  coincidence cell of three lattices found by
  :func:`~alkali_layers.builders.matching.find_coincidence_cells` (rotation
  allowed): graphene keeps its lattice, MoS2 is strained by at most ``host_strain``
  (the search uses the rectangular MoS2 cell and requires both the 2H and the 1T
  lattice within ``host_strain``, so 2H, 1T and 1T' models of one metal and packing
  share one supercell and their energies compare directly), the metal planes by at
  most ``max_strain``.  Principal strains of each lattice are in ``atoms.info``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from ase import Atoms

from ..elements import (
    DEFAULT_HOST_STRAIN,
    GRAPHENE_MOS2_SPACING_A,
    MOS2_1TPRIME_MO_MO_SHORT_A,
    check_metal,
    check_mos2_phase,
    check_n_layers,
    check_packing,
    graphene_strain_share,
    metal_data,
    mos2_lattice_constant_A,
    mos2_thickness_A,
)
from ..geometry import (
    TAG_BOTTOM_SHEET,
    TAG_METAL_FIRST_LAYER,
    TAG_TOP_SHEET,
    check_distances,
    first_extreme,
)
from .graphene import graphene_lattice, graphene_sheet_xy, lattice_sites
from .layers import metal_plane_lattice, stacking_shifts
from .matching import cell_order, find_coincidence_cells

__all__ = [
    "HeterostructureCell",
    "graphene_mos2",
    "heterostructure_cell",
    "mos2",
    "mos2_lattice",
]

DEFAULT_VACUUM_A = 7.5
#: Default largest principal strain of the metal planes (fraction): the metal is the
#: soft part, but its planes must also fit the graphene/MoS2 cell, a third lattice.
DEFAULT_METAL_STRAIN = 0.03
#: Largest graphene supercell (primitive cells) searched for the three-lattice cell.
DEFAULT_MAX_GRAPHENE_CELLS = 40

_HEX_BASIS = {"Mo": [(0.0, 0.0)], "S_low": [(1 / 3, 1 / 3)]}
_S_UP_HEX = {"2H": [(1 / 3, 1 / 3)], "1T": [(2 / 3, 2 / 3)]}
# rectangular cell (2 formula units): hex (1/3, 1/3) -> (1/2, 1/6) and
# hex (2/3, 2/3) -> (0, 1/3)
_RECT_MO = np.array([[0.0, 0.0], [0.5, 0.5]])
_RECT_S_LOW = np.array([[0.5, 1 / 6], [0.0, 2 / 3]])
_RECT_S_UP = {
    "2H": np.array([[0.5, 1 / 6], [0.0, 2 / 3]]),
    "1T": np.array([[0.0, 1 / 3], [0.5, 5 / 6]]),
}


#: Spellings of 1T' without the quote (safe in file and folder names).
PHASE_ALIASES = {"1Tp": "1T'", "1Tprime": "1T'"}


def canonical_phase(phase: object) -> str:
    """The phase name ("2H", "1T'", "1T"); "1Tp" and "1Tprime" mean "1T'"."""
    return check_mos2_phase(PHASE_ALIASES.get(phase, phase))


def mos2_lattice(phase: str, rectangular: bool = False) -> np.ndarray:
    """2D lattice (rows, A) of a MoS2 phase: hexagonal primitive or rectangular.

    1T' exists only in the rectangular cell (``rectangular`` is ignored for it).
    """
    phase = canonical_phase(phase)
    a = mos2_lattice_constant_A(phase)
    if rectangular or phase == "1T'":
        return a * np.array([[1.0, 0.0], [0.0, np.sqrt(3.0)]])
    return a * np.array([[1.0, 0.0], [0.5, np.sqrt(3.0) / 2.0]])


def _dimerisation_frac(a_A: float) -> float:
    """Shift of each Mo along A2 (fraction of ``sqrt(3) a``) giving the 1T' short
    Mo-Mo distance: ``sqrt(a^2/4 + (sqrt(3) a / 2 - 2 delta)^2) = d_short``."""
    half_y = np.sqrt(MOS2_1TPRIME_MO_MO_SHORT_A**2 - a_A**2 / 4.0)
    delta = (np.sqrt(3.0) * a_A / 2.0 - half_y) / 2.0
    return float(delta / (np.sqrt(3.0) * a_A))


def _layer_fractions(phase: str, rectangular: bool):
    """Fractional in-plane positions (Mo, S below, S above) in the phase's cell."""
    if not (rectangular or phase == "1T'"):
        up = _S_UP_HEX["2H" if phase == "2H" else "1T"]
        return (
            np.array(_HEX_BASIS["Mo"]),
            np.array(_HEX_BASIS["S_low"]),
            np.array(up),
        )
    mo = _RECT_MO.copy()
    if phase == "1T'":
        d = _dimerisation_frac(mos2_lattice_constant_A(phase))
        mo[0, 1] += d
        mo[1, 1] -= d
    up = _RECT_S_UP["2H" if phase == "2H" else "1T"]
    return mo, _RECT_S_LOW.copy(), up.copy()


def _mos2_layer(
    phase: str,
    rectangular: bool,
    matrix: np.ndarray,
    transform: np.ndarray,
    z_bottom: float,
) -> Atoms:
    """One MoS2 layer: sites of ``matrix`` (supercell of the phase cell), mapped by
    ``transform`` (``xy_cell @ transform``), lower S plane at ``z_bottom``."""
    lattice = mos2_lattice(phase, rectangular)
    thickness = mos2_thickness_A(phase)
    mo_f, s_low_f, s_up_f = _layer_fractions(phase, rectangular)
    parts = []
    for symbol, frac, z in (
        ("S", s_low_f, z_bottom),
        ("Mo", mo_f, z_bottom + thickness / 2.0),
        ("S", s_up_f, z_bottom + thickness),
    ):
        xy = lattice_sites(lattice, matrix, frac) @ transform
        parts.append(
            Atoms(
                f"{symbol}{len(xy)}",
                positions=np.column_stack([xy, np.full(len(xy), z)]),
            )
        )
    layer = parts[0] + parts[1] + parts[2]
    layer.set_tags(TAG_BOTTOM_SHEET)
    return layer


def mos2(
    phase: str = "2H",
    size: tuple[int, int] = (1, 1),
    vacuum: float = DEFAULT_VACUUM_A,
    rectangular: bool | None = None,
) -> Atoms:
    """A MoS2 monolayer: 2H (trigonal prismatic), 1T (octahedral) or 1T' (distorted
    octahedral, Mo zigzag chains).

    Parameters
    ----------
    phase : {"2H", "1T'", "1T"}
        ("1Tp" is accepted for "1T'".)  2H and 1T on the hexagonal lattice of
        the element table (2H a = 3.160 A, 1T a = 3.190 A); 1T' is 1T in the
        rectangular ``a x sqrt(3) a`` cell with the Mo dimerised to 2.8 A zigzag
        chains along ``a`` (a starting structure: relax it, e.g. with the fast
        engine, to get the relaxed 1T').
    size : (int, int)
        Repetitions of the primitive (or rectangular) cell along its two vectors.
    vacuum : float
        Vacuum (A) on each side of the layer.
    rectangular : bool, optional
        Use the rectangular 2-formula-unit cell (default: only for 1T').

    Returns
    -------
    ase.Atoms
        Periodic in all directions, tag 1 on every atom; ``info``: host="mos2",
        phase, a_A, thickness_A, n_Mo, size, rectangular.

    Raises
    ------
    ValueError
        Unknown phase, 1T' asked in the hexagonal cell, bad size or vacuum.
    """
    phase = canonical_phase(phase)
    if rectangular is None:
        rectangular = phase == "1T'"
    if phase == "1T'" and not rectangular:
        raise ValueError("1T' exists only in the rectangular cell (rectangular=True)")
    try:
        n1, n2 = (int(s) for s in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be two positive integers, got {size!r}") from None
    if n1 < 1 or n2 < 1 or (n1, n2) != tuple(size):
        raise ValueError(f"size must be two positive integers, got {size!r}")
    if not vacuum > 0:
        raise ValueError(f"vacuum must be positive, got {vacuum!r}")
    matrix = np.diag([n1, n2])
    layer = _mos2_layer(phase, rectangular, matrix, np.eye(2), vacuum)
    thickness = mos2_thickness_A(phase)
    cell = np.zeros((3, 3))
    cell[:2, :2] = matrix @ mos2_lattice(phase, rectangular)
    cell[2, 2] = thickness + 2 * vacuum
    layer.cell = cell
    layer.pbc = True
    layer.wrap()
    layer.info.update(
        host="mos2",
        phase=phase,
        a_A=mos2_lattice_constant_A(phase),
        thickness_A=round(thickness, 4),
        n_Mo=layer.get_chemical_symbols().count("Mo"),
        size=[n1, n2],
        rectangular=bool(rectangular),
        n_layers=0,
    )
    return layer


@dataclass(frozen=True)
class HeterostructureCell:
    """The common supercell of graphene, MoS2 and (optionally) the metal planes.

    Attributes
    ----------
    graphene_matrix : 2x2 int
        Supercell of the graphene primitive cell.
    mos2_matrix : 2x2 int
        Supercell of the rectangular MoS2 cell (2 Mo per cell).
    graphene_map : 2x2 float
        Symmetric stretch of graphene: cell vectors ``= graphene_matrix @
        graphene_lattice() @ graphene_map``.
    metal_matrix : 2x2 int or None
        Supercell of the metal-plane primitive cell (None without metal).
    metal_rotation_deg : float or None
        Rotation of the metal planes relative to graphene (degrees).
    metal_principal_strains : (float, float) or None
        Principal strains of the metal planes (fractions, ascending).
    """

    graphene_matrix: tuple
    mos2_matrix: tuple
    graphene_map: tuple
    metal_matrix: tuple | None = None
    metal_rotation_deg: float | None = None
    metal_principal_strains: tuple[float, float] | None = None

    @property
    def vectors_A(self) -> np.ndarray:
        """The two in-plane cell vectors (rows, A)."""
        return (
            np.array(self.graphene_matrix)
            @ graphene_lattice()
            @ np.array(self.graphene_map)
        )

    @property
    def n_graphene_cells(self) -> int:
        return abs(round(np.linalg.det(np.array(self.graphene_matrix))))

    @property
    def n_Mo(self) -> int:
        """Mo atoms in the cell (2 per rectangular MoS2 cell)."""
        return 2 * abs(round(np.linalg.det(np.array(self.mos2_matrix))))

    @property
    def graphene_principal_strains(self) -> tuple[float, float]:
        s = np.linalg.svd(np.array(self.graphene_map), compute_uv=False)
        return tuple(float(x) - 1.0 for x in sorted(s))

    def mos2_map(self, phase: str) -> np.ndarray:
        """``T`` with ``xy_cell = xy_mos2 @ T`` (rectangular cell of ``phase``)."""
        guest = np.array(self.mos2_matrix) @ mos2_lattice(phase, rectangular=True)
        return np.linalg.solve(guest, self.vectors_A)

    def mos2_principal_strains(self, phase: str) -> tuple[float, float]:
        """Principal strains (fractions, ascending) of the MoS2 lattice of ``phase``."""
        s = np.linalg.svd(self.mos2_map(phase), compute_uv=False)
        return tuple(float(x) - 1.0 for x in sorted(s))

    def mos2_rotation_deg(self, phase: str) -> float:
        """Rotation of the MoS2 lattice relative to graphene (degrees), reduced
        modulo the 120 degrees that map a MoS2 layer onto itself, into [-60, 60)."""
        u, _, vt = np.linalg.svd(self.mos2_map(phase).T)
        r = u @ vt
        angle = float(np.degrees(np.arctan2(r[1, 0], r[0, 0])))
        return (angle + 60.0) % 120.0 - 60.0


def _check_strain(name: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value < 0.2
    ):
        raise ValueError(f"{name} must be a fraction in (0, 0.2), got {value!r}")
    return float(value)


def _shared_graphene_map(graphene_matrix, mos2_matrix, share: float) -> np.ndarray:
    """Symmetric stretch of graphene taking ``share`` of the graphene/2H-MoS2
    mismatch: with ``G = M T`` and ``T = Q P`` (polar), graphene gets ``P^-share``
    and MoS2 ``Q P^(1 - share)``, both ending on ``G P^-share``."""
    g = np.array(graphene_matrix) @ graphene_lattice()
    m = np.array(mos2_matrix) @ mos2_lattice("2H", rectangular=True)
    t = np.linalg.solve(m, g)
    _, sv, vt = np.linalg.svd(t)
    p = vt.T @ np.diag(sv) @ vt
    w, v = np.linalg.eigh(p)
    return v @ np.diag(w**-share) @ v.T


@lru_cache(maxsize=32)
def _graphene_mos2_pairs(
    host_strain: float, max_graphene_cells: int
) -> tuple[HeterostructureCell, ...]:
    """Graphene/MoS2 cells with graphene and the 2H and 1T lattices all within
    ``host_strain``, smallest first (the mismatch shared by the 2D moduli)."""
    share = graphene_strain_share()
    spread = abs(mos2_lattice_constant_A("1T") / mos2_lattice_constant_A("2H") - 1)
    gl = graphene_lattice()
    rect = mos2_lattice("2H", rectangular=True)
    bound = host_strain / (1.0 - share) + spread
    ratio = abs(np.linalg.det(gl) / np.linalg.det(rect))
    max_guest = max(1, int(np.ceil(max_graphene_cells * ratio * (1 + bound) ** 2)))
    out = []
    for cell in find_coincidence_cells(gl, rect, bound, max_graphene_cells, max_guest):
        gmap = _shared_graphene_map(cell.host_matrix, cell.guest_matrix, share)
        het = HeterostructureCell(
            cell.host_matrix, cell.guest_matrix, tuple(map(tuple, gmap.tolist()))
        )
        strains = [*het.graphene_principal_strains]
        for phase in ("2H", "1T"):
            strains += het.mos2_principal_strains(phase)
        if max(abs(s) for s in strains) <= host_strain + 1e-9:
            out.append(het)
    return tuple(out)


@lru_cache(maxsize=128)
def heterostructure_cell(
    metal: str | None = None,
    packing: str = "fcc",
    max_strain: float = DEFAULT_METAL_STRAIN,
    host_strain: float = DEFAULT_HOST_STRAIN,
    max_graphene_cells: int = DEFAULT_MAX_GRAPHENE_CELLS,
) -> HeterostructureCell:
    """Smallest supercell common to graphene, MoS2 and (with ``metal``) its planes.

    Graphene/MoS2 coincidence cells (rectangular MoS2 cell, rotation allowed) are
    tried smallest first.  In each, the graphene/2H mismatch is shared between the
    two sheets by their 2D moduli (:func:`~alkali_layers.elements.
    graphene_strain_share`: graphene takes 35 %), and graphene, 2H and 1T must all
    stay within ``host_strain``.  The first cell on which the metal planes
    (``packing``) fit with principal strains within ``max_strain`` (any rotation,
    the metal supercell equal to the common cell) is returned.

    Raises
    ------
    ValueError
        No cell within ``max_graphene_cells`` fits; the message says what would
        (the least metal strain reached on the cells searched).
    """
    host_strain = _check_strain("host_strain", host_strain)
    max_strain = _check_strain("max_strain", max_strain)
    if (
        isinstance(max_graphene_cells, bool)
        or not isinstance(max_graphene_cells, int)
        or max_graphene_cells < 1
    ):
        raise ValueError(
            f"max_graphene_cells must be a positive integer, got {max_graphene_cells!r}"
        )
    pairs = _graphene_mos2_pairs(host_strain, max_graphene_cells)
    if not pairs:
        raise ValueError(
            f"no graphene/MoS2 supercell within {max_graphene_cells} graphene cells "
            f"keeps graphene and MoS2 within {100 * host_strain:.1f} % strain; raise "
            "host_strain or max_graphene_cells"
        )
    if metal is None:
        return pairs[0]
    check_metal(metal)
    check_packing(packing)
    metal_lat = metal_plane_lattice(metal, packing)
    least = (np.inf, None)
    for het in pairs:
        vectors = het.vectors_A
        ratio = abs(np.linalg.det(vectors) / np.linalg.det(metal_lat))
        max_guest = max(1, int(np.ceil(ratio * 1.2**2)))
        loose = find_coincidence_cells(vectors, metal_lat, 0.19, 1, max_guest)
        if loose:
            best = min(loose, key=lambda c: c.max_abs_strain)
            if best.max_abs_strain < least[0]:
                least = (best.max_abs_strain, het.n_graphene_cells)
        fits = [c for c in loose if c.max_abs_strain <= max_strain + 1e-12]
        if fits:
            cell = min(fits, key=lambda c: cell_order(c, vectors)[1:])
            u = np.array(cell.host_matrix)  # unimodular change of basis of the cell
            return HeterostructureCell(
                tuple(map(tuple, (u @ np.array(het.graphene_matrix)).tolist())),
                tuple(map(tuple, (u @ np.array(het.mos2_matrix)).tolist())),
                het.graphene_map,
                cell.guest_matrix,
                cell.rotation_deg,
                cell.principal_strains,
            )
    hint = (
        f"; the least metal strain on these cells is {100 * least[0]:.2f} % "
        f"({least[1]} graphene cells): set max_strain >= {least[0] + 5e-4:.3f}"
        if least[1] is not None
        else ""
    )
    raise ValueError(
        f"no graphene/MoS2 supercell within {max_graphene_cells} graphene cells fits "
        f"{metal} {packing} planes within {100 * max_strain:.1f} % strain{hint}, "
        "or raise max_graphene_cells"
    )


def _spread_subset(xy: np.ndarray, cell2: np.ndarray, n: int) -> np.ndarray:
    """Indices of ``n`` of the 2D sites ``xy``, spread out by farthest-point
    sampling with minimum-image distances (deterministic: starts at site 0)."""
    inv = np.linalg.inv(cell2)
    # the nine nearest images: the minimum image of an oblique cell, and no
    # rounding of a fractional coordinate of exactly one half
    images = np.array([(i, j) for i in (-1, 0, 1) for j in (-1, 0, 1)]) @ cell2
    chosen = [0]
    dmin = np.full(len(xy), np.inf)
    while len(chosen) < n:
        d = (xy - xy[chosen[-1]]) @ inv
        d = (d - np.floor(d + 0.5)) @ cell2
        dist = np.linalg.norm(d[:, None, :] + images[None], axis=2).min(axis=1)
        dmin = np.minimum(dmin, dist)
        dmin[chosen] = -1.0
        chosen.append(first_extreme(dmin, largest=True))
    return np.array(sorted(chosen))


def graphene_mos2(
    metal: str | None = None,
    n_layers: int = 0,
    packing: str = "fcc",
    phase: str = "2H",
    n_metal: int | None = None,
    max_strain: float = DEFAULT_METAL_STRAIN,
    host_strain: float = DEFAULT_HOST_STRAIN,
    vacuum: float = DEFAULT_VACUUM_A,
    max_graphene_cells: int = DEFAULT_MAX_GRAPHENE_CELLS,
) -> Atoms:
    """Graphene on MoS2 with ``n_layers`` (0-4) alkali-metal planes in between.

    Parameters
    ----------
    metal : str, optional
        Li, Na, K, Rb or Cs.  With ``n_layers=0`` it selects the supercell (the empty
        heterostructure of the same cell as the loaded models, the reference of
        their intercalation energy); None gives the smallest graphene/MoS2 cell.
    n_layers : int
        0 (empty) to 4 metal planes cut from bulk fcc(111) (ABC), hcp(0001) (AB) or
        bcc(110) at the bulk volume per atom (:mod:`~alkali_layers.builders.layers`).
    packing : {"fcc", "hcp", "bcc"}
        Metal planes and their stacking.
    phase : {"2H", "1T'", "1T"}
        MoS2 phase ("1Tp" is accepted for "1T'"); all phases of one metal and
        packing share the supercell.
    n_metal : int, optional
        Partial loading: keep this many metal atoms, filling the planes from the one
        next to MoS2 upward, the last plane's atoms spread out in-plane (farthest-
        point sampling).  Must exceed the atoms of ``n_layers - 1`` full planes and
        not exceed ``n_layers`` full planes.  Default: all planes full.
    max_strain : float
        Largest principal strain of the metal planes (fraction).
    host_strain : float
        Largest principal strain of MoS2 (fraction; graphene keeps a = 2.46 A).
    vacuum : float
        Vacuum (A) below MoS2 and above graphene.
    max_graphene_cells : int
        Largest supercell searched (graphene primitive cells).

    Returns
    -------
    ase.Atoms
        Tags: MoS2 1, graphene 2, metal plane k (0 = next to MoS2) 11 + k.  ``info``:
        host="graphene_mos2", metal, n_layers, packing, phase, n_metal, n_Mo,
        n_carbon, x_per_Mo (metal atoms per Mo), full_layer_atoms, supercell
        (graphene), mos2_supercell (rectangular MoS2 cell), metal_supercell,
        *_principal_strains_pct and *_strain_pct of graphene, MoS2 and metal,
        mos2_rotation_deg, metal_rotation_deg, gallery_height_A (Mo plane to
        graphene, initial), vacuum_A.

    Raises
    ------
    ValueError
        Unknown metal, phase or packing; n_layers outside 0-4; n_metal out of
        range; strain bounds that no supercell meets (the message says what fits).
    """
    check_n_layers(n_layers)
    phase = canonical_phase(phase)
    check_packing(packing)
    if metal is not None:
        check_metal(metal)
    if n_layers > 0 and metal is None:
        raise ValueError(f"n_layers={n_layers} needs a metal (Li, Na, K, Rb or Cs)")
    if not vacuum > 0:
        raise ValueError(f"vacuum must be positive, got {vacuum!r}")
    cell = heterostructure_cell(
        metal, packing, max_strain, host_strain, max_graphene_cells
    )
    vectors = cell.vectors_A
    thickness = mos2_thickness_A(phase)

    # metal planes (full), k = 0 next to MoS2
    planes: list[np.ndarray] = []
    if metal is not None:
        metal_lat = metal_plane_lattice(metal, packing)
        t = np.linalg.solve(np.array(cell.metal_matrix) @ metal_lat, vectors)
        for shift in stacking_shifts(packing, n_layers):
            xy = lattice_sites(metal_lat, np.array(cell.metal_matrix), shift[None, :])
            planes.append(xy @ t)
    per_plane = len(planes[0]) if planes else 0
    n_full = per_plane * n_layers
    if n_metal is not None:
        if isinstance(n_metal, bool) or not isinstance(n_metal, int):
            raise ValueError(f"n_metal must be an integer, got {n_metal!r}")
        low = per_plane * (n_layers - 1) + 1 if n_layers else 0
        if not low <= n_metal <= n_full:
            raise ValueError(
                f"n_metal={n_metal} does not fit {n_layers} plane(s) of {per_plane} "
                f"{metal or 'metal'} atoms in this cell: allowed {low}..{n_full} "
                "(fewer atoms: use fewer layers)"
            )
        if n_metal < n_full:
            keep = _spread_subset(planes[-1], vectors, n_metal - low + 1)
            planes[-1] = planes[-1][keep]

    atoms = _mos2_layer(
        phase, True, np.array(cell.mos2_matrix), cell.mos2_map(phase), 0.0
    )
    z = thickness
    if planes:
        data = metal_data(metal)
        spacing = data.layer_spacing_A(packing)
        z += data.metal_carbon_distance_A  # metal plane above the upper S plane
        for k, xy in enumerate(planes):
            layer = Atoms(
                f"{metal}{len(xy)}",
                positions=np.column_stack([xy, np.full(len(xy), z)]),
            )
            layer.set_tags(TAG_METAL_FIRST_LAYER + k)
            atoms += layer
            z += spacing
        z += data.metal_carbon_distance_A - spacing
    else:
        z += GRAPHENE_MOS2_SPACING_A
    xy = graphene_sheet_xy(np.array(cell.graphene_matrix)) @ np.array(cell.graphene_map)
    sheet = Atoms(f"C{len(xy)}", positions=np.column_stack([xy, np.full(len(xy), z)]))
    sheet.set_tags(TAG_TOP_SHEET)
    atoms += sheet
    c3 = np.zeros((3, 3))
    c3[:2, :2] = vectors
    c3[2, 2] = z + 2 * vacuum
    atoms.cell = c3
    atoms.pbc = True
    atoms.positions[:, 2] += vacuum
    atoms.wrap()

    symbols = atoms.get_chemical_symbols()
    n_mo = symbols.count("Mo")
    n_m = symbols.count(metal) if metal else 0
    mos2_strain = cell.mos2_principal_strains(phase)
    metal_strain = cell.metal_principal_strains if n_layers else None

    def pct(strains):
        return [round(100 * s, 4) for s in strains]

    atoms.info.update(
        host="graphene_mos2",
        metal=metal if n_layers else "",
        cell_metal=metal or "",
        n_layers=n_layers,
        packing=packing if metal else "",
        phase=phase,
        n_metal=n_m,
        n_Mo=n_mo,
        n_carbon=symbols.count("C"),
        x_per_Mo=n_m / n_mo,
        full_layer_atoms=per_plane,
        supercell=[list(r) for r in cell.graphene_matrix],
        mos2_supercell=[list(r) for r in cell.mos2_matrix],
        metal_supercell=(
            [list(r) for r in cell.metal_matrix] if cell.metal_matrix else []
        ),
        graphene_principal_strains_pct=pct(cell.graphene_principal_strains),
        graphene_strain_pct=round(
            100 * max(abs(s) for s in cell.graphene_principal_strains), 4
        ),
        mos2_principal_strains_pct=pct(mos2_strain),
        mos2_strain_pct=round(100 * max(abs(s) for s in mos2_strain), 4),
        mos2_rotation_deg=round(cell.mos2_rotation_deg(phase), 4),
        metal_principal_strains_pct=pct(metal_strain) if metal_strain else [],
        metal_strain_pct=(
            round(100 * max(abs(s) for s in metal_strain), 4) if metal_strain else 0.0
        ),
        metal_rotation_deg=(
            round(cell.metal_rotation_deg, 4) if cell.metal_rotation_deg else 0.0
        ),
        gallery_height_A=round(z - thickness / 2.0, 4),
        vacuum_A=vacuum,
    )
    check_distances(atoms, what="the built heterostructure")
    return atoms
