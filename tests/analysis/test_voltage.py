import math

import pytest

from alkali_layers.analysis.voltage import (
    formation_energy_eV_per_metal_atom,
    successive_voltage_steps_V,
    voltage_step_V,
)


def test_formation_energy_by_hand():
    # E = -100, host -90, 2 metal atoms at mu = -1.5: (-100 + 90 + 3) / 2 = -3.5
    assert formation_energy_eV_per_metal_atom(-100.0, 2, -90.0, -1.5) == pytest.approx(
        -3.5
    )
    with pytest.raises(ValueError):
        formation_energy_eV_per_metal_atom(-1.0, 0, -1.0, -1.0)


def test_first_step_from_the_empty_host_is_minus_the_formation_energy():
    assert voltage_step_V(0.0, 0.0, 1 / 12, -0.2) == pytest.approx(0.2)


def test_voltage_per_carbon_equals_the_direct_formula_in_one_supercell():
    # one supercell with N_C = 24: E(n) total energies, mu = -1.3 eV
    n_c, mu, e_host = 24, -1.3, -220.0
    e = {2: -223.2, 5: -227.0}
    direct = -(e[5] - e[2] - 3 * mu) / 3  # docs/science/energies.md
    ef = {n: formation_energy_eV_per_metal_atom(e[n], n, e_host, mu) for n in e}
    assert voltage_step_V(2 / n_c, ef[2], 5 / n_c, ef[5]) == pytest.approx(direct)


def test_successive_steps_and_missing_points():
    steps = successive_voltage_steps_V([0.1, 0.2, 0.3], [-0.5, -0.3, None])
    assert steps[0] == pytest.approx(0.5)
    assert steps[1] == pytest.approx(-(0.2 * -0.3 - 0.1 * -0.5) / 0.1)  # 0.1 V
    assert steps[2] is None
    after_nan = successive_voltage_steps_V([0.1, 0.2], [math.nan, -0.3])
    assert after_nan == [None, None]


def test_voltage_step_needs_increasing_composition():
    with pytest.raises(ValueError, match="x1 < x2"):
        voltage_step_V(0.2, -0.1, 0.1, -0.2)
