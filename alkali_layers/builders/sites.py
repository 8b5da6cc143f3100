"""Candidate metal sites in a pore model: edge, vacancy, interlayer and pore interior.

Sites are starting positions for a metal atom, computed from the current positions
of a model from :mod:`alkali_layers.builders.pores` (they follow relaxation):

``edge``
    In the plane of each edge carbon, outwards along its C-H bond (or, for bare
    edges, opposite its two C-C bonds), at the metal-carbon distance beyond the H
    atom (bare: beyond the carbon).
``vacancy``
    Above and below the centre of each vacancy at the metal-carbon distance.
``interlayer``
    Hexagon centres of the lower sheet of every gallery that is not a pore and is at
    least 0.9 x the metal's stage-1 GIC gallery high: one site at mid-gallery, or
    one at contact distance from each sheet when two layers fit.  In a wedge pore
    only the galleries between the ribbons count (not the pore itself).
``pore``
    The close-packed layers that fill each pore (``fill_pore(mode="sandwich")``
    lattice), at least one mid-plane layer even where no full layer fits; each
    layer (and the plane midway between two layers) offers all three close-packed
    stacking positions (A, B, C).

Every site keeps at least ``host_clearance`` x the metal-carbon distance from host
atoms and ``metal_clearance`` x the metal nearest-neighbour distance from metal
atoms already present.  The metal-carbon distance is half the stage-1 GIC gallery
height of the element table (``MetalData.metal_carbon_distance_A``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list
from scipy.spatial import cKDTree

from ..elements import check_metal, metal_data
from ..geometry import metal_mask
from .pores import (
    CC_BOND_A,
    CH_BOND_A,
    TAG_SHEET,
    _lattice_layers,
    layers_in_width,
    pore_bounds_A,
    pore_slit_width_nm,
    sheet_mask,
)

SITE_KINDS: tuple[str, ...] = ("edge", "vacancy", "interlayer", "pore")
DEFAULT_HOST_CLEARANCE = 0.85
DEFAULT_METAL_CLEARANCE = 0.8


@dataclass(frozen=True)
class Site:
    """One candidate metal position.

    Attributes
    ----------
    kind : str
        One of :data:`SITE_KINDS`.
    position_A : tuple of float
        Cartesian position (A), wrapped into the cell.
    label : str
        Where it comes from, e.g. ``"edge:sheet2:lo"``, ``"pore0:layer1"``.
    """

    kind: str
    position_A: tuple[float, float, float]
    label: str


def _check_model(atoms: Atoms) -> np.ndarray:
    if not atoms.info.get("pores"):
        raise ValueError(
            "not a pore model (no info['pores']); build it with wedge_pore, "
            "closed_pore or pore_assembly"
        )
    cell = atoms.cell.array
    if not (np.allclose(cell, np.diag(np.diag(cell))) and all(atoms.pbc)):
        raise ValueError("site search needs an orthorhombic, fully periodic cell")
    return np.diag(cell).copy()


def _wrap(positions: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Positions wrapped into ``[0, L)`` (``np.mod`` can round up to ``L``)."""
    out = np.mod(positions, lengths)
    return np.where(out >= lengths, 0.0, out)


def _tree(positions: np.ndarray, lengths: np.ndarray) -> cKDTree | None:
    if not len(positions):
        return None
    return cKDTree(_wrap(positions, lengths), boxsize=lengths)


def _hexagon_centres(atoms: Atoms, sheet_mask: np.ndarray) -> np.ndarray:
    """Centres of the carbon hexagons of one sheet (xy, A), deduplicated."""
    sub = atoms[np.nonzero(sheet_mask)[0]]
    i, d = neighbor_list("iD", sub, 1.2 * CC_BOND_A)
    if not len(i):
        return np.zeros((0, 2))
    centres = sub.positions[i, :2] - d[:, :2]
    lengths = np.diag(atoms.cell.array)[:2]
    centres = np.mod(centres, lengths)
    key = np.round(centres / 0.2).astype(int)
    _, first = np.unique(
        key % np.round(lengths / 0.2).astype(int), axis=0, return_index=True
    )
    return centres[np.sort(first)]


