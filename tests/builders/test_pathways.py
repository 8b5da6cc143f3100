"""Endpoint builders of the migration pathways (alkali_layers.builders.pathways)."""

import numpy as np
import pytest
from ase.geometry import find_mic

from alkali_layers.builders.pathways import (
    GALLERY_SPACINGS_A,
    PATHWAYS,
    adatom_site,
    gallery_hop,
    graphene_hop,
    migration_path,
    path_endpoints,
    pathway_endpoints,
)
from alkali_layers.calculators.barriers import check_endpoints
from alkali_layers.elements import ALKALI_METALS, GRAPHENE_A, metal_data
from alkali_layers.geometry import metal_mask


def _moved(initial, final):
    d, lengths = find_mic(final.positions - initial.positions, initial.cell, True)
    return np.nonzero(lengths > 1e-9)[0], lengths


@pytest.mark.parametrize("metal", ALKALI_METALS)
@pytest.mark.parametrize("pathway", [p for p in PATHWAYS if p != "gallery_hop"])
def test_every_pathway_is_one_hop_of_one_metal_atom(pathway, metal):
    initial, final = pathway_endpoints(pathway, metal)
    check_endpoints(initial, final)  # same atoms, order and cell
    moved, lengths = _moved(initial, final)
    hop = initial.info["hop_atom"]
    assert list(moved) == [hop]
    assert initial.get_chemical_symbols()[hop] == metal
    assert lengths[hop] == pytest.approx(initial.info["hop_length_A"], abs=1e-3)
    assert initial.info["pathway"] == pathway and initial.info["metal"] == metal
    assert initial.info["spacing_A"] is None
    assert len(initial) < 120  # tens of atoms: affordable on a 2-core CPU


def test_adatom_hop_is_one_graphene_lattice_constant_over_a_bridge():
    initial, final = graphene_hop("Li")
    hop = initial.info["hop_atom"]
    assert initial.info["hop_length_A"] == pytest.approx(GRAPHENE_A, abs=1e-3)
    # the midpoint of the hop is above a C-C bond centre (bridge): two C atoms at
    # a / (2 sqrt 3) = 0.71 A in-plane distance
    mid = (initial.positions[hop] + final.positions[hop]) / 2
    carbon = initial[[a.symbol == "C" for a in initial]]
    vec = carbon.positions - mid
    vec[:, 2] = 0.0
    _, d_xy = find_mic(vec, initial.cell, True)
    assert np.sort(d_xy)[:2] == pytest.approx([GRAPHENE_A / (2 * np.sqrt(3))] * 2)


def test_vacancy_hops_jump_to_the_nearest_neighbour_distance():
    initial, _ = pathway_endpoints("bulk_vacancy_hop", "Na")
    a = metal_data("Na").bcc_a_A
    assert initial.info["hop_length_A"] == pytest.approx(np.sqrt(3) * a / 2, abs=1e-3)
    assert len(initial) == 15  # 16 bcc sites, one vacancy
    initial, _ = pathway_endpoints("bilayer_vacancy_hop", "Na")
    assert initial.info["hop_length_A"] == pytest.approx(
        np.sqrt(3) * GRAPHENE_A, abs=1e-3
    )
    assert np.sum(metal_mask(initial)) == 3  # C6MC6 2x2, one vacancy


def test_interface_fixes_the_outer_metal_layer_only():
    initial, _ = pathway_endpoints("interface_vacancy_hop", "Na")
    fixed = initial.info["neb_fixed"]
    assert fixed and initial.info["hop_atom"] not in fixed
    assert set(initial.get_tags()[fixed]) == {12}
    assert 2 not in set(initial.get_tags())  # one graphene sheet


@pytest.mark.parametrize("spacing", GALLERY_SPACINGS_A)
def test_gallery_hop_has_the_requested_spacing(spacing):
    initial, final = gallery_hop("Li", spacing)
    assert initial.cell[2, 2] == pytest.approx(spacing)
    assert initial.info["spacing_A"] == spacing
    hop = initial.info["hop_atom"]
    # midplane of narrow galleries; on one wall (stage-1 distance) of wide ones
    wall = metal_data("Li").metal_carbon_distance_A
    assert initial.positions[hop, 2] == pytest.approx(min(spacing / 2, wall))
    assert initial.positions[hop, 2] < spacing / 2 or spacing / 2 <= wall
    check_endpoints(initial, final)


def test_gallery_too_narrow_for_the_metal_raises():
    with pytest.raises(ValueError, match="overlap"):
        gallery_hop("Cs", 3.4)
    with pytest.raises(ValueError, match="positive"):
        gallery_hop("Li", -1.0)


