import numpy as np
import pytest
from ase.io import read

from alkali_layers.builders import bilayer_graphene, metal_coincidence_cell
from alkali_layers.builders.intercalation import pristine_host
from alkali_layers.elements import ALKALI_METALS, METALS
from alkali_layers.geometry import (
    TAG_BOTTOM_SHEET,
    TAG_METAL_FIRST_LAYER,
    TAG_TOP_SHEET,
    closest_pair,
    gallery_height,
    metal_outside_gallery,
)

GRAPHENE_CELL_AREA = np.sqrt(3) / 2 * 2.46**2  # A^2 per 2 C of one sheet
GRID = [(m, n, s) for m in ALKALI_METALS for n in (1, 2, 3, 4) for s in ("AA", "AB")]


def layer_xy(atoms, tag):
    return atoms.positions[atoms.get_tags() == tag, :2]


def lateral_match(a, b, cell):
    """True if every point of a sits (laterally, periodically) on a point of b."""
    inv = np.linalg.inv(cell[:2, :2])
    for p in a:
        d = (b - p) @ inv
        d -= np.round(d)
        if np.min(np.linalg.norm(d @ cell[:2, :2], axis=1)) > 1e-6:
            return False
    return True


@pytest.mark.parametrize("metal, n_layers, stacking", GRID)
def test_bilayer_models_are_physical(metal, n_layers, stacking):
    atoms = bilayer_graphene(metal, n_layers, stacking)
    info = atoms.info
    area = abs(np.linalg.det(atoms.cell[:2, :2]))
    n_cells = round(area / GRAPHENE_CELL_AREA)
    # two sheets of 2 C per graphene cell
    assert info["n_carbon"] == 4 * n_cells == atoms.get_chemical_symbols().count("C")
    assert info["n_metal"] == atoms.get_chemical_symbols().count(metal)
    # no overlapping atoms (0.85 x sum of covalent radii; C-C bonds are 0.93)
    assert closest_pair(atoms).ratio > 0.85
    # metal atoms sit inside the gallery, layer by layer in order
    assert metal_outside_gallery(atoms, tolerance_A=1.0) == []
    z_layers = [
        atoms.positions[atoms.get_tags() == TAG_METAL_FIRST_LAYER + k, 2].mean()
        for k in range(n_layers)
    ]
    assert z_layers == sorted(z_layers)
    assert gallery_height(atoms) == pytest.approx(
        METALS[metal].gallery_height_A(n_layers)
    )
    assert info["metal_strain_pct"] <= 2.0
    assert len(atoms) <= 128  # Li 124 and K 128 atoms at 4 layers; Na 40, Rb 20, Cs 92
    per_layer = info["n_metal"] / n_layers
    if n_layers == 1:
        assert per_layer / n_cells == pytest.approx(
            1 / 3
        )  # one metal per 6 C per sheet
    else:
        # areal density of each plane = bulk close-packed density / (1+e1)(1+e2)
        nn = METALS[metal].close_packed_nn_A
        e1, e2 = (s / 100 for s in info["metal_principal_strains_pct"])
        expected = 1 / (np.sqrt(3) / 2 * nn**2) / ((1 + e1) * (1 + e2))
        assert per_layer / area == pytest.approx(
            expected, rel=1e-5
        )  # strains stored to 1e-6
        # and within the 2 % strain bound of the unstrained density
        assert per_layer / area == pytest.approx(
            1 / (np.sqrt(3) / 2 * nn**2), rel=0.041
        )


@pytest.mark.parametrize("metal", ALKALI_METALS)
def test_all_multilayers_of_a_metal_share_one_supercell(metal):
    cells = {str(bilayer_graphene(metal, n, "AA").info["supercell"]) for n in (2, 3, 4)}
    assert len(cells) == 1


@pytest.mark.parametrize("metal", ["Na", "Rb", "Cs"])
def test_four_layer_models_stay_below_120_atoms(metal):
    assert len(bilayer_graphene(metal, 4, "AB")) <= 120


def test_aa_stacking_puts_every_top_atom_over_a_bottom_atom():
    atoms = bilayer_graphene("Na", 2, "AA")
    assert lateral_match(
        layer_xy(atoms, TAG_TOP_SHEET), layer_xy(atoms, TAG_BOTTOM_SHEET), atoms.cell
    )


