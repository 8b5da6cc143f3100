from collections import Counter

import numpy as np
import pytest

from alkali_layers.builders import (
    SITE_KINDS,
    closed_pore,
    enumerate_sites,
    fill_pore,
    max_layers,
    pore_assembly,
    wedge_pore,
)
from alkali_layers.builders.intercalation import DEFAULT_MAX_STRAIN
from alkali_layers.builders.pores import (
    CH_BOND_A,
    TAG_SHEET,
    check_layers_fit,
    layers_width_nm,
    pore_bounds_A,
)
from alkali_layers.elements import ALKALI_METALS, METALS
from alkali_layers.geometry import (
    TAG_METAL_FIRST_LAYER,
    closest_pair,
    metal_layer_index,
    metal_mask,
)


def carbon_coordination(atoms):
    from ase.neighborlist import neighbor_list

    i, j = neighbor_list("ij", atoms, 1.7)
    carbon = atoms.numbers == 6
    keep = carbon[i] & carbon[j]
    return np.bincount(i[keep], minlength=len(atoms))


# ------------------------------------------------------------------ wedge geometry
def test_wedge_pore_default_is_the_published_size_in_whole_rows():
    atoms = wedge_pore()
    info = atoms.info
    # 4 galleries of 0.56 ... 1.14 nm (linear): 0.56, 0.7533, 0.9467, 1.14 nm
    assert info["spacings_nm"] == pytest.approx([0.56, 0.7533, 0.9467, 1.14], abs=1e-4)
    assert info["width_nm"] == pytest.approx(3.40)  # sum of spacings
    # depth: 3 rows of 0.2130 nm + one C-C bond 0.142 nm = 0.781 nm (closest to 0.74)
    assert info["depth_nm"] == pytest.approx(3 * 0.21304 + 0.14203, abs=1e-3)
    assert 200 <= len(atoms) <= 400  # a few hundred atoms (C244H12)
    assert closest_pair(atoms).ratio > 0.9
    assert atoms.cell.orthorhombic and all(atoms.pbc)


def test_wedge_pore_spacing_profile_grows_linearly():
    atoms = wedge_pore(spacing_min_nm=0.6, spacing_max_nm=1.2, pore_width_nm=4.5)
    tags = atoms.get_tags()
    z = sorted(
        atoms.positions[tags == t, 2].mean()
        for t in np.unique(tags)
        if TAG_SHEET <= t < TAG_SHEET + 100
    )
    gaps = np.diff(z)
    # 5 galleries (5 x 0.9 nm = 4.5 nm) from 6 to 12 A in equal steps of 1.5 A
    assert gaps == pytest.approx([6.0, 7.5, 9.0, 10.5, 12.0], abs=1e-6)


def test_wedge_pore_edges_are_h_terminated():
    atoms = wedge_pore()
    coord = carbon_coordination(atoms)
    carbons = np.nonzero(atoms.numbers == 6)[0]
    edge = [int(c) for c in carbons if coord[c] == 2]
    # 3 ribbons x 2 edges x 2 edge carbons per 0.49 nm of zigzag edge
    assert len(edge) == 12 == (atoms.numbers == 1).sum()
    for c in edge:
        d = [
            atoms.get_distance(c, h, mic=True)
            for h in np.nonzero(atoms.numbers == 1)[0]
        ]
        assert min(d) == pytest.approx(CH_BOND_A, abs=1e-6)
    # no carbon with fewer than 2 C neighbours, none with more than 3
    assert coord[carbons].min() == 2 and coord[carbons].max() == 3


def test_wedge_pore_bare_edges_have_no_hydrogen():
    atoms = wedge_pore(terminate=False)
    assert (atoms.numbers == 1).sum() == 0
    assert atoms.info["pores"][0]["lateral_free_nm"] == atoms.info["depth_nm"]


