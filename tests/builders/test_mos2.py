"""MoS2 monolayers and graphene/metal/MoS2 heterostructures (builders only)."""

import re

import numpy as np
import pytest
from ase.neighborlist import neighbor_list

from alkali_layers.builders.mos2 import (
    graphene_mos2,
    heterostructure_cell,
    mos2,
)
from alkali_layers.elements import (
    METALS,
    graphene_strain_share,
    mos2_mo_s_bond_A,
    mos2_thickness_A,
)
from alkali_layers.geometry import (
    TAG_BOTTOM_SHEET,
    TAG_METAL_FIRST_LAYER,
    TAG_TOP_SHEET,
    closest_pair,
    metal_outside_gallery,
)

# Na planes fit the smallest cell (4 Mo, 7 graphene cells); cheap for every test
NA_CELL_MO = 4
NA_PER_PLANE = 3


def test_mos2_data_from_the_bulk_2h_structure():
    # 2H-MoS2: c = 12.294 A, z(S) = 0.621 -> S-S = 2 (0.75 - 0.621) c = 3.172 A;
    # Mo-S = sqrt(3.160^2 / 3 + 1.586^2) = 2.417 A (measured 2.41-2.42 A)
    assert mos2_thickness_A("2H") == pytest.approx(3.1719, abs=1e-4)
    assert mos2_mo_s_bond_A() == pytest.approx(2.4174, abs=1e-4)
    # 1T on a = 3.190 A with the same bond: 2 sqrt(2.4174^2 - 3.19^2 / 3) = 3.131
    assert mos2_thickness_A("1T") == pytest.approx(3.1316, abs=1e-4)
    # graphene takes Y_MoS2 / (Y_G + Y_MoS2) = 180 / 520 of the mismatch
    assert graphene_strain_share() == pytest.approx(0.3462, abs=1e-4)


def _s_planes(atoms):
    s = np.array(atoms.get_chemical_symbols()) == "S"
    z_mo = atoms.positions[np.array(atoms.get_chemical_symbols()) == "Mo", 2].mean()
    up = s & (atoms.positions[:, 2] > z_mo)
    low = s & (atoms.positions[:, 2] < z_mo)
    return atoms.positions[up], atoms.positions[low]


def _lateral_offset(atoms):
    """Smallest in-plane distance from an upper S to a lower S (periodic)."""
    up, low = _s_planes(atoms)
    cell2 = atoms.cell[:2, :2]
    inv = np.linalg.inv(cell2)
    d = (up[:, None, :2] - low[None, :, :2]) @ inv
    d -= np.round(d)
    return float(np.linalg.norm(d @ cell2, axis=-1).min())


@pytest.mark.parametrize("phase", ["2H", "1T", "1T'"])
def test_mos2_phases_have_their_coordination(phase):
    atoms = mos2(phase, size=(2, 2))
    symbols = atoms.get_chemical_symbols()
    assert symbols.count("S") == 2 * symbols.count("Mo")
    # every Mo has 6 S neighbours at the Mo-S bond length (1T': the Mo moved by
    # 0.23 A towards its chain partners, the S not yet, so +-0.2 A)
    tolerance = 0.2 if phase == "1T'" else 1e-3
    i, j, d = neighbor_list("ijd", atoms, 2.6)
    mo = [k for k, s in enumerate(symbols) if s == "Mo"]
    for k in mo:
        bonds = d[(i == k) & (np.array(symbols)[j] == "S")]
        assert len(bonds) == 6
        assert bonds == pytest.approx(mos2_mo_s_bond_A(), abs=tolerance)
    # trigonal prismatic (2H): S above S; octahedral (1T, 1T'): staggered by a/sqrt3
    offset = _lateral_offset(atoms)
    if phase == "2H":
        assert offset == pytest.approx(0.0, abs=1e-6)
    else:
        assert offset == pytest.approx(3.19 / np.sqrt(3), abs=0.02)


def test_1tprime_has_dimerised_mo_zigzag_chains():
    atoms = mos2("1T'", size=(3, 2))
    assert atoms.info["rectangular"]
    mo = atoms[[s == "Mo" for s in atoms.get_chemical_symbols()]]
    i, j, d = neighbor_list("ijd", mo, 4.0)
    for k in range(len(mo)):
        dk = np.sort(d[i == k])
        # two short Mo-Mo bonds of 2.80 A (the chain), then 3.19 (along the chain
        # axis) and the long 3.60 A inter-chain distances
        assert dk[:2] == pytest.approx([2.80, 2.80], abs=1e-6)
        assert dk[2] > 3.1
    # 1T without dimerisation: six equal Mo-Mo distances a
    one_t = mos2("1T", size=(3, 3))
    mo = one_t[[s == "Mo" for s in one_t.get_chemical_symbols()]]
    i, j, d = neighbor_list("ijd", mo, 3.5)
    assert d == pytest.approx(3.19, abs=1e-6)