def test_ab_stacking_puts_half_of_the_top_atoms_over_bottom_atoms():
    atoms = bilayer_graphene(None, 0, "AB", supercell=[[2, 0], [0, 2]])
    top, bottom = layer_xy(atoms, TAG_TOP_SHEET), layer_xy(atoms, TAG_BOTTOM_SHEET)
    over = sum(lateral_match(p[None, :], bottom, atoms.cell) for p in top)
    assert over == len(top) // 2


def test_single_layer_is_c6mc6_with_metal_over_the_hollow():
    atoms = bilayer_graphene("Li", 1, "AA")
    assert atoms.get_chemical_formula() == "C12Li"
    li = atoms.positions[atoms.numbers == 3][0]
    carbons = atoms.positions[atoms.numbers == 6]
    lateral = np.linalg.norm((carbons - li)[:, :2], axis=1)
    # hollow site: nearest carbons at the C-C bond length laterally (hexagon centre)
    assert lateral.min() == pytest.approx(1.42, abs=0.01)
    assert (
        bilayer_graphene("K", 1, "AA", single_layer="2x2").get_chemical_formula()
        == "C16K"
    )


@pytest.mark.parametrize("packing, repeat", [("fcc", 3), ("hcp", 2), ("bcc", 2)])
def test_metal_planes_repeat_with_the_packing_period(packing, repeat):
    atoms = bilayer_graphene("Na", 4, "AA", packing)
    layers = [layer_xy(atoms, TAG_METAL_FIRST_LAYER + k) for k in range(4)]
    assert lateral_match(layers[repeat], layers[0], atoms.cell)
    assert not lateral_match(layers[1], layers[0], atoms.cell)


def test_hcp_metal_neighbours_are_at_the_bulk_close_packed_distance():
    atoms = bilayer_graphene("K", 2, "AB", "hcp")
    metal = atoms[atoms.numbers == 19]
    d = metal.get_all_distances(mic=True)
    nn = METALS["K"].close_packed_nn_A
    assert d[d > 0].min() == pytest.approx(nn, rel=0.021)


def test_builder_is_deterministic_and_writes_metadata(tmp_path):
    a = bilayer_graphene("Na", 3, "AB")
    b = bilayer_graphene("Na", 3, "AB")
    assert np.array_equal(a.positions, b.positions)
    path = tmp_path / "na3.extxyz"
    a.write(path)
    back = read(path)
    assert back.info["metal"] == "Na" and int(back.info["n_layers"]) == 3
    assert np.array_equal(back.get_tags(), a.get_tags())


def test_coincidence_cell_is_cached_and_small():
    cell = metal_coincidence_cell("Na")
    assert (cell.n_host_cells, cell.n_guest_cells) == (7, 3)
    assert metal_coincidence_cell("Na") is cell


def test_pristine_host_has_the_models_stacking_and_no_metal():
    host = pristine_host(bilayer_graphene("K", 2, "AB"))
    assert host.get_chemical_formula() == "C4"
    assert host.info["stacking"] == "AB"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(metal="Fr", n_layers=2), "allowed: Li, Na, K, Rb, Cs"),
        (dict(metal="Na", n_layers=5), "from 0 to 4"),
        (dict(metal="Na", n_layers=-1), "from 0 to 4"),
        (dict(metal="Na", n_layers=2, stacking="ABC"), "allowed: AA, AB"),
        (dict(metal="Na", n_layers=2, packing="sc"), "allowed: fcc, hcp, bcc"),
        (dict(metal="Na", n_layers=1, single_layer="3x3"), "allowed: sqrt3, 2x2"),
        (dict(metal="Na", n_layers=2, max_strain=0.0005), "raise max_strain"),
        (dict(metal="Na", n_layers=3, gallery_height_A=4.0), "too small"),
        (dict(metal="Na", n_layers=2, vacuum=0), "vacuum must be positive"),
        (dict(metal=None, n_layers=0, supercell=[[1, 0], [0, 0]]), "det > 0"),
    ],
)
def test_bad_input_raises_value_error_naming_the_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bilayer_graphene(**kwargs)