@pytest.mark.parametrize(
    "vacancies, removed",
    [(("single",), 1), (("double",), 2), (("single", "double"), 3)],
)
def test_wedge_pore_vacancy_counts(vacancies, removed):
    pristine = wedge_pore()
    atoms = wedge_pore(vacancies=vacancies, seed=7)
    assert pristine.info["n_carbon"] - atoms.info["n_carbon"] == removed
    assert [v["kind"] for v in atoms.info["vacancies"]] == list(vacancies)
    coord = carbon_coordination(atoms)
    for v in atoms.info["vacancies"]:
        # a single vacancy leaves 3 two-fold carbons, a double vacancy 4
        assert len(v["neighbors"]) == (3 if v["kind"] == "single" else 4)
        assert all(coord[n] == 2 for n in v["neighbors"])


def test_wedge_pore_is_reproducible_from_its_arguments():
    a = wedge_pore(vacancies=("single", "double"), seed=3)
    b = wedge_pore(vacancies=("single", "double"), seed=3)
    assert np.array_equal(a.positions, b.positions)
    assert a.info["vacancies"] == b.info["vacancies"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(pore_width_nm=-1.0), "pore_width_nm"),
        (dict(pore_depth_nm=0.1), "pore_depth_nm"),
        (dict(spacing_min_nm=0.2), "spacing_min_nm"),
        (dict(spacing_max_nm=0.5), "spacing_max_nm"),
        (dict(vacancies=("triple",)), "allowed: single, double"),
        (dict(length_nm=1.2), "ribbons shorter"),
        (dict(periodic_cells=0), "periodic_cells"),
    ],
)
def test_wedge_pore_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        wedge_pore(**kwargs)


@pytest.mark.parametrize(
    "kwargs, name, smallest",
    [
        # pore_width_nm: two galleries (one ribbon) must be the closest whole
        # number, i.e. >= 1.5 x the mean spacing (0.56 + 1.14) / 2 = 1.275 nm
        (dict(pore_width_nm=0.1), "pore_width_nm", 1.275),
        (dict(pore_width_nm=0.0), "pore_width_nm", 1.275),
        (dict(pore_width_nm=-3.7), "pore_width_nm", 1.275),
        (dict(pore_width_nm=1.2), "pore_width_nm", 1.275),
        # pore_depth_nm: one Li row (3.70 A) between the H planes (2 x 1.09 A)
        # needs 3 graphene rows, 3 x 2.130 + 1.420 = 7.811 A
        (dict(pore_depth_nm=0.1), "pore_depth_nm", 0.782),
        (dict(pore_depth_nm=0.5), "pore_depth_nm", 0.782),
        (dict(pore_depth_nm=-1.0), "pore_depth_nm", 0.782),
        # bare edges: 3.70 A need 2 rows, 2 x 2.130 + 1.420 = 5.681 A
        (dict(pore_depth_nm=0.3, terminate=False), "pore_depth_nm", 0.569),
        # spacings out of order or below the graphite spacing
        (dict(spacing_min_nm=0.8, spacing_max_nm=0.6), "spacing_max_nm", 0.8),
        (dict(spacing_min_nm=0.0), "spacing_min_nm", 0.335),
        (dict(spacing_min_nm=-0.5), "spacing_min_nm", 0.335),
        # ribbons >= 1 nm beside the 0.781 nm pore: 5 cells of 0.426 nm
        (dict(length_nm=0.0), "length_nm", 2.131),
        (dict(length_nm=-2.0), "length_nm", 2.131),
    ],
)
def test_wedge_pore_impossible_sizes_name_the_smallest_allowed_value(
    kwargs, name, smallest
):
    """Guards the wedge-pore size checks: ``wedge_pore(pore_width_nm=0.1)`` used to
    build a 1.7 nm model, zero/negative lengths and pores narrower than a metal
    atom were accepted or gave vague errors.  Each impossible size must raise a
    ValueError naming the parameter and the smallest allowed value, and that
    value itself must build."""
    with pytest.raises(ValueError, match=rf"{name}=.*must be >= {smallest}\b"):
        wedge_pore(**kwargs)
    ok = {k: v for k, v in kwargs.items() if k != name}
    atoms = wedge_pore(**ok, **{name: smallest})
    assert atoms.info["host"] == "wedge_pore"


