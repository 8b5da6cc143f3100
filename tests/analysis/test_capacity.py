import pytest
from ase import Atoms

from alkali_layers.analysis.capacity import (
    FARADAY_C_MOL,
    atoms_capacity_mAh_g,
    atoms_volumetric_capacity_mAh_cm3,
    capacity_mAh_g,
    composition_capacity_mAh_g,
    volumetric_capacity_mAh_cm3,
)
from alkali_layers.builders import bilayer_graphene, graphite_intercalation


def test_lic6_host_basis_is_372():
    # graphite convention (docs/science/capacity.md):
    # 96485.33 / (3.6 * 6 * 12.011) = 371.9
    assert composition_capacity_mAh_g({"C": 6, "Li": 1}, "Li", "host") == pytest.approx(
        371.9, abs=0.1
    )


def test_kc8_host_basis_is_279():
    assert composition_capacity_mAh_g({"C": 8, "K": 1}, "K", "host") == pytest.approx(
        278.9, abs=0.1
    )


def test_c6lic6_total_basis_is_177():
    # bilayer convention: 96485.33 / (3.6 * (12 * 12.011 + 6.94)) = 177.4
    atoms = bilayer_graphene("Li", 1, "AA")
    assert atoms_capacity_mAh_g(atoms, "Li", "total") == pytest.approx(177.4, abs=0.1)
    assert atoms_capacity_mAh_g(atoms, "Li", "host") == pytest.approx(186.0, abs=0.1)


def test_capacity_formula_by_hand():
    assert capacity_mAh_g(2, 100.0) == pytest.approx(2 * FARADAY_C_MOL / 360.0)


def test_volumetric_capacity_of_lic6_by_hand():
    atoms = graphite_intercalation("Li", "LiC6")
    volume = atoms.get_volume()  # 3 * 5.2406 A^2 * 3.70 A = 58.17 A^3
    assert volume == pytest.approx(58.17, abs=0.01)
    expected = 1.602176634e-19 / 3.6 / (volume * 1e-24)  # one e per cell, mAh/cm^3
    assert atoms_volumetric_capacity_mAh_cm3(atoms, "Li") == pytest.approx(expected)
    assert expected == pytest.approx(765.1, abs=0.2)
    assert volumetric_capacity_mAh_cm3(1, volume) == pytest.approx(expected)


def test_volumetric_capacity_refuses_slabs():
    with pytest.raises(ValueError, match="slab"):
        atoms_volumetric_capacity_mAh_cm3(bilayer_graphene("Li", 1), "Li")


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: composition_capacity_mAh_g({"C": 6, "Li": 1}, "Li", "carbon"),
            "host, total",
        ),
        (lambda: composition_capacity_mAh_g({"C": 6, "Li": 1}, "Mg"), "allowed"),
        (lambda: capacity_mAh_g(1, 0.0), "positive"),
        (lambda: capacity_mAh_g(-1, 10.0), ">= 0"),
    ],
)
def test_capacity_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_empty_host_has_zero_capacity():
    assert atoms_capacity_mAh_g(Atoms("C4"), "Na") == 0.0