def test_mos2_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown MoS2 phase"):
        mos2("3R")
    with pytest.raises(ValueError, match="rectangular"):
        mos2("1T'", rectangular=False)
    with pytest.raises(ValueError, match="size"):
        mos2("2H", size=(0, 2))
    assert mos2("1Tp").info["phase"] == "1T'"


def test_empty_heterostructure_and_its_strains():
    atoms = graphene_mos2()
    info = atoms.info
    assert info["n_layers"] == 0 and info["n_metal"] == 0 and info["x_per_Mo"] == 0
    symbols = atoms.get_chemical_symbols()
    assert set(symbols) == {"C", "Mo", "S"}
    # sqrt7 x sqrt7 graphene on 2x2 MoS2: 14 C, 4 Mo (smallest cell within 2 %)
    assert (info["n_carbon"], info["n_Mo"]) == (14, 4)
    assert symbols.count("S") == 2 * info["n_Mo"]
    for lattice in ("graphene", "mos2"):
        strains = info[f"{lattice}_principal_strains_pct"]
        assert len(strains) == 2
        assert max(abs(s) for s in strains) <= 2.0
    # graphene compressed, MoS2 stretched; graphene takes 35 % of the mismatch
    assert info["graphene_strain_pct"] > 0.5
    assert info["mos2_principal_strains_pct"][0] > 0
    assert closest_pair(atoms).ratio > 0.85
    # graphene plane 3.35 A above the upper S plane
    z_c = atoms.positions[atoms.get_tags() == TAG_TOP_SHEET, 2].mean()
    z_s = atoms.positions[np.array(symbols) == "S", 2].max()
    assert z_c - z_s == pytest.approx(3.35)


@pytest.mark.parametrize("n_layers", [1, 2, 3, 4])
@pytest.mark.parametrize("packing", ["fcc", "hcp"])
def test_na_blocks_at_bulk_density_and_strain_bounds(n_layers, packing):
    atoms = graphene_mos2("Na", n_layers, packing, phase="2H")
    info = atoms.info
    symbols = atoms.get_chemical_symbols()
    assert info["n_metal"] == symbols.count("Na") == NA_PER_PLANE * n_layers
    assert info["n_Mo"] == symbols.count("Mo") == NA_CELL_MO
    assert info["x_per_Mo"] == pytest.approx(NA_PER_PLANE * n_layers / NA_CELL_MO)
    assert len(atoms) == info["n_carbon"] + 3 * NA_CELL_MO + info["n_metal"]
    # areal density of each plane = bulk close-packed density within the strain
    area = abs(np.linalg.det(atoms.cell[:2, :2]))
    d = METALS["Na"].close_packed_nn_A
    bulk_per_A2 = 1.0 / (np.sqrt(3) / 2 * d**2)
    per_plane = NA_PER_PLANE / area
    assert per_plane == pytest.approx(bulk_per_A2, rel=0.045)  # (1 + 2 %)^2
    assert info["metal_strain_pct"] <= 3.0
    assert max(abs(s) for s in info["mos2_principal_strains_pct"]) <= 2.0
    assert closest_pair(atoms).ratio > 0.8
    assert metal_outside_gallery(atoms, tolerance_A=1.0) == []
    # planes in order, MoS2 below (tag 1), graphene on top (tag 2)
    tags = atoms.get_tags()
    z_planes = [
        atoms.positions[tags == TAG_METAL_FIRST_LAYER + k, 2].mean()
        for k in range(n_layers)
    ]
    assert z_planes == sorted(z_planes)
    assert atoms.positions[tags == TAG_BOTTOM_SHEET, 2].max() < z_planes[0]
    assert atoms.positions[tags == TAG_TOP_SHEET, 2].min() > z_planes[-1]
    spacing = np.diff(z_planes)
    assert spacing == pytest.approx(METALS["Na"].close_packed_layer_spacing_A)


def test_phases_of_one_metal_share_the_supercell():
    two_h = graphene_mos2("Na", 2, phase="2H")
    one_tp = graphene_mos2("Na", 2, phase="1T'")
    for key in ("supercell", "mos2_supercell", "metal_supercell", "n_metal"):
        assert two_h.info[key] == one_tp.info[key]
    assert np.allclose(two_h.cell[:2], one_tp.cell[:2])
    assert _lateral_offset(two_h) < 1e-6
    assert _lateral_offset(one_tp) > 1.5
    # the empty reference of the cell: n_layers = 0 with the metal
    empty = graphene_mos2("Na", 0, phase="2H")
    assert empty.info["supercell"] == two_h.info["supercell"]
    assert empty.info["n_metal"] == 0