def test_wedge_pore_smallest_sizes_still_hold_a_metal_row():
    """The smallest allowed depth leaves room for one Li row between the edges."""
    atoms = wedge_pore(pore_width_nm=1.275, pore_depth_nm=0.782, length_nm=2.131)
    assert atoms.info["spacings_nm"] == pytest.approx([0.56, 1.14])
    assert max_layers(atoms, "Li") > 0
    bare = wedge_pore(pore_depth_nm=0.569, terminate=False)
    assert max_layers(bare, "Li") > 0


# ------------------------------------------------------------------ closed pores
def test_closed_pore_width_and_walls():
    atoms = closed_pore(1.0, wall_sheets=3)
    b = pore_bounds_A(atoms)
    assert b["z_hi"] - b["z_lo"] == pytest.approx(10.0)
    # 3 sheets per wall, 64 C each (4 x 4 rectangular cells of 4 C)
    assert atoms.info["n_carbon"] == 3 * 64
    assert atoms.cell[2, 2] == pytest.approx(10.0 + 2 * 3.35)


@pytest.mark.parametrize("width", [-0.5, 0.0, 0.2, float("nan"), "wide"])
def test_closed_pore_rejects_negative_or_too_small_widths(width):
    with pytest.raises(ValueError, match="width_nm"):
        closed_pore(width)


def test_pore_assembly_reaches_5000_atoms():
    atoms = pore_assembly([0.6, 1.0, 1.5, 2.0], size=(16, 10))
    # 4 pores x 2 wall sheets x 16 x 10 cells x 4 C = 5120 C
    assert len(atoms) == 5120
    assert [p["width_nm"] for p in atoms.info["pores"]] == [0.6, 1.0, 1.5, 2.0]
    # the 3.94 x 4.26 nm cell takes Na planes only with 2.2 % strain (> the 2 %
    # default): explicit bound, the model of the 5,000-atom benchmark
    filled = fill_pore(atoms, "Na", pore_index=3, max_strain=0.025)
    # 2.0 nm holds 6 Na layers: 0.450 + 5 x 0.3077 = 1.99 nm
    assert filled.info["n_layers"] == 6
    assert filled.info["metal_strain_pct"] == pytest.approx(2.2, abs=0.01)
    assert len(filled) > 5500


# ------------------------------------------------------------------ max_layers
@pytest.mark.parametrize(
    "metal, width_nm, expected",
    [
        # hand estimates: n layers need gic + (n-1) * a_fcc/sqrt(3)
        # (docs/science/geometry.md)
        ("Li", 1.0, 3),  # 3.70 + 2 x 2.539 = 8.78 A <= 10 < 11.32 A
        ("Na", 1.0, 2),  # 4.50 + 3.077 = 7.58 A <= 10 < 10.65 A
        ("K", 1.0, 2),  # 5.35 + 3.804 = 9.15 A
        ("Rb", 1.0, 2),  # 5.65 + 4.066 = 9.72 A
        ("Cs", 1.0, 1),  # 5.94 + 4.401 = 10.34 A > 10 A
        ("Na", 0.4, 0),  # below the 4.50 A GIC gallery
        ("Na", 2.0, 6),  # 4.50 + 5 x 3.077 = 19.9 A
        ("Li", 0.37, 1),  # exactly the LiC6 gallery
    ],
)
def test_max_layers_matches_hand_estimates(metal, width_nm, expected):
    assert max_layers(width_nm, metal) == expected
    assert max_layers(closed_pore(max(width_nm, 0.34)), metal) == (
        expected if width_nm >= 0.34 else 0
    )