def test_bad_pathway_arguments_raise():
    with pytest.raises(ValueError, match="unknown pathway"):
        pathway_endpoints("tunnel", "Li")
    with pytest.raises(ValueError, match="needs spacing_A"):
        pathway_endpoints("gallery_hop", "Li")
    with pytest.raises(ValueError, match="takes no spacing_A"):
        pathway_endpoints("graphene_hop", "Li", 3.74)
    with pytest.raises(ValueError, match="unknown metal"):
        pathway_endpoints("graphene_hop", "Fr")


def test_migration_path_round_trips_to_the_same_endpoints():
    initial, final = pathway_endpoints("gallery_hop", "Na", 4.5)
    atoms = migration_path("gallery_hop", "Na", 4.5)
    back_i, back_f = path_endpoints(atoms)
    assert np.allclose(back_i.positions, initial.positions)
    assert np.allclose(back_f.positions, final.positions, atol=1e-6)
    with pytest.raises(ValueError, match="not a migration path"):
        path_endpoints(initial[:3])


# --- cell size and fixed adsorption sites (runs/barriers/li_graphene_diagnosis) --
def _lateral(atoms, index):
    """In-plane distances (A, minimum image) of every carbon from atom ``index``."""
    carbon = [i for i in range(len(atoms)) if atoms.numbers[i] == 6]
    vec = atoms.positions[carbon] - atoms.positions[index]
    vec[:, 2] = 0.0
    return np.sort(find_mic(vec, atoms.cell, True)[1])


def test_graphene_hop_supercell_sets_the_cell_and_keeps_the_hop():
    initial, final = graphene_hop("Li", supercell=4)
    assert len(initial) == 33  # 4x4 graphene cells = 32 C, plus the adatom
    assert initial.cell.lengths()[0] == pytest.approx(4 * GRAPHENE_A, abs=1e-6)
    assert initial.info["hop_length_A"] == pytest.approx(GRAPHENE_A, abs=1e-3)
    assert initial.info["supercell"] == [[4, 0], [0, 4]]
    built = migration_path("graphene_hop", "Li", supercell=4)
    assert len(built) == 33
    # the default is the 3x3 cell of runs/barriers, unchanged
    assert len(migration_path("graphene_hop", "Li")) == 19


def test_supercell_is_refused_where_the_host_sets_the_cell():
    with pytest.raises(ValueError, match="takes no supercell"):
        migration_path("bulk_vacancy_hop", "Li", supercell=4)
    with pytest.raises(ValueError, match="supercell must be an integer >= 2"):
        graphene_hop("Li", supercell=1)


@pytest.mark.parametrize(
    "site, nearest",
    [
        ("hollow", [np.sqrt(3) * GRAPHENE_A / 3] * 6),  # C-C 1.42 A, six corners
        ("bridge", [np.sqrt(3) * GRAPHENE_A / 6] * 2),  # half a C-C bond, two C
        ("top", [0.0] + [np.sqrt(3) * GRAPHENE_A / 3] * 3),
    ],
)
def test_adatom_sites_sit_above_the_named_site(site, nearest):
    atoms = adatom_site("Li", site)
    adatom = atoms.info["hop_atom"]
    assert atoms.get_chemical_symbols()[adatom] == "Li" and len(atoms) == 19
    d = _lateral(atoms, adatom)
    assert d[: len(nearest)] == pytest.approx(nearest, abs=1e-3)
    assert d[len(nearest)] > nearest[-1] + 0.3  # no further carbon at that distance


def test_adatom_site_holds_the_adatom_and_one_far_carbon_in_plane():
    from ase.constraints import FixCartesian

    atoms = adatom_site("Na", "bridge", supercell=4)
    (constraint,) = atoms.constraints
    assert isinstance(constraint, FixCartesian)
    adatom = atoms.info["hop_atom"]
    anchor = [int(i) for i in constraint.index if i != adatom]
    assert sorted(int(i) for i in constraint.index) == sorted([adatom, *anchor])
    assert constraint.mask.tolist() == [True, True, False]  # z stays free
    # the anchor is the carbon farthest from the adatom (>= half the cell away)
    far = atoms.get_distances(adatom, anchor, mic=True)[0]
    assert far >= atoms.get_distances(adatom, range(adatom), mic=True).max() - 1e-9


def test_bridge_site_is_the_midpoint_of_the_graphene_hop():
    initial, final = graphene_hop("Li")
    hop = initial.info["hop_atom"]
    mid = (initial.positions[hop] + final.positions[hop]) / 2
    bridge = adatom_site("Li", "bridge")
    assert bridge.positions[-1][:2] == pytest.approx(mid[:2], abs=1e-9)
    hollow = adatom_site("Li", "hollow")
    assert hollow.positions[-1][:2] == pytest.approx(initial.positions[hop][:2])


def test_adatom_site_bad_input():
    with pytest.raises(ValueError, match="allowed: hollow, bridge, top"):
        adatom_site("Li", "centre")
    with pytest.raises(ValueError, match="Fr|metal"):
        adatom_site("Fr", "top")