def enumerate_sites(
    atoms: Atoms,
    metal: str,
    kinds: tuple[str, ...] | None = None,
    host_clearance: float = DEFAULT_HOST_CLEARANCE,
    metal_clearance: float = DEFAULT_METAL_CLEARANCE,
) -> list[Site]:
    """Free candidate sites for one more ``metal`` atom in a pore model.

    Parameters
    ----------
    atoms : ase.Atoms
        A model from :func:`~alkali_layers.builders.pores.wedge_pore`,
        :func:`~alkali_layers.builders.pores.closed_pore` or
        :func:`~alkali_layers.builders.pores.pore_assembly`, possibly holding metal.
    metal : str
        The metal to place (Li, Na, K, Rb, Cs).
    kinds : tuple of str, optional
        Subset of :data:`SITE_KINDS` (default all).
    host_clearance, metal_clearance : float
        Minimum distance to host atoms (x the metal-carbon distance) and to metal
        atoms (x the metal nearest-neighbour distance).

    Returns
    -------
    list of Site
        In a deterministic order (kind, then generation order); no two sites of the
        same kind closer than 0.5 A.
    """
    check_metal(metal)
    kinds = SITE_KINDS if kinds is None else tuple(kinds)
    for k in kinds:
        if k not in SITE_KINDS:
            raise ValueError(
                f"unknown site kind {k!r}; allowed: {', '.join(SITE_KINDS)}"
            )
    lengths = _check_model(atoms)
    data = metal_data(metal)
    contact = data.metal_carbon_distance_A
    raw: list[Site] = []
    if "edge" in kinds:
        raw += _edge_sites(atoms, contact)
    if "vacancy" in kinds:
        raw += _vacancy_sites(atoms, contact)
    if "interlayer" in kinds:
        raw += _interlayer_sites(atoms, metal)
    if "pore" in kinds:
        raw += _pore_sites(atoms, metal)
    is_metal = metal_mask(atoms)  # every alkali atom already there, by element
    host_tree = _tree(atoms.positions[~is_metal], lengths)
    metal_tree = _tree(atoms.positions[is_metal], lengths)
    out: list[Site] = []
    kept: dict[str, list[np.ndarray]] = {}
    for site in raw:
        p = _wrap(np.array(site.position_A), lengths)
        if host_tree is not None and host_tree.query(p)[0] < host_clearance * contact:
            continue
        if (
            metal_tree is not None
            and metal_tree.query(p)[0] < metal_clearance * data.close_packed_nn_A
        ):
            continue
        same = kept.setdefault(site.kind, [])
        if same:
            d = np.asarray(same) - p
            d -= lengths * np.round(d / lengths)
            if np.min(np.linalg.norm(d, axis=1)) < 0.5:
                continue
        same.append(p)
        out.append(Site(site.kind, tuple(float(v) for v in p), site.label))
    return out


def _edge_sites(atoms: Atoms, contact: float) -> list[Site]:
    out = []
    for edge in atoms.info.get("edges", []):
        for n, c in enumerate(edge["carbons"]):
            pc = atoms.positions[c]
            if edge["hydrogens"]:
                h = min(
                    edge["hydrogens"],
                    key=lambda j, pc=pc: atoms.get_distance(c, j, mic=True),
                )
                u = atoms.get_distance(c, h, mic=True, vector=True)
                u = u / np.linalg.norm(u)
                p = pc + u * (CH_BOND_A + contact)
            else:  # a bare edge points into the pore: "lo" edges face +y
                u = np.array([0.0, 1.0 if edge["side"] == "lo" else -1.0, 0.0])
                p = pc + u * contact
            out.append(
                Site("edge", tuple(p), f"edge:sheet{edge['sheet']}:{edge['side']}:{n}")
            )
    return out


