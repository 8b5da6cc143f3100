"""Metal intercalated between graphene sheets: bilayer graphene and stage-1 graphite.

Both builders return new ``ase.Atoms`` with tags (bottom sheet 1, top sheet 2, metal
layer k -> 11 + k) and their metadata in ``atoms.info``.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
from ase import Atoms

from ..elements import (
    check_metal,
    check_n_layers,
    check_packing,
    check_stacking,
    metal_data,
)
from ..geometry import TAG_BOTTOM_SHEET, TAG_METAL_FIRST_LAYER, check_distances
from .graphene import (
    carbon_sheets,
    graphene_lattice,
    graphene_sheet_xy,
    lattice_sites,
    pristine_spacing,
    supercell_cell,
)
from .layers import metal_plane_lattice, stacking_shifts
from .matching import CoincidenceCell, best_coincidence_cell

#: In-plane superstructures of a single commensurate metal layer.
SINGLE_LAYER_CELLS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "sqrt3": ((1, 1), (-1, 2)),  # sqrt3 x sqrt3 R30: one metal per 6 C per sheet (MC6)
    "2x2": ((2, 0), (0, 2)),  # 2 x 2: one metal per 8 C per sheet (MC8)
}
_SINGLE_LAYER_NAMES = {"sqrt3": 6, "2x2": 8}

DEFAULT_MAX_STRAIN = 0.02
DEFAULT_MAX_HOST_CELLS = 40
DEFAULT_VACUUM_A = 7.5


@lru_cache(maxsize=64)
def metal_coincidence_cell(
    metal: str,
    packing: str = "fcc",
    max_strain: float = DEFAULT_MAX_STRAIN,
    max_host_cells: int = DEFAULT_MAX_HOST_CELLS,
) -> CoincidenceCell:
    """Smallest graphene/metal-plane coincidence cell for ``metal`` planes.

    The metal planes are at the metal's bulk-volume geometry (see
    :mod:`alkali_layers.builders.layers`); the strain needed to make them
    commensurate with graphene (a = 2.46 A) goes to the metal and is at most
    ``max_strain`` (fraction) along either principal direction.
    """
    check_metal(metal)
    check_packing(packing)
    if not 0 < max_strain < 0.5:
        raise ValueError(
            f"max_strain must be a fraction in (0, 0.5), got {max_strain!r}"
        )
    return best_coincidence_cell(
        graphene_lattice(),
        metal_plane_lattice(metal, packing),
        max_strain,
        max_host_cells,
    )


def _metal_layers_xy(cell: CoincidenceCell, metal: str, packing: str, n_layers: int):
    """Positions (A) of each metal plane, mapped onto the graphene supercell."""
    guest = metal_plane_lattice(metal, packing)
    t = cell.guest_map(guest, graphene_lattice())
    layers = []
    for shift in stacking_shifts(packing, n_layers):
        xy = lattice_sites(guest, np.array(cell.guest_matrix), shift[None, :])
        layers.append(xy @ t)
    return layers


def _validated_gallery(gallery_height_A, minimum_A: float) -> float | None:
    if gallery_height_A is None:
        return None
    h = float(gallery_height_A)
    if not np.isfinite(h) or h < minimum_A:
        raise ValueError(
            f"gallery_height_A={gallery_height_A!r} is too small: the layers need at "
            f"least {minimum_A:.2f} A"
        )
    return h


def bilayer_graphene(
    metal: str | None = None,
    n_layers: int = 0,
    stacking: str = "AA",
    packing: str = "fcc",
    max_strain: float = DEFAULT_MAX_STRAIN,
    single_layer: str = "sqrt3",
    gallery_height_A: float | None = None,
    vacuum: float = DEFAULT_VACUUM_A,
    max_host_cells: int = DEFAULT_MAX_HOST_CELLS,
    supercell=None,
) -> Atoms:
    """Bilayer graphene holding ``n_layers`` (0-4) planes of an alkali metal.

    Parameters
    ----------
    metal : str
        Li, Na, K, Rb or Cs (ignored, and may be None, for ``n_layers=0``).
    n_layers : int
        0 (pristine bilayer), 1 (one commensurate layer, see ``single_layer``) or 2-4
        close-packed / bcc(110) planes at the metal's bulk nearest-neighbour distance.
    stacking : {"AA", "AB"}
        Stacking of the two graphene sheets.
    packing : {"fcc", "hcp", "bcc"}
        Stacking of the metal planes for ``n_layers >= 2``: fcc = ABC close-packed,
        hcp = AB close-packed, bcc = bcc(110) planes.
    max_strain : float
        Largest principal strain (fraction) applied to the metal planes to make them
        commensurate with graphene (graphene itself is never strained).
    single_layer : {"sqrt3", "2x2"}
        Superstructure of one layer: sqrt3 x sqrt3 R30 (C6MC6, the default) or 2x2
        (C8MC8).
    gallery_height_A : float, optional
        Carbon-plane to carbon-plane distance; default from the element table
        (stage-1 GIC interlayer distance plus one metal layer spacing per extra
        layer), or the pristine spacing (AB 3.35, AA 3.60 A) for ``n_layers=0``.
    vacuum : float
        Vacuum (A) on each side of the bilayer along z (the cell is periodic in all
        three directions; images are ``2 * vacuum`` apart).
    max_host_cells : int
        Largest graphene supercell (in primitive cells) searched for the
        coincidence cell.
    supercell : 2x2 int array, optional
        Only for ``n_layers=0``: build the pristine bilayer in this supercell of the
        graphene primitive cell (default: the primitive cell, 4 atoms).

    Returns
    -------
    ase.Atoms
        Tags: bottom sheet 1, top sheet 2, metal layer k (0-based) 11 + k.  ``info``
        holds host, metal, n_layers, stacking, packing, supercell (graphene
        supercell matrix), metal_supercell, metal_rotation_deg, metal_strain_pct
        (largest principal strain, %), metal_principal_strains_pct,
        gallery_height_A (initial), n_carbon and n_metal.

    Raises
    ------
    ValueError
        Unknown metal/stacking/packing/single_layer, n_layers outside 0-4, a strain
        tolerance that no supercell meets, or a gallery too small for the layers.
    """
    check_n_layers(n_layers)
    check_stacking(stacking)
    check_packing(packing)
    if n_layers > 0:
        check_metal(metal)
    if single_layer not in SINGLE_LAYER_CELLS:
        raise ValueError(
            f"unknown single_layer {single_layer!r}; allowed: "
            f"{', '.join(SINGLE_LAYER_CELLS)}"
        )
    if supercell is not None and n_layers != 0:
        raise ValueError("supercell= is only for the pristine bilayer (n_layers=0)")
    if not vacuum > 0:
        raise ValueError(f"vacuum must be positive, got {vacuum!r}")

    info: dict = dict(
        host="bilayer_graphene",
        metal=metal if n_layers > 0 else "",
        n_layers=n_layers,
        stacking=stacking,
        packing=packing if n_layers >= 2 else "",
    )
    metal_xy: list[np.ndarray] = []
    spacing = 0.0
    if n_layers == 0:
        matrix = (
            np.eye(2, dtype=int) if supercell is None else np.asarray(supercell, int)
        )
        if matrix.shape != (2, 2) or round(np.linalg.det(matrix)) < 1:
            raise ValueError(
                f"supercell must be a 2x2 integer matrix, det > 0; got {supercell!r}"
            )
        height = _validated_gallery(gallery_height_A, 2.5) or pristine_spacing(stacking)
        strain = (0.0, 0.0)
    elif n_layers == 1:
        matrix = np.array(SINGLE_LAYER_CELLS[single_layer])
        metal_xy = [np.zeros((1, 2))]  # hollow site of the bottom sheet
        data = metal_data(metal)
        height = _validated_gallery(gallery_height_A, 2 * data.covalent_radius_A) or (
            data.gic_interlayer_A
        )
        info.update(single_layer=single_layer, metal_supercell=[[1, 0], [0, 1]])
        strain = (0.0, 0.0)
    else:
        data = metal_data(metal)
        cell = metal_coincidence_cell(metal, packing, max_strain, max_host_cells)
        matrix = np.array(cell.host_matrix)
        metal_xy = _metal_layers_xy(cell, metal, packing, n_layers)
        spacing = data.layer_spacing_A(packing)
        minimum = (n_layers - 1) * spacing * 0.8 + 2 * data.covalent_radius_A
        height = _validated_gallery(gallery_height_A, minimum) or data.gallery_height_A(
            n_layers, packing
        )
        strain = cell.principal_strains
        info.update(
            metal_supercell=[list(r) for r in cell.guest_matrix],
            metal_rotation_deg=round(cell.rotation_deg, 4),
        )

    atoms = carbon_sheets(matrix, stacking, 0.0, height)
    if metal_xy:
        # metal planes centred in the gallery, spaced by the metal layer spacing
        z0 = 0.5 * (height - (n_layers - 1) * spacing)
        for k, xy in enumerate(metal_xy):
            z = np.full(len(xy), z0 + k * spacing)
            layer = Atoms(f"{metal}{len(xy)}", positions=np.column_stack([xy, z]))
            layer.set_tags(TAG_METAL_FIRST_LAYER + k)
            atoms += layer
    atoms.cell = supercell_cell(matrix, height + 2 * vacuum)
    atoms.pbc = True
    atoms.positions[:, 2] += vacuum
    atoms.wrap()
    n_metal = len(atoms) - int(np.sum(atoms.numbers == 6))
    info.update(
        supercell=matrix.tolist(),
        metal_strain_pct=round(100 * max(abs(s) for s in strain), 4),
        metal_principal_strains_pct=[round(100 * s, 4) for s in strain],
        gallery_height_A=round(height, 4),
        vacuum_A=vacuum,
        n_carbon=int(np.sum(atoms.numbers == 6)),
        n_metal=n_metal,
    )
    atoms.info.update(info)
    check_distances(atoms, what="the built model")
    return atoms


_STOICHIOMETRY = re.compile(r"^([A-Z][a-z]?)C(\d+)$")


def graphite_intercalation(metal: str, stoichiometry: str | None = None) -> Atoms:
    """Stage-1 graphite intercalation compound MC6 or MC8, simple AA stacking.

    One graphene sheet and one metal atom per cell, metal above the hexagon centre
    (an AA / alpha-alpha stacked model, not the experimental A-alpha-A-beta sequence
    of KC8), c = the stage-1 interlayer distance of the element table.

    Parameters
    ----------
    metal : str
        Li, Na, K, Rb or Cs.
    stoichiometry : str, optional
        "MC6" (sqrt3 x sqrt3 R30) or "MC8" (2x2) written with the metal, e.g.
        "LiC6", "NaC6", "NaC8", "KC8", "RbC8", "CsC8".  Default: LiC6 for Li, NaC6
        for Na, MC8 for K, Rb and Cs.
    """
    check_metal(metal)
    if stoichiometry is None:
        stoichiometry = f"{metal}C6" if metal in ("Li", "Na") else f"{metal}C8"
    match = _STOICHIOMETRY.match(str(stoichiometry))
    allowed = ", ".join(f"{metal}C{n}" for n in _SINGLE_LAYER_NAMES.values())
    if not match or match.group(1) != metal or int(match.group(2)) not in (6, 8):
        raise ValueError(
            f"unknown stage-1 stoichiometry {stoichiometry!r} for {metal}; "
            f"allowed: {allowed}"
        )
    n_c = int(match.group(2))
    single_layer = "sqrt3" if n_c == 6 else "2x2"
    matrix = np.array(SINGLE_LAYER_CELLS[single_layer])
    data = metal_data(metal)
    c = data.gic_interlayer_A
    xy = graphene_sheet_xy(matrix)
    atoms = Atoms(f"C{len(xy)}", positions=np.column_stack([xy, np.zeros(len(xy))]))
    atoms.set_tags([TAG_BOTTOM_SHEET] * len(xy))
    m = Atoms(metal, positions=[[0.0, 0.0, c / 2]])
    m.set_tags([TAG_METAL_FIRST_LAYER])
    atoms += m
    atoms.cell = supercell_cell(matrix, c)
    atoms.pbc = True
    atoms.info.update(
        host="graphite",
        metal=metal,
        n_layers=1,
        stacking="AA",
        stoichiometry=stoichiometry,
        single_layer=single_layer,
        supercell=matrix.tolist(),
        metal_strain_pct=0.0,
        gallery_height_A=c,
        n_carbon=len(xy),
        n_metal=1,
    )
    check_distances(atoms, what="the built model")
    return atoms


def pristine_host(atoms: Atoms) -> Atoms:
    """The primitive pristine host whose energy per carbon is the reference of a model.

    * bilayer graphene with any metal content -> the pristine bilayer with the same
      sheet stacking in the graphene primitive cell (4 C);
    * graphite / stage-1 GIC -> graphite with the same stacking (AA: 1 sheet per
      cell; AB: 2 sheets).

    A perfect periodic host's energy is extensive, so ``E(host in supercell) =
    n_carbon * E(primitive) / 4`` (checked in the tests); relaxing the 4-atom cell
    once replaces relaxing the pristine host in every model's supercell.
    """
    from .graphene import graphite

    host = atoms.info.get("host")
    stacking = atoms.info.get("stacking", "AA")
    if host == "bilayer_graphene":
        return bilayer_graphene(
            None, 0, stacking, vacuum=atoms.info.get("vacuum_A", DEFAULT_VACUUM_A)
        )
    if host == "graphite":
        return graphite(stacking)
    raise ValueError(
        f"no pristine host known for host={host!r}; allowed: bilayer_graphene, graphite"
    )
