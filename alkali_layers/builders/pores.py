"""Hard-carbon pore models: wedge pores, closed (slit) pores, pore assemblies, filling.

All models are orthorhombic and periodic in x, y and z (no vacuum): hard carbon is a
bulk solid, and an orthorhombic cell keeps the site search simple.  The graphene
sheets lie in xy with x along the zigzag direction (period ``a = 2.46 A``) and y along
the armchair direction (period ``sqrt(3) a = 4.26 A``); z is the stacking direction.

Wedge pore (cross-section in the y-z plane, x periodic)::

    z ^  ====================================   top wall (continuous sheet)
      |  ------------H      s_4       H------   ribbon 3   (gallery spacing s_4)
      |  ------------H      pore      H------   ribbon 2   (s_3)
      |  ------------H  <- depth ->   H------   ribbon 1   (s_2)
      |  ====================================   bottom wall (s_1 below ribbon 1)
      +----------------------------------------> y

A stack of graphene sheets whose gallery spacings grow linearly from
``spacing_min_nm`` to ``spacing_max_nm`` (default 0.56-1.14 nm, the published model
in docs/science/phenomenon.md) so the interlayer spacing varies across the
model; the inner sheets are ribbons cut by a slit pore whose zigzag edge surfaces
(H-terminated by default) face each other across the pore ``depth`` (default
0.74 nm, edge carbon to edge carbon along y); the pore ``width`` (default 3.70 nm) is
its extent across the stack, between the continuous wall sheets that close it.
Every gallery opens into the pore.  The number of galleries is the whole number
whose spacings add up closest to the width; the realized width and depth are in
``atoms.info`` (3.40 x 0.78 nm for the defaults: whole galleries and whole rows of
the graphene lattice).  The top wall and the periodic image of the bottom wall are
AB-stacked at the graphite spacing (3.35 A): the walls are two sheets thick.

Closed pore: a slit between graphene walls of ``wall_sheets`` sheets each (AB,
3.35 A apart), ``width_nm`` from carbon plane to carbon plane; the stack repeats
along z.  :func:`pore_assembly` stacks several such pores of different widths in
one cell (multi-pore models of thousands of atoms).

Metal in pores: close-packed (fcc/hcp) planes parallel to the walls at the bulk
nearest-neighbour distance, the first at the metal-carbon distance of a stage-1
GIC (``MetalData.metal_carbon_distance_A``) from the wall, the next ones at the
bulk layer spacing.  ``n`` layers need a slit of
``gic_interlayer + (n - 1) * layer_spacing`` (carbon plane to carbon plane; for
H-terminated edge surfaces the H plane takes the place of the carbon plane).  The
planes must be periodic in the cell: :func:`fill_pore` strains them by at most
``max_strain`` (default 2 %, as the bilayer builders) in every in-plane direction
and otherwise names the in-plane size that fits.  In a wedge pore a layer is a set
of rows along x (the edges) at the bulk row spacing, centred between the edges.

Tags: carbon of sheet ``k`` -> ``100 + k``, hydrogen on sheet ``k`` -> ``200 + k``,
metal layer ``k`` -> ``11 + k`` (as in the bilayer builders).  No atom carries
tag 1 or 2, so the bilayer-only guards stay out of the way.  Tag ranges overlap
(``>= 11`` includes the carbons): the metal role comes from the element,
:func:`~alkali_layers.geometry.metal_mask`.

Builders never call calculators; their metadata is in ``atoms.info`` (``host``,
``pores``, ``sheets``, ``edges``, ``vacancies``, ``metal``, ``width_nm``, ...).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

from ..elements import (
    ALKALI_METALS,
    GRAPHENE_A,
    GRAPHENE_SPACING_AB,
    check_metal,
    check_packing,
    metal_data,
)
from ..geometry import TAG_METAL_FIRST_LAYER, check_distances, metal_mask
from .graphene import graphene_sheet_xy, integer_points_in_supercell, supercell_cell
from .intercalation import DEFAULT_MAX_STRAIN

#: C-H bond length at graphene edges (A), typical of aromatic C-H.
CH_BOND_A = 1.09
#: C-C bond length of graphene (A).
CC_BOND_A = GRAPHENE_A / math.sqrt(3.0)
#: Tag of the carbon atoms of sheet ``k``: ``TAG_SHEET + k``; hydrogen ``TAG_H + k``.
TAG_SHEET = 100
TAG_H = 200
#: Filling modes of :func:`fill_pore`.
FILL_MODES: tuple[str, ...] = ("cluster", "plate", "sandwich")
VACANCY_KINDS: tuple[str, ...] = ("single", "double")
#: Rows of the rectangular graphene cell along y (armchair): ``sqrt(3) a / 2``.
_ROW_A = GRAPHENE_A * math.sqrt(3.0) / 2.0
_AB_SHIFT = (1 / 3, 1 / 3)  # fractional shift (graphene basis) of an AB partner sheet


# --------------------------------------------------------------------------- layers
def layers_width_nm(n_layers: int, metal: str, packing: str = "fcc") -> float:
    """Slit width (nm, carbon plane to carbon plane) that ``n_layers`` layers need.

    ``gic_interlayer + (n - 1) * layer_spacing`` of the element table: for Na
    (GIC gallery 4.50 A, fcc(111) spacing 3.077 A) 0.450, 0.758, 1.065, 1.373 nm for
    1-4 layers.  ``n_layers = 0`` needs nothing (0 nm).
    """
    data = metal_data(metal)
    check_packing(packing)
    if isinstance(n_layers, bool) or not isinstance(n_layers, int) or n_layers < 0:
        raise ValueError(f"n_layers must be an integer >= 0, got {n_layers!r}")
    if n_layers == 0:
        return 0.0
    height = data.gallery_height_A(1, packing) + (n_layers - 1) * data.layer_spacing_A(
        packing
    )
    return height / 10.0


def layers_in_width(width_nm: float, metal: str, packing: str = "fcc") -> int:
    """How many metal layers fit in a slit of ``width_nm`` (carbon plane to plane)."""
    data = metal_data(metal)
    width_nm = _check_width(width_nm, "width_nm", minimum_nm=0.0)
    first = data.gallery_height_A(1, packing) / 10.0
    if width_nm + 1e-9 < first:
        return 0
    spacing = data.layer_spacing_A(packing) / 10.0
    return 1 + int(math.floor((width_nm - first) / spacing + 1e-9))


def _check_width(value, name: str, minimum_nm: float) -> float:
    try:
        w = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number (nm), got {value!r}") from None
    if not math.isfinite(w) or w < minimum_nm - 1e-9:
        shown = math.ceil(minimum_nm * 1e4 - 1e-6) / 1e4  # never below the minimum
        raise ValueError(f"{name}={value!r} nm is too small: it must be >= {shown:g}")
    return w


def pore_slit_width_nm(pore: Atoms | float, pore_index: int = 0) -> float:
    """Free slit width (nm) of a pore model, or ``pore`` itself if it is a number.

    For a closed pore the carbon-plane distance; for a wedge pore its width across
    the stack (wall to wall), the direction in which its layers stack.
    """
    if not isinstance(pore, Atoms):
        return _check_width(pore, "pore width", minimum_nm=0.0)
    region = _pore_region(pore, pore_index)
    return float(region["slit_width_nm"])


def max_layers(
    pore: Atoms | float, metal: str, packing: str = "fcc", pore_index: int = 0
) -> int:
    """How many ``metal`` layers fit in ``pore`` (a pore model or a width in nm).

    Layers are parallel to the walls.  In a wedge pore they stack across its width
    (wall to wall) and are counted only if at least one row fits between the edge
    surfaces: the free depth (edge carbon to edge carbon, less the C-H bonds; an H
    plane counts as a carbon plane) must hold one layer's gallery.

    Examples (hand estimates from docs/science/geometry.md): a 1.0 nm
    slit holds 2 Na layers (3 need 0.450 + 2 x 0.308 = 1.065 nm) and 3 Li layers
    (0.370 + 2 x 0.254 = 0.878 nm; 4 need 1.132 nm).
    """
    check_metal(metal)
    if isinstance(pore, Atoms):
        lateral = _pore_region(pore, pore_index).get("lateral_free_nm")
        if lateral is not None and layers_in_width(lateral, metal, packing) == 0:
            return 0  # not even one row fits between the edge surfaces
    return layers_in_width(pore_slit_width_nm(pore, pore_index), metal, packing)


def check_layers_fit(
    pore: Atoms | float, metal: str, n_layers: int, packing: str = "fcc"
) -> None:
    """``ValueError`` saying how many layers fit and what width ``n_layers`` need."""
    fit = max_layers(pore, metal, packing)
    if n_layers > fit:
        need = layers_width_nm(n_layers, metal, packing)
        width = pore_slit_width_nm(pore)
        raise ValueError(
            f"{n_layers} {metal} layer(s) do not fit in a {width:.3f} nm pore: at most "
            f"{fit} fit; {n_layers} layer(s) need a width of {need:.3f} nm "
            f"({packing} packing, carbon plane to carbon plane)"
        )


# --------------------------------------------------------------------------- sheets
def _rect_matrix(nx: int, ny: int) -> np.ndarray:
    """Supercell matrix of an ``nx`` x ``ny`` rectangular (a x sqrt3 a) cell."""
    return np.array([[nx, 0], [-ny, 2 * ny]])


def _check_size(size, name: str = "size") -> tuple[int, int]:
    try:
        nx, ny = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be two integers (nx, ny), got {size!r}"
        ) from None
    if nx < 1 or ny < 1 or (nx, ny) != tuple(size):
        raise ValueError(f"{name} must be two integers >= 1, got {size!r}")
    return nx, ny


def _sheet(nx: int, ny: int, z: float, shifted: bool, tag: int) -> Atoms:
    shift = _AB_SHIFT if shifted else (0.0, 0.0)
    xy = graphene_sheet_xy(_rect_matrix(nx, ny), shift)
    lengths = np.array([nx * GRAPHENE_A, 2 * ny * _ROW_A])
    xy = np.mod(xy, lengths)
    atoms = Atoms(f"C{len(xy)}", positions=np.column_stack([xy, np.full(len(xy), z)]))
    atoms.set_tags(np.full(len(atoms), tag))
    return atoms


def _carbon_neighbours(atoms: Atoms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """C-C bonds (i, j, vector) within 1.2 x the graphene bond length."""
    i, j, d = neighbor_list("ijD", atoms, 1.2 * CC_BOND_A)
    carbon = atoms.numbers == 6
    keep = carbon[i] & carbon[j]
    return i[keep], j[keep], d[keep]


def _prune_and_terminate(
    atoms: Atoms, edge_tags: set[int], terminate: bool
) -> tuple[Atoms, list[int]]:
    """Remove carbons with < 2 C neighbours; H on the 2-coordinated edge carbons.

    Only carbons of sheets in ``edge_tags`` are treated (vacancies come later and are
    left bare).  Returns the new atoms and the indices of the edge carbons.
    """
    while True:
        i, _, _ = _carbon_neighbours(atoms)
        count = np.bincount(i, minlength=len(atoms))
        bad = [k for k in range(len(atoms)) if atoms.numbers[k] == 6 and count[k] < 2]
        if not bad:
            break
        del atoms[bad]
    i, j, d = _carbon_neighbours(atoms)
    count = np.bincount(i, minlength=len(atoms))
    tags = atoms.get_tags()
    edge = [k for k in range(len(atoms)) if count[k] == 2 and tags[k] in edge_tags]
    if terminate and edge:
        h_pos, h_tags = [], []
        for k in edge:
            bonds = d[i == k]
            u = -(bonds / np.linalg.norm(bonds, axis=1)[:, None]).sum(axis=0)
            u /= np.linalg.norm(u)
            h_pos.append(atoms.positions[k] + CH_BOND_A * u)
            h_tags.append(TAG_H + tags[k] - TAG_SHEET)
        h = Atoms(f"H{len(h_pos)}", positions=h_pos, tags=h_tags)
        atoms += h
        atoms.wrap()
    return atoms, edge


def _make_vacancies(
    atoms: Atoms,
    kinds: Sequence[str],
    candidates: np.ndarray,
    seed: int,
) -> list[dict]:
    """Remove carbons for each vacancy kind; positions drawn with ``seed``.

    ``candidates`` are indices of carbons that may be removed (e.g. wall carbons
    facing a pore).  Vacancies are kept at least 5 A apart.  Returns the vacancy
    records (kind, removed positions); the atoms are modified in place.
    """
    for kind in kinds:
        if kind not in VACANCY_KINDS:
            raise ValueError(
                f"unknown vacancy kind {kind!r}; allowed: {', '.join(VACANCY_KINDS)}"
            )
    if not len(kinds):
        return []
    rng = np.random.default_rng(seed)
    order = rng.permutation(np.asarray(candidates))
    allowed = set(order.tolist())
    i, j, _ = _carbon_neighbours(atoms)
    removed: list[int] = []
    records = []
    centres: list[np.ndarray] = []
    k = 0
    for kind in kinds:
        while k < len(order):
            a = int(order[k])
            k += 1
            pos = atoms.positions[a]
            if any(_mic_distance(atoms, pos, c) < 5.0 for c in centres):
                continue
            partners = [int(b) for b in j[i == a] if int(b) in allowed]
            if kind == "double" and not partners:
                continue
            group = [a] if kind == "single" else [a, partners[0]]
            centre = atoms.positions[group].mean(axis=0)
            centres.append(centre)
            removed.extend(group)
            records.append(
                dict(
                    kind=kind,
                    sheet=int(atoms.get_tags()[a] - TAG_SHEET),
                    removed_A=atoms.positions[group].round(4).tolist(),
                    center_A=centre.round(4).tolist(),
                )
            )
            break
        else:
            raise ValueError(
                f"no room for {len(kinds)} vacancies (>= 5 A apart) in this model; "
                "use fewer or a larger model"
            )
    del atoms[removed]
    return records


def _mic_distance(atoms: Atoms, p: np.ndarray, q: np.ndarray) -> float:
    lengths = np.diag(atoms.cell.array)
    d = np.asarray(p) - np.asarray(q)
    d -= lengths * np.round(d / lengths)
    return float(np.linalg.norm(d))


def _index_vacancies(atoms: Atoms, records: list[dict]) -> None:
    """Add the indices of the carbons around each vacancy (``neighbors``)."""
    carbon = np.nonzero(atoms.numbers == 6)[0]
    for rec in records:
        near = set()
        for p in rec["removed_A"]:
            for c in carbon:
                if _mic_distance(atoms, atoms.positions[c], p) < 1.2 * CC_BOND_A:
                    near.add(int(c))
        rec["neighbors"] = sorted(near)


def _edges_record(atoms: Atoms, edge: list[int], y_mid: float) -> list[dict]:
    """Edge carbons (and their H) grouped by sheet and side of the pore."""
    tags = atoms.get_tags()
    h_idx = np.nonzero(atoms.numbers == 1)[0]
    out = []
    for k in sorted({int(tags[e]) for e in edge}):
        for side in ("lo", "hi"):
            cs = [
                e
                for e in edge
                if tags[e] == k and ((atoms.positions[e, 1] < y_mid) == (side == "lo"))
            ]
            hs = [
                int(h)
                for h in h_idx
                if any(
                    _mic_distance(atoms, atoms.positions[h], atoms.positions[c])
                    < 1.3 * CH_BOND_A
                    for c in cs
                )
            ]
            out.append(dict(sheet=k - TAG_SHEET, side=side, carbons=cs, hydrogens=hs))
    return out


# --------------------------------------------------------------------------- wedge
def wedge_spacings_nm(
    width_nm: float, spacing_min_nm: float, spacing_max_nm: float
) -> list[float]:
    """Gallery spacings (nm) growing linearly from min to max, summing close to width.

    The number of galleries ``n >= 2`` is the whole number for which
    ``n (min + max) / 2`` is closest to ``width_nm``.

    Raises
    ------
    ValueError
        Naming the parameter and its smallest allowed value: spacings below the
        graphite spacing (0.335 nm), ``spacing_max_nm < spacing_min_nm``, or a
        width for which fewer than two galleries (one ribbon between the two walls,
        the smallest wedge) would be the closest whole number, i.e.
        ``width_nm < 1.5 (min + max) / 2``.
    """
    lo = _check_width(spacing_min_nm, "spacing_min_nm", GRAPHENE_SPACING_AB / 10.0)
    hi = _check_width(spacing_max_nm, "spacing_max_nm", lo)
    mean = 0.5 * (lo + hi)
    smallest = 1.5 * mean  # 2 galleries are the closest whole number from here on
    width_nm = _check_width(width_nm, "pore_width_nm", minimum_nm=smallest)
    n = max(2, round(width_nm / mean))
    return [float(v) for v in np.linspace(lo, hi, n)]


def _wedge_depth_rows(depth_nm: float, terminate: bool) -> int:
    """Graphene rows ``m`` cut out for the pore, checked to leave room for a metal atom.

    The realized depth (edge carbon to edge carbon) is ``m * 0.213 + 0.142`` nm for
    the closest ``m >= 1``; less the C-H bonds of terminated edges, it must hold one
    layer of the smallest alkali metal (the Li stage-1 gallery, 0.370 nm), or no
    metal atom fits in the pore.  ``ValueError`` names the smallest allowed
    ``pore_depth_nm`` otherwise.
    """
    need_A = min(metal_data(m).gallery_height_A(1) for m in ALKALI_METALS)
    need_A += 2 * CH_BOND_A if terminate else 0.0
    m_min = max(1, math.ceil((need_A - CC_BOND_A) / _ROW_A - 1e-9))
    smallest_nm = math.ceil((m_min * _ROW_A + CC_BOND_A) / 10 * 1000) / 1000
    try:
        depth = float(depth_nm)
    except (TypeError, ValueError):
        raise ValueError(
            f"pore_depth_nm must be a number (nm), got {depth_nm!r}"
        ) from None
    m = round((depth * 10 - CC_BOND_A) / _ROW_A) if math.isfinite(depth) else 0
    if m < m_min:
        edges = "H-terminated" if terminate else "bare"
        raise ValueError(
            f"pore_depth_nm={depth_nm!r} nm is too small: the pore between the "
            f"{edges} edges would not hold a metal atom (it needs "
            f"{need_A / 10:.3f} nm edge carbon to edge carbon for one Li row); "
            f"it must be >= {smallest_nm:.3f} ({m_min} graphene rows)"
        )
    return m


def wedge_pore(
    pore_width_nm: float = 3.70,
    pore_depth_nm: float = 0.74,
    spacing_min_nm: float = 0.56,
    spacing_max_nm: float = 1.14,
    length_nm: float = 3.0,
    periodic_cells: int = 2,
    terminate: bool = True,
    vacancies: Sequence[str] = (),
    seed: int = 0,
) -> Atoms:
    """A wedge pore: graphene ribbons of growing spacing opening into a closed pore.

    See the module docstring for the geometry.

    Parameters
    ----------
    pore_width_nm : float
        Extent of the pore across the stack (wall to wall), nm; realized as the sum of
        the gallery spacings (a whole number of galleries).
        At least ``1.5 (spacing_min_nm + spacing_max_nm) / 2`` (1.275 nm for the
        default spacings), so that two galleries (one ribbon) are the closest.
    pore_depth_nm : float
        Edge-carbon to edge-carbon distance across the pore along y, nm; realized in
        whole graphene rows (``m * 0.213 + 0.142`` nm, the closest ``m >= 1``).  The
        pore must hold one row of Li (0.370 nm free, between the H of terminated
        edges): at least 0.782 nm (3 rows) with H, 0.569 nm (2 rows) bare.
    spacing_min_nm, spacing_max_nm : float
        Smallest and largest gallery spacing (0.335 nm <= min <= max); spacings grow
        linearly from the bottom wall upwards.
    length_nm : float
        Period along y (ribbons plus pore), rounded to whole 0.426 nm cells; must
        leave ribbons at least 1 nm long.
    periodic_cells : int
        Period along x in graphene cells (0.246 nm each); edges run along x.  Metal
        rows run along x: :func:`fill_pore` needs a period that takes them with
        little strain (e.g. 14 cells for 9 Na per row at +1.5 %).
    terminate : bool
        H-terminate the edge carbons (C-H 1.09 A); False leaves bare edges.
    vacancies : sequence of {"single", "double"}
        Vacancies in the wall sheets facing the pore, placed with ``seed``.
    seed : int
        Seed of the vacancy placement (the model is reproducible from its arguments).

    Returns
    -------
    ase.Atoms
        Orthorhombic, periodic; ``info`` holds host="wedge_pore", the realized
        ``width_nm``/``depth_nm``, ``spacings_nm``, ``sheets``, ``edges``,
        ``vacancies`` and ``pores`` (the pore region used by the site search).
    """
    spacings = wedge_spacings_nm(pore_width_nm, spacing_min_nm, spacing_max_nm)
    m = _wedge_depth_rows(pore_depth_nm, terminate)
    nx = periodic_cells
    if isinstance(nx, bool) or not isinstance(nx, int) or nx < 1:
        raise ValueError(f"periodic_cells must be an integer >= 1, got {nx!r}")
    # the period along y holds the pore and ribbons >= 1 nm long: ny_min cells
    ny_min = math.ceil((m * _ROW_A + CC_BOND_A + 10.0) / (2 * _ROW_A) - 1e-9)
    length_min_nm = math.ceil(2 * ny_min * _ROW_A / 10 * 1000) / 1000
    try:
        length = float(length_nm)
    except (TypeError, ValueError):
        raise ValueError(
            f"length_nm must be a number (nm), got {length_nm!r}"
        ) from None
    ny = round(length * 10 / (2 * _ROW_A)) if math.isfinite(length) else 0
    if ny < ny_min:
        raise ValueError(
            f"length_nm={length_nm!r} nm is too small: it leaves ribbons shorter than "
            f"1 nm next to a {(m * _ROW_A + CC_BOND_A) / 10:.3f} nm pore; it must "
            f"be >= {length_min_nm:.3f}"
        )
    ly = 2 * ny * _ROW_A
    n_gal = len(spacings)
    z_sheets = np.concatenate([[0.0], np.cumsum(np.array(spacings) * 10.0)])
    c = z_sheets[-1] + GRAPHENE_SPACING_AB
    # the pore cut: whole rows centred at ly / 2, cutting y-parallel bonds (at
    # integer multiples of the row height) so that both edges are zigzag
    y_lo = round((ly / 2 - m * _ROW_A / 2) / _ROW_A) * _ROW_A
    y_hi = y_lo + m * _ROW_A
    atoms = Atoms(
        cell=np.diag(np.diag(supercell_cell(_rect_matrix(nx, ny), c))), pbc=True
    )
    sheets = []
    for k, z in enumerate(z_sheets):
        wall = k in (0, n_gal)
        sheet = _sheet(nx, ny, z, shifted=(k == n_gal), tag=TAG_SHEET + k)
        if not wall:
            y = sheet.positions[:, 1]
            del sheet[np.nonzero((y > y_lo) & (y < y_hi))[0]]
        atoms += sheet
        sheets.append(
            dict(index=k, kind="wall" if wall else "ribbon", z_A=round(float(z), 4))
        )
    ribbon_tags = {TAG_SHEET + k for k in range(1, n_gal)}
    atoms, edge = _prune_and_terminate(atoms, ribbon_tags, terminate)
    edge_y = atoms.positions[edge, 1]
    lo_edge = float(edge_y[edge_y < ly / 2].max())
    hi_edge = float(edge_y[edge_y > ly / 2].min())
    tags = atoms.get_tags()
    y = atoms.positions[:, 1]
    wall_c = np.nonzero(
        np.isin(tags, [TAG_SHEET, TAG_SHEET + n_gal]) & (y > lo_edge) & (y < hi_edge)
    )[0]
    vac = _make_vacancies(atoms, list(vacancies), wall_c, seed)
    _index_vacancies(atoms, vac)
    edges = _edges_record(
        atoms, [int(e) for e in _edge_carbons(atoms, ribbon_tags)], ly / 2
    )
    depth_real = hi_edge - lo_edge
    free_depth = depth_real - (2 * CH_BOND_A if terminate else 0.0)
    width_real = float(z_sheets[-1])
    region = dict(
        kind="wedge",
        sheet_lo=0,
        sheet_hi=n_gal,
        lateral=[lo_edge, hi_edge],
        terminated=bool(terminate),
        width_nm=round(width_real / 10, 4),
        depth_nm=round(depth_real / 10, 4),
        slit_width_nm=round(width_real / 10, 4),
        lateral_free_nm=round(free_depth / 10, 4),
    )
    atoms.info.update(
        host="wedge_pore",
        width_nm=region["width_nm"],
        depth_nm=region["depth_nm"],
        requested_width_nm=float(pore_width_nm),
        requested_depth_nm=float(pore_depth_nm),
        spacings_nm=[round(s, 4) for s in spacings],
        terminated=bool(terminate),
        sheets=sheets,
        edges=edges,
        vacancies=vac,
        pores=[region],
        seed=int(seed),
        periodic_cells=nx,
        length_nm=round(ly / 10, 4),
        n_carbon=int((atoms.numbers == 6).sum()),
        n_hydrogen=int((atoms.numbers == 1).sum()),
        n_metal=0,
    )
    check_distances(atoms, what="wedge pore")
    return atoms


def _edge_carbons(atoms: Atoms, tags_allowed: set[int]) -> list[int]:
    i, _, _ = _carbon_neighbours(atoms)
    count = np.bincount(i, minlength=len(atoms))
    tags = atoms.get_tags()
    return [
        k
        for k in range(len(atoms))
        if atoms.numbers[k] == 6 and count[k] == 2 and tags[k] in tags_allowed
    ]


# --------------------------------------------------------------------------- slits
def pore_assembly(
    widths_nm: Sequence[float],
    wall_sheets: int = 2,
    size: tuple[int, int] = (4, 4),
    vacancies: Sequence[str] = (),
    seed: int = 0,
) -> Atoms:
    """Closed slit pores of the given widths stacked along z in one periodic cell.

    Parameters
    ----------
    widths_nm : sequence of float
        Width of each pore, carbon plane to carbon plane (>= 0.335 nm, the graphite
        spacing: narrower slits would squeeze the walls together).
    wall_sheets : int
        Graphene sheets per wall (AB stacked, 3.35 A apart); the pores alternate with
        walls, so each pore is bounded by two walls.
    size : (int, int)
        In-plane size in rectangular graphene cells (0.246 x 0.426 nm, 4 C each);
        ``(16, 10)`` with four pores and 2-sheet walls gives 5,120 carbons.
    vacancies : sequence of {"single", "double"}
        Vacancies in the sheets facing the first pore, placed with ``seed``.
    seed : int
        Seed of the vacancy placement.

    Returns
    -------
    ase.Atoms
        ``info["pores"]`` lists each pore region (sheet indices below/above,
        ``width_nm``); ``host="pore_assembly"``.
    """
    if isinstance(wall_sheets, bool) or not isinstance(wall_sheets, int):
        raise ValueError(f"wall_sheets must be an integer >= 1, got {wall_sheets!r}")
    if wall_sheets < 1:
        raise ValueError(f"wall_sheets must be an integer >= 1, got {wall_sheets!r}")
    widths = [
        _check_width(w, "width_nm", GRAPHENE_SPACING_AB / 10.0) for w in widths_nm
    ]
    if not widths:
        raise ValueError("widths_nm must name at least one pore")
    nx, ny = _check_size(size)
    gaps = []
    for w in widths:
        gaps += [GRAPHENE_SPACING_AB] * (wall_sheets - 1) + [w * 10.0]
    z_sheets = np.concatenate([[0.0], np.cumsum(gaps)[:-1]])
    c = float(np.sum(gaps))
    atoms = Atoms(
        cell=np.diag(np.diag(supercell_cell(_rect_matrix(nx, ny), c))), pbc=True
    )
    sheets, pores = [], []
    for k, z in enumerate(z_sheets):
        atoms += _sheet(nx, ny, z, shifted=bool(k % 2), tag=TAG_SHEET + k)
        sheets.append(dict(index=k, kind="wall", z_A=round(float(z), 4)))
    n = len(z_sheets)
    for p, w in enumerate(widths):
        lo = p * wall_sheets + wall_sheets - 1
        pores.append(
            dict(
                kind="slit",
                sheet_lo=lo,
                sheet_hi=(lo + 1) % n,
                lateral=None,
                terminated=False,
                width_nm=round(w, 6),
                slit_width_nm=round(w, 6),
            )
        )
    if len(widths) == 1 and wall_sheets == 1 and n == 1:
        pores[0]["sheet_hi"] = 0
    facing = np.nonzero(np.isin(atoms.get_tags(), [TAG_SHEET + pores[0]["sheet_lo"]]))[
        0
    ]
    vac = _make_vacancies(atoms, list(vacancies), facing, seed)
    _index_vacancies(atoms, vac)
    atoms.info.update(
        host="pore_assembly",
        widths_nm=[round(w, 6) for w in widths],
        wall_sheets=wall_sheets,
        size=[nx, ny],
        sheets=sheets,
        edges=[],
        vacancies=vac,
        pores=pores,
        seed=int(seed),
        n_carbon=int((atoms.numbers == 6).sum()),
        n_hydrogen=0,
        n_metal=0,
    )
    check_distances(atoms, what="pore assembly")
    return atoms


def closed_pore(
    width_nm: float,
    wall_sheets: int = 2,
    size: tuple[int, int] = (4, 4),
    vacancies: Sequence[str] = (),
    seed: int = 0,
) -> Atoms:
    """A closed slit pore of ``width_nm`` (carbon plane to carbon plane).

    One pore per cell between walls of ``wall_sheets`` AB-stacked sheets; see
    :func:`pore_assembly` for the parameters.  ``info["host"] = "closed_pore"``.
    The default in-plane cell (0.98 x 1.70 nm, 64 C per sheet) takes close-packed
    Na (1.3 %, 14 Na per layer) and Rb (1.2 %) planes within the 2 % strain that
    :func:`fill_pore` allows by default; Li and K need ``size=(5, 5)`` (1.1 %,
    0.2 %), Cs ``size=(8, 8)`` (1.3 %), all five ``size=(10, 10)``.
    """
    atoms = pore_assembly([width_nm], wall_sheets, size, vacancies, seed)
    atoms.info.update(host="closed_pore", width_nm=atoms.info["widths_nm"][0])
    return atoms


# --------------------------------------------------------------------------- regions
def sheet_mask(atoms: Atoms, sheet: int) -> np.ndarray:
    """Carbon atoms of sheet ``sheet`` (tag ``100 + sheet``; never metal atoms).

    The role comes from the element (:func:`~alkali_layers.geometry.metal_mask`),
    the sheet from the tag, so a metal atom whose tag happens to fall in the sheet
    range is not taken for carbon.
    """
    return (atoms.get_tags() == TAG_SHEET + sheet) & ~metal_mask(atoms)


def _sheet_z(atoms: Atoms, sheet: int) -> float:
    z = atoms.positions[sheet_mask(atoms, sheet), 2]
    if not len(z):
        raise ValueError(f"the model has no sheet {sheet}")
    return float(z.mean())


def _pore_region(atoms: Atoms, pore_index: int = 0) -> dict:
    pores = atoms.info.get("pores")
    if not pores:
        raise ValueError(
            "not a pore model (no info['pores']); build it with wedge_pore, "
            "closed_pore or pore_assembly"
        )
    if not isinstance(pore_index, int) or not 0 <= pore_index < len(pores):
        raise ValueError(
            f"pore_index must be 0-{len(pores) - 1} for this model, got {pore_index!r}"
        )
    return dict(pores[pore_index])


def pore_bounds_A(atoms: Atoms, pore_index: int = 0) -> dict:
    """Current bounds of a pore (A): carbon planes below/above and lateral edges.

    Returns ``{"z_lo", "z_hi", "lateral": (y_lo, y_hi) or None, "terminated"}`` with
    ``z_hi > z_lo`` (the plane above may be a periodic image).  Computed from the
    current positions, so it follows relaxation.
    """
    region = _pore_region(atoms, pore_index)
    z_lo = _sheet_z(atoms, region["sheet_lo"])
    z_hi = _sheet_z(atoms, region["sheet_hi"])
    if z_hi <= z_lo:
        z_hi += float(atoms.cell[2, 2])
    lateral = None
    if region.get("lateral") is not None:
        lo_c, hi_c = [], []
        for edge in atoms.info.get("edges", []):
            ys = atoms.positions[edge["carbons"], 1]
            (lo_c if edge["side"] == "lo" else hi_c).extend(ys.tolist())
        lateral = (max(lo_c), min(hi_c)) if lo_c and hi_c else tuple(region["lateral"])
    return dict(
        z_lo=z_lo,
        z_hi=z_hi,
        lateral=lateral,
        terminated=bool(region.get("terminated", False)),
    )


# --------------------------------------------------------------------------- filling
@dataclass(frozen=True)
class PlaneStrain:
    """In-plane strain of the metal planes that fill a pore (fractions, signed).

    Attributes
    ----------
    x, y : float
        Change of the metal-metal spacing along the cell's x axis (zigzag; along the
        rows of a wedge-pore layer) and y axis (armchair; across the rows).
    principal : tuple of float
        Principal strains (singular values of the map from the bulk plane, minus
        one); every in-plane direction lies between them, shear included.
    rows : int or None
        Rows per layer in a wedge pore (None for a periodic plane).
    per_row : int or None
        Atoms per row in a wedge pore (None for a periodic plane).
    """

    x: float
    y: float
    principal: tuple[float, float]
    rows: int | None = None
    per_row: int | None = None

    @property
    def max(self) -> float:
        """Largest strain magnitude over all in-plane directions."""
        return max(abs(p) for p in self.principal)

    def info(self) -> dict:
        """The ``atoms.info`` entries (percent, 3 decimals)."""
        out = dict(
            metal_strain_pct=round(100 * self.max, 3),
            metal_strain_x_pct=round(100 * self.x, 3),
            metal_strain_y_pct=round(100 * self.y, 3),
            metal_strain_principal_pct=[round(100 * p, 3) for p in self.principal],
        )
        if self.rows is not None:
            out.update(metal_rows=self.rows, metal_atoms_per_row=self.per_row)
        return out


def _plane_basis(nn: float) -> np.ndarray:
    return nn * np.array([[1.0, 0.0], [0.5, math.sqrt(3.0) / 2.0]])


def _plane_fit(
    lengths_xy: np.ndarray, nn: float, tol: float
) -> tuple[tuple, np.ndarray, np.ndarray] | None:
    """Least-strained supercell ``(U, V)`` of a close-packed plane for the cell.

    Only lattice vectors within ``tol`` of the cell lengths are tried.  Returns
    ``(key, matrix, f)`` with ``key = (strain, det, U, V)`` (strain rounded to 1e-6;
    ties go to fewer atoms) and ``f`` the map from the bulk plane onto the cell
    (row vectors: ``x_cell = x_bulk @ f``), or None if no pair qualifies.
    """
    basis = _plane_basis(nn)
    limit = int(max(lengths_xy) / nn * 1.2) + 2
    grid = np.array(
        [(p, q) for p in range(-limit, limit + 1) for q in range(-limit, limit + 1)]
    )
    length = np.linalg.norm(grid @ basis, axis=1)
    target = np.diag(lengths_xy)
    cand_u = grid[np.abs(length / lengths_xy[0] - 1) <= tol]
    cand_v = grid[np.abs(length / lengths_xy[1] - 1) <= tol]
    best = None
    for u in cand_u:
        matrix = np.empty((len(cand_v), 2, 2), dtype=grid.dtype)
        matrix[:, 0], matrix[:, 1] = u, cand_v
        det = np.rint(np.linalg.det(matrix)).astype(int)
        ok = det > 0
        if not ok.any():
            continue
        matrix, det = matrix[ok], det[ok]
        f = np.linalg.solve(matrix @ basis, np.broadcast_to(target, matrix.shape))
        sv = np.linalg.svd(f, compute_uv=False)
        strain = np.round(np.max(np.abs(sv - 1), axis=1), 6)
        k = np.lexsort((matrix[:, 1, 1], matrix[:, 1, 0], det, strain))[0]
        key = (float(strain[k]), int(det[k]), tuple(u), tuple(matrix[k, 1]))
        if best is None or key < best[0]:
            best = (key, matrix[k], f[k])
    return best


def _plane_lattice(
    lengths_xy: np.ndarray, nn: float, max_strain: float = 0.15
) -> tuple[np.ndarray, PlaneStrain, np.ndarray]:
    """Close-packed plane fitted to a periodic rectangular cell.

    Searches supercells ``(U, V)`` of the triangular lattice of spacing ``nn`` whose
    lengths are within ``max_strain`` of the cell lengths (then within 50 %) and
    maps them onto the cell (rotation allowed); the strain is the largest deviation
    of the singular values of that map from 1 (it includes shear).  Ties go to
    fewer atoms.  The strain is not bounded here (see :func:`fill_pore`).

    Returns
    -------
    (points, strain, plane_basis)
        Points of one plane (A), the :class:`PlaneStrain`, and the mapped primitive
        vectors of the plane (rows, A; for stacking shifts).
    """
    best = None
    for tol in (max_strain, 0.5):
        best = _plane_fit(lengths_xy, nn, tol)
        if best is not None:
            break
    if best is None:
        raise ValueError(
            f"the cell ({lengths_xy[0]:.2f} x {lengths_xy[1]:.2f} A) is too small for "
            f"a metal plane of spacing {nn:.2f} A"
        )
    _key, matrix, f = best
    basis = _plane_basis(nn)
    points = integer_points_in_supercell(matrix) @ basis @ f
    return np.mod(points, lengths_xy), _map_strain(f), basis @ f


def _map_strain(f: np.ndarray) -> PlaneStrain:
    """:class:`PlaneStrain` of the map ``x_cell = x_bulk @ f``."""
    sv = np.linalg.svd(f, compute_uv=False)
    inverse = np.linalg.inv(f)
    # a bulk segment that ends up along axis i had the direction of row i of f^-1
    along = 1.0 / np.linalg.norm(inverse, axis=1) - 1.0
    return PlaneStrain(
        x=float(along[0]),
        y=float(along[1]),
        principal=(float(sv[0] - 1.0), float(sv[1] - 1.0)),
    )


def _layer_shift(k: int, packing: str, plane_basis: np.ndarray) -> np.ndarray:
    """In-plane shift (A) of close-packed layer ``k`` (ABC for fcc, AB for hcp)."""
    period = 3 if packing == "fcc" else 2
    return (k % period) * plane_basis.sum(axis=0) / 3.0


def _row_spacing(nn: float) -> float:
    """Spacing of close-packed rows (A): ``sqrt(3) / 2`` x the nearest neighbours."""
    return nn * math.sqrt(3.0) / 2.0


def _lattice_layers(
    atoms: Atoms, metal: str, pore_index: int, packing: str, n_layers: int, mode: str
) -> tuple[list[np.ndarray], PlaneStrain]:
    """Positions of each metal layer that fills the pore (before picking n_atoms).

    In a closed pore the layers are the least-strained close-packed planes that are
    periodic in the cell.  In a wedge pore each layer is a set of rows along x
    between the edge surfaces: ``round(L_x / nn)`` atoms per row (the only strain,
    along the rows) and rows at the bulk row spacing, centred between the edges
    (as many as fit at the metal-carbon contact distance from them).  The strain is
    returned, never bounded here: :func:`fill_pore` bounds it, the site search
    (:mod:`alkali_layers.builders.sites`) only takes starting positions from it.
    """
    data = metal_data(metal)
    bounds = pore_bounds_A(atoms, pore_index)
    contact = data.metal_carbon_distance_A
    spacing = data.layer_spacing_A(packing)
    nn = data.close_packed_nn_A
    z_lo, z_hi = bounds["z_lo"], bounds["z_hi"]
    if mode == "plate":
        zs = [z_lo + contact + k * spacing for k in range(n_layers)]
    else:  # sandwich and cluster: first and last layer touch both walls
        top = z_hi - contact
        bottom = z_lo + contact
        zs = (
            [0.5 * (z_lo + z_hi)]
            if n_layers == 1
            else list(np.linspace(bottom, top, n_layers))
        )
    lengths = np.diag(atoms.cell.array)[:2]
    if bounds["lateral"] is None:
        plane, strain, plane_basis = _plane_lattice(lengths, nn)
    else:
        y_lo, y_hi = bounds["lateral"]
        clear = contact + (CH_BOND_A if bounds["terminated"] else 0.0)
        lo, hi = y_lo + clear, y_hi - clear
        if hi < lo:
            lo = hi = 0.5 * (y_lo + y_hi)
        row = _row_spacing(nn)
        rows = max(1, int(math.floor((hi - lo) / row)) + 1)
        ys = 0.5 * (lo + hi) + (np.arange(rows) - 0.5 * (rows - 1)) * row
        n_x = max(1, round(lengths[0] / nn))
        along = lengths[0] / n_x / nn - 1.0
        strain = PlaneStrain(
            x=along, y=0.0, principal=(along, 0.0), rows=rows, per_row=n_x
        )
    layers = []
    for k, z in enumerate(zs):
        if bounds["lateral"] is None:
            xy = np.mod(plane + _layer_shift(k, packing, plane_basis), lengths)
        else:
            xs = (np.arange(n_x) + 0.5 * (k % 2)) * lengths[0] / n_x
            xy = np.array(
                [
                    (x + 0.5 * (r % 2) * lengths[0] / n_x, yy)
                    for r, yy in enumerate(ys)
                    for x in xs
                ]
            )
            xy[:, 0] = np.mod(xy[:, 0], lengths[0])
        layers.append(np.column_stack([xy, np.full(len(xy), z)]))
    return layers, strain


def _check_max_strain(max_strain) -> float:
    try:
        value = float(max_strain)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(max_strain, bool) or not 0 < value < 0.5:
        raise ValueError(
            f"max_strain must be a fraction in (0, 0.5), got {max_strain!r}"
        )
    return value


def _fits_periodic(
    lengths_xy: np.ndarray, nn: float, max_strain: float
) -> float | None:
    """Strain of the least-strained plane if it is <= ``max_strain``, else None."""
    # the supercell holds det atoms: det * area_per_atom = cell area / (s1 s2)
    det_ideal = lengths_xy[0] * lengths_xy[1] / (math.sqrt(3.0) / 2.0 * nn**2)
    lo = math.ceil(det_ideal / (1 + max_strain) ** 2 - 1e-9)
    if lo > det_ideal / (1 - max_strain) ** 2 + 1e-9:
        return None
    best = _plane_fit(lengths_xy, nn, max_strain / (1 - max_strain) + 1e-6)
    if best is None or best[0][0] > max_strain + 1e-9:
        return None
    return best[0][0]


def _periodic_size_hint(
    lengths_xy: np.ndarray, nn: float, max_strain: float
) -> tuple[tuple[int, int], float] | None:
    """Smallest ``size`` (rectangular graphene cells) >= the current one that fits."""
    per_cell = np.array([GRAPHENE_A, 2 * _ROW_A])
    nx, ny = (max(1, round(v)) for v in lengths_xy / per_cell)
    scale = lengths_xy / (np.array([nx, ny]) * per_cell)  # relaxed cells
    sizes = [
        (a, b)
        for a in range(nx, nx + 25)
        for b in range(ny, ny + 15)
        if (a, b) != (nx, ny)
    ]
    sizes.sort(
        key=lambda t: (t[0] * t[1], abs(t[0] * per_cell[0] - t[1] * per_cell[1]))
    )
    for a, b in sizes:
        strain = _fits_periodic(np.array([a, b]) * per_cell * scale, nn, max_strain)
        if strain is not None:
            return (a, b), strain
    return None


def _row_size_hint(
    length_x: float, nn: float, max_strain: float
) -> tuple[int, int, float] | None:
    """Smallest period (graphene cells along x) >= the current one for the rows."""
    cells = max(1, round(length_x / GRAPHENE_A))
    per_cell = length_x / cells
    for c in range(cells, cells + 200):
        n = max(1, round(c * per_cell / nn))
        strain = c * per_cell / n / nn - 1.0
        if abs(strain) <= max_strain + 1e-9:
            return c, n, strain
    return None


def _strain_error(
    pore: Atoms, metal: str, strain: PlaneStrain, max_strain: float
) -> ValueError:
    """The ``ValueError`` of a too-strained filling, saying which size would fit."""
    nn = metal_data(metal).close_packed_nn_A
    lengths = np.diag(pore.cell.array)[:2]
    head = (
        f"{metal} planes would be strained by {100 * strain.max:.2f} % in this pore "
        f"(along x {100 * strain.x:+.2f} %, along y {100 * strain.y:+.2f} %), more "
        f"than max_strain = {100 * max_strain:.2f} %"
    )
    tail = "; or pass a larger max_strain"
    if strain.rows is not None:
        hint = _row_size_hint(float(lengths[0]), nn, max_strain)
        head += (
            f": {strain.per_row} atom(s) per {lengths[0]:.3f} A row along x "
            f"(bulk spacing {nn:.3f} A)"
        )
        if hint is None:
            return ValueError(head + tail.replace("; or", "; "))
        cells, n, s = hint
        return ValueError(
            f"{head}. A period of {cells} graphene cells along x takes {n} atoms per "
            f"row at {100 * s:+.2f} %: wedge_pore(periodic_cells={cells}){tail}"
        )
    host = pore.info.get("host")
    maker = host if host in ("closed_pore", "pore_assembly") else "the builder"
    head += f" (cell {lengths[0] / 10:.3f} x {lengths[1] / 10:.3f} nm)"
    hint = _periodic_size_hint(lengths, nn, max_strain)
    if hint is None:
        return ValueError(f"{head}: no nearby in-plane size fits{tail}")
    (a, b), s = hint
    return ValueError(
        f"{head}. The smallest in-plane size that fits is size=({a}, {b}) "
        f"({100 * s:.2f} %): {maker}(..., size=({a}, {b})){tail}"
    )


def fill_pore(
    pore: Atoms,
    metal: str,
    n_layers: int | None = None,
    n_atoms: int | None = None,
    mode: str = "plate",
    packing: str = "fcc",
    pore_index: int = 0,
    max_strain: float = DEFAULT_MAX_STRAIN,
) -> Atoms:
    """A copy of ``pore`` with metal in one of its pores.

    Parameters
    ----------
    pore : ase.Atoms
        A model from :func:`wedge_pore`, :func:`closed_pore` or :func:`pore_assembly`
        (its existing metal, if any, is kept).
    metal : str
        Li, Na, K, Rb or Cs.
    n_layers : int, optional
        Close-packed layers parallel to the walls; default all that fit
        (:func:`max_layers`).  More than fit raises ``ValueError`` saying how many
        fit and what width the requested number needs.
    n_atoms : int, optional
        Take only this many atoms of the ``n_layers`` layers (default all), chosen
        by ``mode``.
    mode : {"cluster", "plate", "sandwich"}
        ``plate``: layers grow from the lower wall at the bulk layer spacing, layer by
        layer (a partial layer is a compact island); ``sandwich``: the outer layers
        touch both walls and the atoms are taken alternately from the two wall layers
        inwards; ``cluster``: layers span the pore as in ``sandwich`` and the
        ``n_atoms`` closest to the pore centre (a compact cluster) are taken.
    packing : {"fcc", "hcp"}
        Stacking of the layers (ABC or AB).
    pore_index : int
        Which pore of a multi-pore model.
    max_strain : float
        Largest in-plane strain (fraction) of the metal planes in any direction:
        along and across the rows, shear included (the largest principal strain).
        The default is the bilayer builders' 2 %.  A cell that needs more raises
        ``ValueError`` naming the in-plane ``size`` (closed pores, assemblies) or
        the ``periodic_cells`` and atoms per row (wedge pores) that fit.

    Returns
    -------
    ase.Atoms
        Metal tags ``11 + layer``; ``info`` gains metal, mode, n_layers,
        ``n_metal``, ``metal_max_strain_pct`` (the bound) and the in-plane strain
        of the metal planes (signed, %): ``metal_strain_pct`` (largest magnitude
        over all directions), ``metal_strain_x_pct`` (along x, the rows of a wedge
        pore), ``metal_strain_y_pct`` (along y, across the rows) and
        ``metal_strain_principal_pct``; wedge pores add ``metal_rows`` and
        ``metal_atoms_per_row``.
    """
    check_metal(metal)
    if mode not in FILL_MODES:
        raise ValueError(f"unknown mode {mode!r}; allowed: {', '.join(FILL_MODES)}")
    if packing not in ("fcc", "hcp"):
        raise ValueError(f"unknown packing {packing!r}; allowed: fcc, hcp")
    max_strain = _check_max_strain(max_strain)
    fit = max_layers(pore, metal, packing, pore_index)
    if n_layers is None:
        n_layers = max(fit, 1)
    if isinstance(n_layers, bool) or not isinstance(n_layers, int) or n_layers < 1:
        raise ValueError(f"n_layers must be an integer >= 1, got {n_layers!r}")
    if n_layers > fit:
        width = pore_slit_width_nm(pore, pore_index)
        if fit == 0 and layers_in_width(width, metal, packing) > 0:
            raise ValueError(
                f"no {metal} layer fits between the edge surfaces of this pore "
                f"(free depth {_pore_region(pore, pore_index)['lateral_free_nm']:.3f} "
                "nm; one "
                f"layer needs {layers_width_nm(1, metal, packing):.3f} nm)"
            )
        check_layers_fit(width, metal, n_layers, packing)
    layers, strain = _lattice_layers(pore, metal, pore_index, packing, n_layers, mode)
    if strain.max > max_strain + 1e-9:
        raise _strain_error(pore, metal, strain, max_strain)
    points = np.vstack(layers)
    layer_of = np.concatenate([np.full(len(p), k) for k, p in enumerate(layers)])
    total = len(points)
    if n_atoms is None:
        n_atoms = total
    if isinstance(n_atoms, bool) or not isinstance(n_atoms, int) or n_atoms < 1:
        raise ValueError(f"n_atoms must be an integer >= 1, got {n_atoms!r}")
    if n_atoms > total:
        raise ValueError(
            f"n_atoms={n_atoms} exceeds the {total} sites of {n_layers} {metal} "
            f"layer(s) in this pore"
        )
    order = _fill_order(points, layer_of, n_layers, mode, pore)
    chosen = order[:n_atoms]
    out = pore.copy()
    metal_atoms = Atoms(
        f"{metal}{n_atoms}",
        positions=points[chosen],
        tags=TAG_METAL_FIRST_LAYER + layer_of[chosen],
    )
    out += metal_atoms
    out.wrap()
    out.info.update(
        metal=metal,
        mode=mode,
        packing=packing,
        n_layers=int(n_layers),
        n_metal=int(metal_mask(out).sum()),
        pore_index=int(pore_index),
        metal_max_strain_pct=round(100 * max_strain, 3),
        **strain.info(),
    )
    check_distances(out, what=f"{metal} in pore")
    return out


def _fill_order(
    points: np.ndarray, layer_of: np.ndarray, n_layers: int, mode: str, atoms: Atoms
) -> np.ndarray:
    """Order in which the lattice points are taken for ``n_atoms < all``."""
    lengths = np.diag(atoms.cell.array)
    centre = points.mean(axis=0)
    d = points - centre
    d[:, :2] -= lengths[:2] * np.round(d[:, :2] / lengths[:2])
    r_inplane = np.round(np.linalg.norm(d[:, :2], axis=1), 6)
    index = np.arange(len(points))
    if mode == "cluster":
        return np.lexsort((index, np.round(np.linalg.norm(d, axis=1), 6)))
    # rank of each point inside its own layer (compact island around the centre)
    in_layer = np.empty(len(points), dtype=int)
    for k in range(n_layers):
        sel = np.nonzero(layer_of == k)[0]
        in_layer[sel[np.lexsort((sel, r_inplane[sel]))]] = np.arange(len(sel))
    if mode == "plate":
        return np.lexsort((index, in_layer, layer_of))
    # sandwich: the two wall layers first, atoms alternating between them, then the
    # next pair inwards
    group = np.minimum(layer_of, n_layers - 1 - layer_of)
    return np.lexsort((index, layer_of, in_layer, group))