def test_max_layers_error_says_what_fits_and_what_is_needed():
    with pytest.raises(
        ValueError, match=r"at most 2 fit; 3 layer\(s\) need a width of 1.065"
    ):
        check_layers_fit(1.0, "Na", 3)
    with pytest.raises(ValueError, match="at most 2 fit"):
        fill_pore(closed_pore(1.0), "Na", n_layers=3)


def test_wedge_pore_layers_need_room_between_the_edges():
    atoms = wedge_pore()
    # free depth 0.781 - 2 x 0.109 = 0.563 nm: one Na row (0.45) but no Cs (0.594)
    assert max_layers(atoms, "Na") == 10  # 3.40 nm across: 4.50 + 9 x 3.077 = 32.2 A
    assert max_layers(atoms, "Cs") == 0
    assert max_layers(wedge_pore(terminate=False), "Cs") > 0
    with pytest.raises(ValueError, match="no Cs layer fits between the edge"):
        fill_pore(atoms, "Cs")


# ------------------------------------------------------------------ filling
#: the smallest in-plane size of a closed pore whose cell takes each metal's
#: close-packed planes within the default 2 % strain
FITTING_SIZE = {"Li": (5, 5), "Na": (4, 4), "K": (5, 5), "Rb": (4, 4), "Cs": (8, 8)}


@pytest.mark.parametrize("metal", ALKALI_METALS)
def test_fill_pore_plates_all_metals_at_bulk_spacing(metal):
    pore = closed_pore(1.0, size=FITTING_SIZE[metal])
    atoms = fill_pore(pore, metal)
    data = METALS[metal]
    n = max_layers(pore, metal)
    tags = atoms.get_tags()
    z = [atoms.positions[tags == TAG_METAL_FIRST_LAYER + k, 2].mean() for k in range(n)]
    b = pore_bounds_A(pore)
    # plate: the first layer at the GIC metal-carbon distance from the lower wall
    assert z[0] - b["z_lo"] == pytest.approx(data.metal_carbon_distance_A)
    assert np.diff(z) == pytest.approx(data.layer_spacing_A("fcc"), abs=1e-9)
    assert atoms.info["metal_strain_pct"] <= 100 * DEFAULT_MAX_STRAIN
    assert closest_pair(atoms).ratio > 0.85
    # areal density of a close-packed plane: sqrt(3)/2 nn^2 per atom (+- strain)
    area = atoms.cell[0, 0] * atoms.cell[1, 1]
    per_layer = atoms.info["n_metal"] / n
    assert per_layer == pytest.approx(
        area / (np.sqrt(3) / 2 * data.close_packed_nn_A**2), rel=0.05
    )


def _nearest_in_plane(atoms, layer_tag):
    """Nearest-neighbour distances (A) within one metal layer, periodic in x, y."""
    from ase.geometry import get_distances

    xy = atoms.positions[atoms.get_tags() == layer_tag].copy()
    xy[:, 2] = 0.0
    d = get_distances(xy, cell=atoms.cell, pbc=[True, True, False])[1]
    d[np.diag_indices_from(d)] = np.inf
    return d.min(axis=1)