def test_partial_loading_fills_from_mos2_and_spreads_atoms():
    atoms = graphene_mos2("Na", 2, n_metal=4)
    tags = atoms.get_tags()
    assert atoms.info["n_metal"] == 4
    assert (tags == TAG_METAL_FIRST_LAYER).sum() == NA_PER_PLANE
    assert (tags == TAG_METAL_FIRST_LAYER + 1).sum() == 1
    assert atoms.info["x_per_Mo"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="allowed 4..6"):
        graphene_mos2("Na", 2, n_metal=3)
    with pytest.raises(ValueError, match="allowed 1..3"):
        graphene_mos2("Na", 1, n_metal=7)


def test_partial_plane_atoms_are_spread_out():
    li = graphene_mos2("Li", 1, n_metal=2)
    metal = li[[s == "Li" for s in li.get_chemical_symbols()]]
    i, j, d = neighbor_list("ijd", metal, 20.0)
    # the two atoms sit far apart (not neighbours at 3.1 A)
    assert d.min() > 5.0


def test_bad_input_gives_actionable_errors():
    with pytest.raises(ValueError, match="unknown metal"):
        graphene_mos2("Fr", 1)
    with pytest.raises(ValueError, match="unknown packing"):
        graphene_mos2("Na", 1, packing="sc")
    with pytest.raises(ValueError, match="unknown MoS2 phase"):
        graphene_mos2("Na", 1, phase="2M")
    with pytest.raises(ValueError, match="n_layers must be an integer from 0 to 4"):
        graphene_mos2("Na", 5)
    with pytest.raises(ValueError, match="needs a metal"):
        graphene_mos2(None, 2)
    # K planes do not fit the small cells within 2 %: the message says what would
    with pytest.raises(ValueError, match=r"set max_strain >= 0\.\d{3}"):
        graphene_mos2("K", 2, max_strain=0.02, max_graphene_cells=21)
    with pytest.raises(ValueError, match="host_strain"):
        heterostructure_cell(None, host_strain=0.0)
    with pytest.raises(ValueError, match="keeps graphene and MoS2 within"):
        heterostructure_cell(None, host_strain=0.002, max_graphene_cells=7)


def test_no_cell_message_names_a_strain_bound_that_builds():
    # K planes fit no cell of <= 21 graphene cells within 2 %: the message names the
    # least metal strain reached and a max_strain; that bound must then build
    with pytest.raises(ValueError) as err:
        graphene_mos2("K", 1, max_strain=0.02, max_graphene_cells=21)
    found = re.search(
        r"least metal strain on these cells is ([\d.]+) % \((\d+) graphene cells\): "
        r"set max_strain >= (0\.\d{3})",
        str(err.value),
    )
    assert found, str(err.value)
    least_pct, cells, bound = float(found[1]), int(found[2]), float(found[3])
    assert least_pct > 2.0 and bound >= least_pct / 100
    atoms = graphene_mos2("K", 1, max_strain=bound, max_graphene_cells=21)
    assert least_pct - 1e-3 <= atoms.info["metal_strain_pct"] <= 100 * bound
    assert atoms.info["n_carbon"] <= 2 * cells
    assert atoms.info["n_metal"] == atoms.info["full_layer_atoms"] >= 1


@pytest.mark.parametrize("metal", ["Cs", "K"])
def test_partial_loading_sites_do_not_depend_on_rounding_noise(metal):
    # symmetric sites tie for "farthest"; before 2026-12-02 noise of 1e-13 chose
    # among them (Cs 2 of 4: 3 different choices in 20 draws, K 4 of 6: 5)
    from alkali_layers.builders.graphene import lattice_sites
    from alkali_layers.builders.layers import metal_plane_lattice, stacking_shifts
    from alkali_layers.builders.mos2 import _spread_subset, heterostructure_cell

    cell = heterostructure_cell(metal, "fcc", 0.05)
    plane = metal_plane_lattice(metal, "fcc")
    matrix = np.array(cell.metal_matrix)
    to_cell = np.linalg.solve(matrix @ plane, cell.vectors_A)
    xy = lattice_sites(plane, matrix, stacking_shifts("fcc", 1)[:1]) @ to_cell
    rng = np.random.default_rng(1)
    for n in range(2, len(xy)):
        picks = {
            tuple(
                _spread_subset(xy + rng.normal(0, 1e-13, xy.shape), cell.vectors_A, n)
            )
            for _ in range(12)
        }
        assert len(picks) == 1, (n, picks)
