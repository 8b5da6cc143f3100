"""Endpoints of the standard migration pathways of the alkali-carbon literature.

Every builder returns ``(initial, final)``: two ``ase.Atoms`` with the same atoms in
the same order and the same cell, differing by one hop of one metal atom
(``info["hop_atom"]``), ready for :func:`alkali_layers.calculators.barriers.barrier`.
Both carry ``info`` with ``pathway``, ``metal``, ``spacing_A`` (the graphite
gallery spacing, carbon plane to carbon plane, for ``gallery_hop``; None for the
others), ``hop_atom``, ``hop_length_A`` (straight-line length of the hop, A),
``neb_fixed`` (indices held fixed in the band) and the host metadata of the builder
they come from.  The endpoints are unrelaxed: the barrier relaxes them.

Pathways (docs/science.md, "Barriers and diffusion")
----------------------------------------------------
``graphene_hop``
    Adatom on one graphene sheet (3x3 cell, 18 C), hollow -> neighbouring hollow
    over the C-C bridge (hop 2.46 A).
``gallery_hop``
    One metal atom in an AA graphite gallery of fixed interlayer ``spacing_A``
    (3x3 in-plane, one gallery per cell, 18 C), hollow -> hollow over the bridges
    of both sheets (expanded-graphite channels, 3.4-6.8 A; 3.74 A ~ C6LiC6,
    6.79 A ~ C2LiC2).
``bilayer_vacancy_hop``
    AA bilayer graphene holding one sqrt3 x sqrt3 R30 metal layer (C6MC6), 2x2
    repeat (48 C, 4 sites) with one metal vacancy; a neighbour hops into it
    (hop sqrt(3) a = 4.26 A).
``multilayer_vacancy_hop``
    Two close-packed (fcc) metal layers in AA bilayer graphene on the smallest
    coincidence cell with at most 5 % metal strain (reported in ``info``), repeated
    in-plane (smallest repeat) until each layer holds at least 4 atoms; one vacancy
    in the first metal layer, a nearest neighbour of the same layer hops into it.
``bulk_vacancy_hop``
    bcc metal, 2x2x2 conventional cells (16 sites, experimental lattice constant)
    with one vacancy; a nearest neighbour hops along <111> (hop sqrt(3) a / 2).
``interface_vacancy_hop``
    The metal/graphene interface: one graphene sheet on a two-layer metal slab (the
    ``multilayer_vacancy_hop`` cell with its top sheet removed, vacuum above the
    metal); a vacancy in the metal layer facing carbon and a neighbour of that
    layer hopping into it; the outer metal layer is held fixed (bulk side).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.geometry import find_mic

from ..elements import check_metal, metal_data
from ..geometry import (
    DEFAULT_MIN_RATIO,
    TAG_BOTTOM_SHEET,
    TAG_METAL_FIRST_LAYER,
    TAG_TOP_SHEET,
    closest_pair,
    first_extreme,
    metal_mask,
)
from .graphene import graphene_lattice, graphene_sheet_xy, graphite, supercell_cell
from .intercalation import bilayer_graphene
from .layers import bulk_metal

#: gallery spacings (A) of the expanded-graphite scan: graphite, C6LiC6-like,
#: intermediate, and C2LiC2-like (docs/science.md, "Barriers and diffusion")
GALLERY_SPACINGS_A: tuple[float, ...] = (3.4, 3.74, 4.5, 5.5, 6.79)
#: in-plane graphene supercell of the adatom and gallery hops
HOP_SUPERCELL = 3
#: vacuum (A) on each side of slabs
PATHWAY_VACUUM_A = 7.5
#: largest metal strain accepted for the metal multilayer cells (keeps them small)
MULTILAYER_MAX_STRAIN = 0.05
#: fewest metal atoms per layer before a vacancy is made
MIN_ATOMS_PER_LAYER = 4


def _pair(initial: Atoms, hop_atom: int, target: np.ndarray, info: dict):
    """(initial, final) with ``hop_atom`` moved to ``target`` in the final state."""
    final = initial.copy()
    final.positions[hop_atom] = target
    vec = target - initial.positions[hop_atom]
    _, length = find_mic(vec[None, :], initial.cell, initial.pbc)
    info = dict(info, hop_atom=int(hop_atom), hop_length_A=round(float(length[0]), 4))
    info.setdefault("neb_fixed", [])
    for atoms in (initial, final):
        atoms.info.update(info)
    initial.info["endpoint"] = "initial"
    final.info["endpoint"] = "final"
    return initial, final


def _check_overlap(atoms: Atoms, what: str) -> None:
    pair = closest_pair(atoms)
    if pair is not None and pair.ratio < DEFAULT_MIN_RATIO:
        raise ValueError(
            f"{what}: atoms overlap, {pair.describe(atoms)} < {DEFAULT_MIN_RATIO}"
        )


def _adatom_on_graphene(metal: str, supercell: int, xy) -> Atoms:
    """An n x n graphene sheet (vacuum on both sides) with one ``metal`` adatom at
    in-plane position ``xy`` (A), its stage-1 metal-carbon distance above the
    sheet plane (a starting height: relaxations move it)."""
    check_metal(metal)
    if not isinstance(supercell, int | np.integer) or supercell < 2:
        raise ValueError(
            f"supercell must be an integer >= 2 (n x n graphene cells), "
            f"got {supercell!r}"
        )
    h = metal_data(metal).metal_carbon_distance_A
    matrix = int(supercell) * np.eye(2, dtype=int)
    sheet_xy = graphene_sheet_xy(matrix)
    z0 = PATHWAY_VACUUM_A
    n_c = len(sheet_xy)
    sheet = Atoms(f"C{n_c}", positions=np.column_stack([sheet_xy, np.full(n_c, z0)]))
    sheet.set_tags([TAG_BOTTOM_SHEET] * n_c)
    sheet.cell = supercell_cell(matrix, 2 * PATHWAY_VACUUM_A + h)
    sheet.pbc = True
    position = [float(xy[0]), float(xy[1]), z0 + h]
    sheet += Atoms(metal, positions=[position], tags=[TAG_METAL_FIRST_LAYER])
    sheet.info["supercell"] = matrix.tolist()
    return sheet


def graphene_hop(metal: str, supercell: int = HOP_SUPERCELL) -> tuple[Atoms, Atoms]:
    """Adatom hop on graphene, hollow -> hollow over a bridge (n x n cell, vacuum).

    The metal starts at its stage-1 metal-carbon distance above the hexagon centre
    at the origin and ends above the neighbouring hexagon centre ``a1`` away.
    ``supercell`` n sets the cell (default 3: 18 C; 4: 32 C), i.e. the distance
    between the adatom and its periodic images (n x 2.46 A).
    """
    sheet = _adatom_on_graphene(metal, supercell, (0.0, 0.0))
    target = sheet.positions[-1] + np.append(graphene_lattice()[0], 0.0)
    info = dict(
        pathway="graphene_hop",
        metal=metal,
        spacing_A=None,
        host="graphene",
        supercell=sheet.info["supercell"],
        n_metal=1,
    )
    return _pair(sheet, len(sheet) - 1, target, info)


#: adsorption sites of an adatom on graphene: in-plane position in units of the
#: lattice vectors a1, a2 of :func:`graphene_sheet_xy` (a hexagon centre at the
#: origin): hexagon centre, the C-C bond midpoint halfway to the next hexagon centre
#: (the saddle of :func:`graphene_hop`'s path), on top of a carbon atom
GRAPHENE_SITES: dict[str, tuple[float, float]] = {
    "hollow": (0.0, 0.0),
    "bridge": (0.5, 0.0),
    "top": (1 / 3, 1 / 3),
}


def adatom_site(metal: str, site: str, supercell: int = HOP_SUPERCELL) -> Atoms:
    """One adatom on graphene at a fixed adsorption site, for constrained relaxation.

    The adatom sits above the ``site`` (:data:`GRAPHENE_SITES`: ``"hollow"``,
    ``"bridge"``, ``"top"``) of an n x n sheet (``supercell``, the cell of
    :func:`graphene_hop`).  Constraints (``ase.constraints.FixCartesian``): the
    adatom's x, y and the x, y of the carbon atom farthest from it are held (the
    latter removes the sheet's free in-plane translation, which would otherwise
    carry the sheet under the adatom into the preferred site); every z and the
    other carbon x, y relax.  E(site) - E(hollow) of such relaxations is the
    static corrugation of the adatom's energy surface at relaxed height, and
    E(bridge) - E(hollow) the hollow -> hollow barrier of a path through the
    bridge (Chan, Neaton & Cohen, PRB 77, 235430 (2008) define their site
    energies the same way).

    Returns
    -------
    ase.Atoms
        ``info``: ``pathway = "adatom_site"``, ``metal``, ``site``, ``supercell``,
        ``hop_atom`` (the adatom index), ``host = "graphene"``.
    """
    from ase.constraints import FixCartesian

    if site not in GRAPHENE_SITES:
        raise ValueError(
            f"unknown adsorption site {site!r}; allowed: {', '.join(GRAPHENE_SITES)}"
        )
    f1, f2 = GRAPHENE_SITES[site]
    a1, a2 = graphene_lattice()
    xy = f1 * np.asarray(a1) + f2 * np.asarray(a2)
    atoms = _adatom_on_graphene(metal, supercell, xy[:2])
    adatom = len(atoms) - 1
    carbons = np.arange(adatom)
    d = atoms.get_distances(adatom, carbons, mic=True)
    anchor = int(carbons[first_extreme(d, largest=True)])
    atoms.set_constraint(FixCartesian([adatom, anchor], mask=(True, True, False)))
    atoms.info.update(
        pathway="adatom_site",
        metal=metal,
        site=site,
        spacing_A=None,
        host="graphene",
        hop_atom=adatom,
        n_metal=1,
    )
    return atoms


def gallery_hop(metal: str, spacing_A: float) -> tuple[Atoms, Atoms]:
    """Hop in an AA graphite gallery of interlayer distance ``spacing_A`` (A).

    One metal atom per 3x3 gallery (MC18) above the hexagon centre at the origin,
    hopping to the neighbouring hexagon centre.  It starts in the midplane when the
    gallery is narrower than twice the metal's stage-1 metal-carbon distance, else
    at that distance from the bottom sheet: in a wide gallery the midplane is a
    saddle along z (no force by symmetry), and the metal binds to one wall.  The
    cell is fixed (the spacing is the parameter).

    Raises
    ------
    ValueError
        Spacing not positive, or so small that the metal overlaps the carbon planes
        (closest pair below 0.7 x the sum of covalent radii, the project's collapse
        criterion): that gallery does not exist for this metal.
    """
    check_metal(metal)
    spacing = float(spacing_A)
    if not spacing > 0:
        raise ValueError(f"spacing_A must be positive, got {spacing_A!r}")
    matrix = HOP_SUPERCELL * np.eye(2, dtype=int)
    atoms = graphite("AA", interlayer_A=spacing, supercell=matrix)
    # the midplane of a wide gallery is a saddle along z (zero force by symmetry):
    # start at the metal's stage-1 distance from the bottom sheet when it fits
    height = min(spacing / 2, metal_data(metal).metal_carbon_distance_A)
    atoms += Atoms(metal, positions=[[0.0, 0.0, height]], tags=[TAG_METAL_FIRST_LAYER])
    _check_overlap(atoms, f"{metal} in a {spacing} A gallery")
    target = atoms.positions[-1] + np.append(graphene_lattice()[0], 0.0)
    info = dict(atoms.info)
    info.update(
        pathway="gallery_hop",
        metal=metal,
        spacing_A=spacing,
        host="graphite",
        n_layers=1,
        n_metal=1,
    )
    return _pair(atoms, len(atoms) - 1, target, info)


def _nearest_in_layer(atoms: Atoms, index: int) -> int:
    """Index of the metal atom of the same layer (tag) nearest to ``index``."""
    tags = atoms.get_tags()
    same = [
        k
        for k in np.nonzero(metal_mask(atoms) & (tags == tags[index]))[0]
        if k != index
    ]
    if not same:
        raise ValueError("no other metal atom in the vacancy's layer")
    d = atoms.get_distances(index, same, mic=True)
    return int(same[first_extreme(d)])


def _vacancy_pair(atoms: Atoms, vacancy: int, info: dict, fixed_mask=None):
    """Remove ``vacancy``; its nearest same-layer neighbour hops into the site."""
    partner = _nearest_in_layer(atoms, vacancy)
    site = atoms.positions[vacancy].copy()
    keep = [k for k in range(len(atoms)) if k != vacancy]
    initial = atoms[keep]
    hop_atom = partner - (1 if partner > vacancy else 0)
    if fixed_mask is not None:
        info = dict(info, neb_fixed=[int(k) for k in np.nonzero(fixed_mask[keep])[0]])
    return _pair(initial, hop_atom, site, info)


def bilayer_vacancy_hop(metal: str) -> tuple[Atoms, Atoms]:
    """Vacancy-mediated hop in AA bilayer graphene holding one C6MC6 metal layer.

    The sqrt3 x sqrt3 R30 cell of :func:`bilayer_graphene` (one metal, 12 C) is
    repeated 2x2 and one of the four metal atoms removed.
    """
    model = bilayer_graphene(metal, 1, stacking="AA", vacuum=PATHWAY_VACUUM_A)
    model = model.repeat((2, 2, 1))
    metals = np.nonzero(metal_mask(model))[0]
    info = dict(model.info)
    info.update(
        pathway="bilayer_vacancy_hop",
        metal=metal,
        spacing_A=None,
        n_metal=len(metals) - 1,
        repeat=[2, 2, 1],
    )
    return _vacancy_pair(model, int(metals[0]), info)


def _multilayer(metal: str) -> Atoms:
    """Two fcc metal layers in AA bilayer graphene, >= 4 atoms per layer."""
    model = bilayer_graphene(
        metal,
        2,
        stacking="AA",
        packing="fcc",
        max_strain=MULTILAYER_MAX_STRAIN,
        vacuum=PATHWAY_VACUUM_A,
    )
    per_layer = int(np.sum(model.get_tags() == TAG_METAL_FIRST_LAYER))
    # the smallest in-plane repeat (n1 >= n2) giving >= MIN_ATOMS_PER_LAYER
    repeat = min(
        ((n1, n2, 1) for n1 in range(1, 5) for n2 in range(1, n1 + 1)),
        key=lambda r: (r[0] * r[1] * per_layer < MIN_ATOMS_PER_LAYER, r[0] * r[1]),
    )
    if repeat != (1, 1, 1):
        model = model.repeat(repeat)
    model.info["repeat"] = list(repeat)
    return model


def multilayer_vacancy_hop(metal: str) -> tuple[Atoms, Atoms]:
    """Vacancy hop inside a 2-layer fcc metal slab in AA bilayer graphene.

    The vacancy is in the first metal layer (tag 11); its nearest neighbour of the
    same layer hops into it (close-packed in-plane hop, the bulk nn distance).
    """
    model = _multilayer(metal)
    first = np.nonzero(model.get_tags() == TAG_METAL_FIRST_LAYER)[0]
    info = dict(model.info)
    info.update(
        pathway="multilayer_vacancy_hop",
        metal=metal,
        spacing_A=None,
        n_metal=int(np.sum(metal_mask(model))) - 1,
    )
    return _vacancy_pair(model, int(first[0]), info)


def interface_vacancy_hop(metal: str) -> tuple[Atoms, Atoms]:
    """Vacancy hop in the metal layer facing graphene of a graphene/metal interface.

    The 2-layer cell of :func:`multilayer_vacancy_hop` without its top sheet: one
    graphene sheet under a 2-layer metal slab with vacuum above it.  The outer metal
    layer (tag 12, the bulk side) is fixed in the band and the endpoint relaxations.
    """
    model = _multilayer(metal)
    model = model[model.get_tags() != TAG_TOP_SHEET]
    model.center(vacuum=PATHWAY_VACUUM_A, axis=2)
    tags = model.get_tags()
    first = np.nonzero(tags == TAG_METAL_FIRST_LAYER)[0]
    info = dict(model.info)
    info.update(
        pathway="interface_vacancy_hop",
        metal=metal,
        spacing_A=None,
        host="graphene_metal_interface",
        n_metal=int(np.sum(metal_mask(model))) - 1,
    )
    fixed = tags == TAG_METAL_FIRST_LAYER + 1
    return _vacancy_pair(model, int(first[0]), info, fixed_mask=fixed)


def bulk_vacancy_hop(metal: str) -> tuple[Atoms, Atoms]:
    """Nearest-neighbour vacancy hop in bcc metal (2x2x2 cubic cells, 15 atoms).

    The vacancy is at the origin; the atom at (a/2, a/2, a/2) hops into it.
    """
    model = bulk_metal(metal, cubic=True).repeat((2, 2, 2))
    model.set_tags([TAG_METAL_FIRST_LAYER] * len(model))
    d = model.get_all_distances(mic=True)[0]
    info = dict(model.info)
    info.update(
        pathway="bulk_vacancy_hop",
        metal=metal,
        spacing_A=None,
        n_metal=len(model) - 1,
        repeat=[2, 2, 2],
    )
    # the origin's nearest neighbours are all one layer; the partner search works
    assert np.isclose(np.sort(d)[1], np.sqrt(3) * model.info["bcc_a_A"] / 2)
    return _vacancy_pair(model, 0, info)


#: Lattice geometry of each pathway for D = z a^2 k / (2 d): ``multiplicity`` z
#: (equivalent hops from one site), ``dimension`` d and the diffusing species
#: ("vacancy": the vacancy diffusivity, per vacancy).  Hollow sites of graphene and
#: of an AA gallery form a triangular lattice (6 neighbouring hollows, 2D); the
#: C6MC6 sites and a close-packed metal layer are triangular too (6 in-layer
#: neighbours; only in-layer hops are computed, so D is the in-plane D); a bcc
#: vacancy has 8 nearest neighbours (3D), giving D_v = a_bcc^2 k.
HOP_GEOMETRY: dict[str, dict] = {
    "graphene_hop": dict(multiplicity=6, dimension=2, species="metal atom"),
    "gallery_hop": dict(multiplicity=6, dimension=2, species="metal atom"),
    "bilayer_vacancy_hop": dict(multiplicity=6, dimension=2, species="vacancy"),
    "multilayer_vacancy_hop": dict(multiplicity=6, dimension=2, species="vacancy"),
    "interface_vacancy_hop": dict(multiplicity=6, dimension=2, species="vacancy"),
    "bulk_vacancy_hop": dict(multiplicity=8, dimension=3, species="vacancy"),
}


def hop_geometry(pathway: str) -> dict:
    """``{"multiplicity", "dimension", "species"}`` of a pathway (see
    :data:`HOP_GEOMETRY`); a clear error for an unknown pathway."""
    if pathway not in HOP_GEOMETRY:
        raise ValueError(
            f"unknown pathway {pathway!r}; allowed: {', '.join(HOP_GEOMETRY)}"
        )
    return dict(HOP_GEOMETRY[pathway])


#: pathway name -> builder (``gallery_hop`` also takes ``spacing_A``)
PATHWAYS = {
    "graphene_hop": graphene_hop,
    "gallery_hop": gallery_hop,
    "bilayer_vacancy_hop": bilayer_vacancy_hop,
    "multilayer_vacancy_hop": multilayer_vacancy_hop,
    "interface_vacancy_hop": interface_vacancy_hop,
    "bulk_vacancy_hop": bulk_vacancy_hop,
}


def pathway_endpoints(
    pathway: str,
    metal: str,
    spacing_A: float | None = None,
    supercell: int | None = None,
) -> tuple[Atoms, Atoms]:
    """``(initial, final)`` of a named pathway (see :data:`PATHWAYS`).

    ``spacing_A`` is required by ``gallery_hop`` and refused by the others;
    ``supercell`` (n x n graphene cell, default 3) is taken by ``graphene_hop``
    only.
    """
    if pathway not in PATHWAYS:
        raise ValueError(f"unknown pathway {pathway!r}; allowed: {', '.join(PATHWAYS)}")
    if supercell is not None:
        if pathway != "graphene_hop":
            raise ValueError(
                f"{pathway} takes no supercell (only graphene_hop does; the other "
                "cells are set by their hosts)"
            )
        return graphene_hop(metal, supercell)
    if pathway == "gallery_hop":
        if spacing_A is None:
            raise ValueError("gallery_hop needs spacing_A (A), e.g. 3.74")
        return gallery_hop(metal, spacing_A)
    if spacing_A is not None:
        raise ValueError(f"{pathway} takes no spacing_A (only gallery_hop does)")
    return PATHWAYS[pathway](metal)


def migration_path(
    pathway: str,
    metal: str,
    spacing_A: float | None = None,
    supercell: int | None = None,
) -> Atoms:
    """The initial state of a pathway, carrying its final state in ``info``.

    For campaigns, whose builders return one structure: ``info["hop_target_A"]``
    is the Cartesian position (A) of ``info["hop_atom"]`` in the final state;
    :func:`path_endpoints` turns it back into ``(initial, final)``.  Arguments as
    :func:`pathway_endpoints`.
    """
    initial, final = pathway_endpoints(pathway, metal, spacing_A, supercell)
    hop = initial.info["hop_atom"]
    initial.info["hop_target_A"] = [round(float(x), 6) for x in final.positions[hop]]
    initial.info.pop("endpoint", None)
    return initial


def path_endpoints(atoms: Atoms) -> tuple[Atoms, Atoms]:
    """``(initial, final)`` from a :func:`migration_path` structure.

    Raises
    ------
    ValueError
        ``atoms`` carries no ``hop_atom``/``hop_target_A`` (not built as a path).
    """
    info = atoms.info
    if "hop_atom" not in info or "hop_target_A" not in info:
        raise ValueError(
            "not a migration path: atoms.info needs hop_atom and hop_target_A "
            "(build it with migration_path)"
        )
    initial = atoms.copy()
    initial.calc = None
    final = initial.copy()
    final.positions[int(info["hop_atom"])] = np.asarray(info["hop_target_A"], float)
    initial.info["endpoint"] = "initial"
    final.info["endpoint"] = "final"
    return initial, final


__all__ = [
    "GALLERY_SPACINGS_A",
    "GRAPHENE_SITES",
    "PATHWAYS",
    "adatom_site",
    "bilayer_vacancy_hop",
    "bulk_vacancy_hop",
    "gallery_hop",
    "graphene_hop",
    "interface_vacancy_hop",
    "migration_path",
    "multilayer_vacancy_hop",
    "path_endpoints",
    "pathway_endpoints",
]
