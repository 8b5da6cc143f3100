"""The Verlet-list collapse watch against a full neighbour search at every step."""

import numpy as np
import pytest
from ase import Atoms

from alkali_layers.geometry import CollapseWatch, closest_pair


def brute_force(atoms: Atoms, min_ratio: float):
    pair = closest_pair(atoms)
    return pair if pair is not None and pair.ratio < min_ratio else None


def random_cell(seed: int) -> Atoms:
    rng = np.random.default_rng(seed)
    n = 24
    cell = np.array([[6.0, 0.0, 0.0], [2.0, 5.5, 0.0], [0.5, 0.3, 5.0]])
    return Atoms(
        rng.choice(["C", "Na", "Li"], size=n),
        scaled_positions=rng.random((n, 3)),
        cell=cell,
        pbc=True,
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_watch_finds_the_same_pairs_as_a_full_search_along_a_random_walk(seed):
    # min_ratio 1.0: in a random cell some pairs are below it and some steps not
    atoms = random_cell(seed)
    rng = np.random.default_rng(seed + 10)
    watch = CollapseWatch(min_ratio=1.0, skin_A=0.8)
    hits = 0
    for _ in range(60):
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        expected = brute_force(atoms, 1.0)
        got = watch.closest(atoms)
        if expected is None:
            assert got is None
        else:
            hits += 1
            assert got is not None
            assert got.ratio == pytest.approx(expected.ratio, abs=1e-12)
            assert {got.i, got.j} == {expected.i, expected.j}
    assert hits > 0  # the walk did meet close pairs
    assert watch.builds < 30  # the list was reused between steps


def test_watch_rebuilds_when_an_atom_jumps_further_than_half_the_skin():
    atoms = Atoms("Na2", positions=[[0, 0, 0], [5.0, 0, 0]], cell=[20, 20, 20])
    watch = CollapseWatch(min_ratio=0.7, skin_A=1.0)
    assert watch.closest(atoms) is None and watch.builds == 1
    atoms.positions[1, 0] = 1.0  # 4 A in one step: not in the list built at 5 A
    pair = watch.closest(atoms)
    assert watch.builds == 2
    assert pair is not None and pair.distance_A == pytest.approx(1.0)


def test_watch_sees_an_atom_too_close_to_its_own_periodic_image():
    atoms = Atoms("Na", positions=[[0, 0, 0]], cell=[1.5, 10, 10], pbc=True)
    pair = CollapseWatch().closest(atoms)
    assert pair is not None and (pair.i, pair.j) == (0, 0)
    assert pair.distance_A == pytest.approx(1.5)


def test_watch_follows_a_changing_cell():
    atoms = Atoms(
        "C2", positions=[[0, 0, 0], [1.5, 0, 0]], cell=[3.0, 10, 10], pbc=True
    )
    watch = CollapseWatch(min_ratio=0.7)
    assert watch.closest(atoms) is None
    atoms.set_cell([1.6, 10, 10], scale_atoms=True)  # C-C 0.8 A: collapsed
    pair = watch.closest(atoms)
    assert pair is not None and pair.distance_A == pytest.approx(0.8)
    assert pair == brute_force(atoms, 0.7)


def test_metal_role_comes_from_the_element_not_the_tag():
    """Guards the metal role: pore carbons carry tags >= 100 and hydrogen >= 200,
    which the ``tags >= 11`` test of geometry/relax/charges took for metal.
    :func:`metal_mask` must count only alkali atoms, and
    :func:`metal_outside_gallery` must not report a carbon with a pore tag."""
    from alkali_layers.builders import bilayer_graphene, closed_pore, fill_pore
    from alkali_layers.geometry import (
        TAG_METAL_FIRST_LAYER,
        metal_layer_index,
        metal_mask,
        metal_outside_gallery,
    )

    pore = fill_pore(closed_pore(1.0), "Na", n_atoms=5)
    tags = pore.get_tags()
    assert np.all(tags[pore.numbers == 6] >= TAG_METAL_FIRST_LAYER)  # the overlap
    mask = metal_mask(pore)
    assert mask.sum() == 5 == pore.info["n_metal"]
    assert not mask[pore.numbers == 6].any()
    assert np.all(metal_layer_index(pore)[~mask] == -1)
    assert np.all(metal_layer_index(pore)[mask] == 0)
    # a bilayer with an extra carbon tagged as a pore sheet, outside the gallery
    atoms = bilayer_graphene("Li", n_layers=1)
    assert metal_outside_gallery(atoms) == []
    top = atoms.positions[:, 2].max()
    atoms += Atoms("C", positions=[[0.0, 0.0, top + 3.0]], tags=[100])
    assert metal_outside_gallery(atoms) == []
    li = np.nonzero(atoms.numbers == 3)[0][0]
    atoms.positions[li, 2] = top + 6.0  # a metal atom that did leave the gallery
    assert metal_outside_gallery(atoms) == [int(li)]


def test_graphene_lattice_and_in_plane_metal_distance_of_bilayer_models():
    """By hand: one metal per sqrt(3) x sqrt(3) cell sits sqrt(3) a from its images;
    two Cs layers in the 2x2 cell are 2a apart in plane; stretching the cell by 1 %
    stretches both by 1 %."""
    from alkali_layers.builders import bilayer_graphene
    from alkali_layers.geometry import (
        graphene_lattice_A,
        in_plane_geometry,
        metal_in_plane_nn_A,
    )

    one = bilayer_graphene("Li", 1)
    assert graphene_lattice_A(one) == pytest.approx(2.46, abs=1e-9)
    assert metal_in_plane_nn_A(one) == pytest.approx(np.sqrt(3) * 2.46, abs=1e-9)
    two = bilayer_graphene("Cs", 2, max_strain=0.1)
    assert metal_in_plane_nn_A(two) == pytest.approx(2 * 2.46, abs=1e-9)
    stretched = two.copy()
    cell = stretched.cell.copy()
    cell[:2] *= 1.01
    stretched.set_cell(cell, scale_atoms=True)
    assert in_plane_geometry(stretched) == pytest.approx(
        {"graphene_a_A": 2.46 * 1.01, "metal_nn_A": 2 * 2.46 * 1.01}
    )
    assert in_plane_geometry(Atoms("Na", cell=[3, 3, 3], pbc=True)) == {}


def test_gallery_force_by_hand():
    """(sum F_z top - sum F_z bottom) / 2, positive opening the gallery: a model
    whose sheets are each pushed toward the other by 0.03 eV/A per atom."""
    from alkali_layers.builders import bilayer_graphene
    from alkali_layers.geometry import (
        TAG_BOTTOM_SHEET,
        TAG_TOP_SHEET,
        gallery_force_eV_A,
    )

    atoms = bilayer_graphene("Rb", 1, stacking="AB")
    tags = atoms.get_tags()
    forces = np.zeros((len(atoms), 3))
    forces[tags == TAG_BOTTOM_SHEET, 2] = +0.03
    forces[tags == TAG_TOP_SHEET, 2] = -0.03
    forces[~np.isin(tags, (TAG_BOTTOM_SHEET, TAG_TOP_SHEET)), :] = 0.5  # metal: no part
    n_sheet = int((tags == TAG_TOP_SHEET).sum())
    assert gallery_force_eV_A(atoms, forces) == pytest.approx(-0.03 * n_sheet)
    assert gallery_force_eV_A(atoms, -forces) == pytest.approx(+0.03 * n_sheet)
    with pytest.raises(ValueError, match="forces of shape"):
        gallery_force_eV_A(atoms, forces[:-1])
    with pytest.raises(ValueError, match="not a bilayer model"):
        gallery_force_eV_A(Atoms("Na", cell=[3, 3, 3], pbc=True), np.zeros((1, 3)))


def test_first_extreme_ignores_rounding_noise_between_tied_values():
    from alkali_layers.geometry import first_extreme

    tied = np.array([3.0, 1.0 + 1e-13, 1.0, 1.0 - 1e-13, 2.0])
    assert int(np.argmin(tied)) == 3  # the noise chooses
    assert first_extreme(tied) == 1  # the first of the tied
    assert first_extreme(-tied, largest=True) == 1
    assert first_extreme([2.0, 1.0, 1.5]) == 1  # a real minimum still wins