def test_fill_pore_bounds_the_metal_strain_in_every_direction():
    """Guards against silently strained metal planes: Na in
    ``closed_pore(1.0, size=(4, 2))`` needed 19.9 % and in the default wedge pore
    30.6 %, and fill_pore built them.  It must keep the default 2 % (the bilayer
    builders' bound) and name the size that fits."""
    assert DEFAULT_MAX_STRAIN == 0.02
    with pytest.raises(ValueError, match=r"19\.90 %.*size=\(4, 4\) \(1\.31 %\)"):
        fill_pore(closed_pore(1.0, size=(4, 2)), "Na")
    with pytest.raises(ValueError, match=r"30\.56 %.*wedge_pore\(periodic_cells=14\)"):
        fill_pore(wedge_pore(), "Na")
    with pytest.raises(ValueError, match="1 atom"):
        fill_pore(wedge_pore(), "Na")
    # an explicit larger bound builds the strained model and reports it per
    # direction: in the 4 x 2 cell the Na plane is compressed along x and
    # stretched along y; the largest principal strain bounds every direction
    atoms = fill_pore(closed_pore(1.0, size=(4, 2)), "Na", max_strain=0.2)
    info = atoms.info
    assert info["metal_strain_pct"] == pytest.approx(19.90, abs=0.01)
    assert info["metal_max_strain_pct"] == 20.0
    assert info["metal_strain_x_pct"] == pytest.approx(-1.31, abs=0.01)
    assert info["metal_strain_y_pct"] == pytest.approx(13.06, abs=0.01)
    assert max(map(abs, info["metal_strain_principal_pct"])) == pytest.approx(
        info["metal_strain_pct"]
    )
    # the suggested sizes do fit within the default bound
    ok = fill_pore(closed_pore(1.0, size=(4, 4)), "Na")
    nn = METALS["Na"].close_packed_nn_A
    d = _nearest_in_plane(ok, TAG_METAL_FIRST_LAYER)
    assert np.all(np.abs(d / nn - 1) <= DEFAULT_MAX_STRAIN + 1e-9)
    wedge = fill_pore(wedge_pore(periodic_cells=14), "Na")
    assert wedge.info["metal_atoms_per_row"] == 9
    assert wedge.info["metal_strain_x_pct"] == pytest.approx(1.54, abs=0.01)
    with pytest.raises(ValueError, match="max_strain must be a fraction"):
        fill_pore(closed_pore(1.0), "Na", max_strain=0.0)


def test_fill_pore_rows_of_a_wedge_pore_keep_the_bulk_row_spacing():
    """Guards the row spacing across the rows of a wedge-pore layer, which was not
    counted: the rows were spread over the whole free depth (here 2 Na rows 5.39 A
    apart instead of the bulk 3.26 A, +65 %).  Rows now sit at the bulk spacing,
    centred between the edges, and the strain across them is reported."""
    pore = wedge_pore(pore_depth_nm=1.2, periodic_cells=14)
    atoms = fill_pore(pore, "Na", n_layers=1)
    info = atoms.info
    assert info["metal_rows"] == 2
    assert info["metal_strain_y_pct"] == 0.0
    assert info["metal_strain_pct"] == pytest.approx(abs(info["metal_strain_x_pct"]))
    nn = METALS["Na"].close_packed_nn_A
    y = np.unique(np.round(atoms.positions[metal_mask(atoms), 1], 6))
    assert np.diff(y) == pytest.approx([nn * np.sqrt(3) / 2])
    lo, hi = pore_bounds_A(pore)["lateral"]
    assert y.mean() == pytest.approx(0.5 * (lo + hi))  # centred between the edges
    d = _nearest_in_plane(atoms, TAG_METAL_FIRST_LAYER)
    assert np.all(np.abs(d / nn - 1) <= DEFAULT_MAX_STRAIN + 1e-9)


def test_pore_carbons_are_not_metal():
    """Guards the metal role: pore carbons carry tags >= 100 (hydrogen >= 200),
    which the old ``tags >= 11`` test took for metal.  The role comes from the
    element, the layer from the tag."""
    atoms = fill_pore(wedge_pore(periodic_cells=14), "Na", n_layers=2)
    tags = atoms.get_tags()
    assert np.count_nonzero(tags >= TAG_METAL_FIRST_LAYER) > atoms.info["n_metal"]
    mask = metal_mask(atoms)
    assert np.array_equal(mask, atoms.numbers == 11)
    assert mask.sum() == atoms.info["n_metal"]
    layer = metal_layer_index(atoms)
    assert set(layer[~mask]) == {-1}
    assert set(layer[mask]) == {0, 1}


