"""Mode-by-mode comparison at the special points of the band path: by order, and
by character (eigenvector overlap) from force constants rebuilt from a folder."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from alkali_layers.analysis.phonon_modes import (
    compare_modes_matched,
    compare_special_points,
    match_modes,
    special_point_frequencies,
)
from alkali_layers.calculators.phonons import (
    load_phonopy,
    modes_at,
    phonons,
    special_qpoints,
)


@pytest.fixture(scope="module")
def two_cu_results():
    atoms = bulk("Cu", "fcc", a=3.59)
    return (
        phonons(atoms, EMT(), supercell=(3, 3, 3)),
        phonons(atoms.copy(), EMT(), supercell=(3, 3, 3), displacement=0.03),
    )


def test_special_points_of_the_fcc_path(two_cu_results):
    ref, _ = two_cu_results
    points = special_point_frequencies(ref)
    assert {"Γ", "X", "L", "K", "W", "U"} <= set(points)
    assert points["Γ"] == pytest.approx(sorted(ref.gamma_frequencies_THz), abs=1e-4)
    # X: two degenerate transverse modes below the longitudinal one
    assert points["X"][0] == pytest.approx(points["X"][1], abs=1e-3)
    assert points["X"][2] > points["X"][0]


def test_comparison_of_a_result_with_itself_is_zero(two_cu_results):
    ref, other = two_cu_results
    rows = compare_special_points(ref, ref.to_dict())
    assert rows and all(r["difference_THz"] == 0 for r in rows)
    rows = compare_special_points(ref, other, labels=("X", "L"))
    assert [r["label"] for r in rows] == ["X"] * 3 + ["L"] * 3
    # 0.01 vs 0.03 A displacements: EMT is nearly harmonic at this scale
    assert max(abs(r["difference_THz"]) for r in rows) < 0.05
    with pytest.raises(ValueError, match="not on both"):
        compare_special_points(ref, other, labels=("M",))


def _rotation(vecs, angle):
    """Two orthonormal columns rotated into each other (a basis change inside a
    degenerate subspace)."""
    c, s = np.cos(angle), np.sin(angle)
    a, b = vecs
    return c * a + s * b, -s * a + c * b


def test_match_modes_pairs_by_character_not_by_order():
    # the graphite-AB case: the reference has real interlayer modes (1.1 x2, 3.8),
    # the other has them imaginary, so by order they would sit below the acoustic
    # modes and be paired with them
    basis = np.eye(6)
    ref_f = np.array([0.0, 0.0, 0.0, 1.1, 1.1, 3.8])
    other_f = np.array([-1.38, -1.05, -1.05, 0.0, 0.0, 0.0])
    other_v = np.empty((6, 6))
    other_v[:, 0] = basis[:, 5]  # breathing
    other_v[:, 1], other_v[:, 2] = _rotation((basis[:, 3], basis[:, 4]), 0.5)  # shear
    other_v[:, 3], other_v[:, 4] = _rotation((basis[:, 0], basis[:, 1]), 1.0)
    other_v[:, 5] = basis[:, 2]
    pairs = match_modes(ref_f, basis, other_f, other_v)
    assert [i for i, _, _ in pairs] == [0, 1, 2, 3, 4, 5]
    partner = {i: j for i, j, _ in pairs}
    assert partner[5] == 0
    assert {partner[3], partner[4]} == {1, 2}
    assert {partner[0], partner[1], partner[2]} == {3, 4, 5}
    # a degenerate pair counts as one subspace whatever basis was chosen in it
    assert all(ov == pytest.approx(1.0) for _, _, ov in pairs)
    with pytest.raises(ValueError, match="not the same structure"):
        match_modes(ref_f, basis, other_f[:5], other_v[:5, :5])


def test_matched_comparison_of_two_emt_cells_from_their_folders(tmp_path):
    # Cu at two lattice constants, force constants rebuilt from the checkpoint
    # folders; X and L are commensurate with a 2x2x2 supercell of the primitive
    # cell, W (1/2, 1/4, 3/4) is not
    results = {}
    for name, a in (("ref", 3.59), ("other", 3.62)):
        results[name] = phonons(
            bulk("Cu", "fcc", a=a), EMT(), supercell=(2, 2, 2), folder=tmp_path / name
        )
    ref, other = load_phonopy(tmp_path / "ref"), load_phonopy(tmp_path / "other")
    points = special_qpoints(ref)
    x = modes_at(ref, points["X"])
    assert x[2] is True and modes_at(ref, points["W"])[2] is False
    # the rebuilt force constants give the frequencies phonons() stored
    stored = special_point_frequencies(results["ref"])["X"]
    assert sorted(x[0]) == pytest.approx(stored, abs=1e-3)
    rows = compare_modes_matched(
        {p: modes_at(ref, points[p]) for p in ("Γ", "X", "L")},
        {p: modes_at(other, points[p]) for p in ("Γ", "X", "L")},
    )
    assert [r["point"] for r in rows] == ["Γ"] * 3 + ["X"] * 3 + ["L"] * 3
    assert all(r["overlap"] == pytest.approx(1.0, abs=1e-6) for r in rows)
    assert all(r["commensurate"] for r in rows)
    # Γ: acoustic, no percentage; X, L: the expanded lattice is softer
    assert all(r["difference_pct"] is None for r in rows[:3])
    for r in rows[3:]:
        assert r["other_THz"] < r["reference_THz"]
        assert r["difference_pct"] == pytest.approx(
            100 * r["difference_THz"] / r["reference_THz"]
        )


def test_load_phonopy_refuses_an_unfinished_folder(tmp_path):
    phonons(bulk("Cu", "fcc", a=3.59), EMT(), supercell=(2, 2, 2), folder=tmp_path)
    (tmp_path / "forces" / "disp-0000.json").unlink()
    with pytest.raises(ValueError, match="missing"):
        load_phonopy(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_phonopy(tmp_path / "nothing")
