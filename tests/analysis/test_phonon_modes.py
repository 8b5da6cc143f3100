"""Mode-by-mode comparison at the special points of the band path."""

import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from alkali_layers.analysis.phonon_modes import (
    compare_special_points,
    special_point_frequencies,
)
from alkali_layers.calculators.phonons import phonons


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