def test_fill_modes_differ_for_partial_filling():
    pore = closed_pore(1.4)  # 4 Na layers need 1.373 nm
    n = max_layers(pore, "Na")
    assert n == 4
    plate = fill_pore(pore, "Na", n_atoms=6, mode="plate")
    sandwich = fill_pore(pore, "Na", n_atoms=6, mode="sandwich")
    cluster = fill_pore(pore, "Na", n_atoms=6, mode="cluster")

    def layers(a):
        return Counter(int(k) for k in metal_layer_index(a) if k >= 0)

    assert layers(plate) == {0: 6}  # one island on the lower wall
    assert layers(sandwich) == {0: 3, n - 1: 3}  # both walls wetted
    assert set(layers(cluster)) <= {1, 2}  # compact, in the middle
    with pytest.raises(ValueError, match="allowed: cluster, plate, sandwich"):
        fill_pore(pore, "Na", mode="heap")
    with pytest.raises(ValueError, match="exceeds"):
        fill_pore(pore, "Na", n_atoms=10_000)
    with pytest.raises(ValueError, match="unknown metal"):
        fill_pore(pore, "Fr")


# ------------------------------------------------------------------ sites
def test_sites_of_a_wedge_pore_cover_every_kind():
    atoms = wedge_pore(vacancies=("single",), seed=1)
    sites = enumerate_sites(atoms, "Na")
    kinds = Counter(s.kind for s in sites)
    assert set(kinds) == set(SITE_KINDS)
    assert kinds["edge"] == 12  # one per edge carbon
    # no site overlaps the host: >= 0.85 x the Na-C distance (2.25 A)
    host = atoms.positions
    for s in sites:
        d = host - np.array(s.position_A)
        d -= np.diag(atoms.cell.array) * np.round(d / np.diag(atoms.cell.array))
        assert np.linalg.norm(d, axis=1).min() >= 0.85 * 2.25 - 1e-9


def test_sites_skip_galleries_too_narrow_for_the_metal():
    # the 3.35 A wall galleries take Li (LiC6 3.70 A x 0.9 = 3.33 A) but not Na
    pore = closed_pore(1.0)
    assert Counter(s.kind for s in enumerate_sites(pore, "Li"))["interlayer"] > 0
    assert Counter(s.kind for s in enumerate_sites(pore, "Na"))["interlayer"] == 0


def test_sites_avoid_metal_already_present():
    pore = fill_pore(closed_pore(1.0), "Na", n_atoms=4, mode="plate")
    metal = pore.positions[pore.numbers == 11]
    nn = METALS["Na"].close_packed_nn_A
    for s in enumerate_sites(pore, "Na"):
        d = metal - np.array(s.position_A)
        d -= np.diag(pore.cell.array) * np.round(d / np.diag(pore.cell.array))
        assert np.linalg.norm(d, axis=1).min() >= 0.8 * nn - 1e-9
    with pytest.raises(ValueError, match="unknown site kind"):
        enumerate_sites(pore, "Na", kinds=("hollow",))


def test_layers_width_matches_the_element_table():
    for metal in ALKALI_METALS:
        for n in range(1, 5):
            assert layers_width_nm(n, metal) * 10 == pytest.approx(
                METALS[metal].gallery_height_A(n)
            )


def test_cli_builds_pore_models(tmp_path):
    from ase.io import read

    from alkali_layers.cli import main

    out = tmp_path / "pore.extxyz"
    assert (
        main(
            [
                "build",
                "closed-pore",
                "--width",
                "1.0",
                "--metal",
                "Na",
                "--fill-mode",
                "sandwich",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert read(out).get_chemical_formula() == "C128Na28"  # 2 layers x 14 Na
    assert main(["build", "wedge-pore", "-o", str(out)]) == 0
    assert main(["build", "closed-pore", "--width", "-1", "-o", str(out)]) == 2
    assert (
        main(
            [
                "build",
                "closed-pore",
                "--metal",
                "Na",
                "--layers",
                "3",
                "--fill-mode",
                "plate",
                "-o",
                str(out),
            ]
        )
        == 2
    )