def _vacancy_sites(atoms: Atoms, contact: float) -> list[Site]:
    out = []
    for v, rec in enumerate(atoms.info.get("vacancies", [])):
        nb = rec.get("neighbors") or []
        if nb:
            ref = atoms.positions[nb[0]]
            d = np.array(
                [atoms.get_distance(nb[0], j, mic=True, vector=True) for j in nb]
            )
            centre = ref + d.mean(axis=0)
        else:
            centre = np.array(rec["center_A"])
        for side, sign in (("below", -1.0), ("above", 1.0)):
            p = centre + np.array([0.0, 0.0, sign * contact])
            out.append(Site("vacancy", tuple(p), f"vacancy{v}:{rec['kind']}:{side}"))
    return out


def _gallery_pairs(atoms: Atoms) -> list[tuple[int, int, float, float]]:
    """(sheet_lo, sheet_hi, z_lo, z_hi) of consecutive sheets (periodic wrap)."""
    tags = atoms.get_tags()[~metal_mask(atoms)]
    sheets = sorted(
        {int(t) - TAG_SHEET for t in tags if TAG_SHEET <= t < TAG_SHEET + 100}
    )
    z = {k: float(atoms.positions[sheet_mask(atoms, k), 2].mean()) for k in sheets}
    order = sorted(sheets, key=lambda k: z[k])
    c = float(atoms.cell[2, 2])
    out = []
    for n, k in enumerate(order):
        nxt = order[(n + 1) % len(order)]
        z_hi = z[nxt] + (c if n + 1 == len(order) else 0.0)
        out.append((k, nxt, z[k], z_hi))
    return out


def _interlayer_sites(atoms: Atoms, metal: str) -> list[Site]:
    data = metal_data(metal)
    contact = data.metal_carbon_distance_A
    slit_pairs = {
        (p["sheet_lo"], p["sheet_hi"])
        for p in atoms.info["pores"]
        if p.get("kind") == "slit"
    }
    wedge = [
        pore_bounds_A(atoms, i)
        for i, p in enumerate(atoms.info["pores"])
        if p.get("kind") == "wedge"
    ]
    out = []
    for lo, hi, z_lo, z_hi in _gallery_pairs(atoms):
        gap = z_hi - z_lo
        if (lo, hi) in slit_pairs or gap < 0.9 * data.gic_interlayer_A:
            continue
        centres = _hexagon_centres(atoms, sheet_mask(atoms, lo))
        for b in wedge:
            y_lo, y_hi = b["lateral"]
            centres = centres[(centres[:, 1] < y_lo) | (centres[:, 1] > y_hi)]
        if gap < data.gic_interlayer_A + data.layer_spacing_A("fcc"):
            heights = [("mid", 0.5 * (z_lo + z_hi))]
        else:
            heights = [("lo", z_lo + contact), ("hi", z_hi - contact)]
        for name, z in heights:
            for n, xy in enumerate(centres):
                out.append(
                    Site(
                        "interlayer",
                        (float(xy[0]), float(xy[1]), z),
                        f"gallery{lo}-{hi}:{name}:{n}",
                    )
                )
    return out


def _pore_sites(atoms: Atoms, metal: str) -> list[Site]:
    # candidate starting positions: the strain of the lattice is not bounded here
    # (unlike fill_pore); the relaxation of each candidate removes it
    out = []
    for i in range(len(atoms.info["pores"])):
        n = max(1, layers_in_width(pore_slit_width_nm(atoms, i), metal))
        layers, _ = _lattice_layers(atoms, metal, i, "fcc", n, "sandwich")
        # every layer offers all three close-packed stacking positions (A, B, C):
        # once relaxed metal has moved off the ideal lattice, holes remain findable
        abc, _ = _lattice_layers(atoms, metal, i, "fcc", 3, "plate")
        zs = [float(layer[0, 2]) for layer in layers]
        zs += [0.5 * (a + b) for a, b in zip(zs[:-1], zs[1:], strict=True)]
        for k, z in enumerate(zs):
            layer = layers[min(k, len(layers) - 1)]
            j = 0
            for xy in [layer[:, :2]] + [a[:, :2] for a in abc]:
                for p in xy:
                    out.append(Site("pore", (p[0], p[1], z), f"pore{i}:layer{k}:{j}"))
                    j += 1
    return out
