import pytest

from alkali_layers.elements import (
    ALKALI_METALS,
    METALS,
    check_metal,
    check_n_layers,
    check_packing,
    check_stacking,
    metal_data,
)

# docs/science/geometry.md (bcc a from ase.data.reference_states;
# close-packed nn and fcc(111) spacing at the bcc volume per atom), computed by hand:
# V = a^3/2, a_fcc = (4V)^(1/3), nn = a_fcc/sqrt2, spacing = a_fcc/sqrt3.
ELEMENT_TABLE = {
    "Li": (3.49, 21.25, 3.109, 2.539),
    "Na": (4.23, 37.84, 3.769, 3.077),
    "K": (5.23, 71.53, 4.659, 3.804),
    "Rb": (5.59, 87.34, 4.980, 4.066),
    "Cs": (6.05, 110.72, 5.390, 4.401),
}


@pytest.mark.parametrize("metal", ALKALI_METALS)
def test_element_table_matches_science_notes(metal):
    a, vol, nn, spacing = ELEMENT_TABLE[metal]
    d = METALS[metal]
    assert d.bcc_a_A == pytest.approx(a)
    assert d.atomic_volume_A3 == pytest.approx(vol, abs=0.01)
    assert d.close_packed_nn_A == pytest.approx(nn, abs=0.001)
    assert d.close_packed_layer_spacing_A == pytest.approx(spacing, abs=0.001)


def test_masses_are_standard_atomic_weights():
    # IUPAC: Li 6.94, Na 22.98977, K 39.0983, Rb 85.4678, Cs 132.90545
    assert METALS["Li"].mass_g_mol == pytest.approx(6.94)
    assert METALS["Na"].mass_g_mol == pytest.approx(22.98977, abs=1e-4)
    assert METALS["Cs"].mass_g_mol == pytest.approx(132.90545, abs=1e-4)


def test_gallery_heights_grow_from_li_to_cs_and_with_layers():
    one = [METALS[m].gallery_height_A(1) for m in ALKALI_METALS]
    assert one == sorted(one)
    assert METALS["Li"].gallery_height_A(1) == pytest.approx(3.70)  # LiC6
    assert METALS["K"].gallery_height_A(1) == pytest.approx(5.35)  # KC8
    assert METALS["Na"].gallery_height_A(3) == pytest.approx(4.50 + 2 * 3.077, abs=1e-3)


@pytest.mark.parametrize(
    "check, bad, allowed",
    [
        (check_metal, "Fr", "Li, Na, K, Rb, Cs"),
        (check_metal, "na", "Li, Na, K, Rb, Cs"),
        (check_stacking, "ABC", "AA, AB"),
        (check_packing, "diamond", "fcc, hcp, bcc"),
        (check_n_layers, 5, "from 0 to 4"),
        (check_n_layers, -1, "from 0 to 4"),
        (check_n_layers, 2.0, "from 0 to 4"),
        (check_n_layers, True, "from 0 to 4"),
    ],
)
def test_bad_input_names_allowed_values(check, bad, allowed):
    with pytest.raises(ValueError, match=allowed):
        check(bad)


def test_metal_data_rejects_unknown():
    with pytest.raises(ValueError, match="allowed"):
        metal_data("Mg")
