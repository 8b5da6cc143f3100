"""Free energies at temperature: vibrational formation-energy shift, voltage steps at
300 K, ideal-lattice-gas configurational terms (hand-computed numbers)."""

import math

import numpy as np
import pytest

from alkali_layers.analysis.hard_carbon import VoltageStep
from alkali_layers.analysis.thermo import (
    KB_EV_K,
    formation_rows_at_temperature,
    lattice_gas_entropy_eV_K,
    lattice_gas_mu_shift_eV,
    lattice_gas_step_V,
    profile_at_temperature,
    vibrational_formation_shift_eV_per_metal_atom,
)


def _row(label, formula, energy, host, metal="", stacking="", f300=0.0):
    # F_vib(T) linear from 0 at 0 K to f300 at 300 K (only the 300 K value matters)
    return {
        "label": label,
        "formula": formula,
        "energy_eV": energy,
        "host": host,
        "metal": metal,
        "stacking": stacking,
        "data": {
            "phonons": {"temperatures_K": [0.0, 300.0], "free_energy_eV": [0.0, f300]}
        },
    }


def test_vibrational_shift_by_hand():
    # F(model) = -0.50 eV, 12 C at -0.02 eV/C, 2 Li at -0.05 eV/atom:
    # (-0.50 + 0.24 + 0.10) / 2 = -0.08 eV per Li
    shift = vibrational_formation_shift_eV_per_metal_atom(-0.50, 2, 12, -0.02, -0.05)
    assert shift == pytest.approx(-0.08)
    with pytest.raises(ValueError):
        vibrational_formation_shift_eV_per_metal_atom(0.0, 0, 12, 0.0, 0.0)


def test_formation_rows_at_300K_by_hand():
    rows = [
        _row("bulk-Li", "Li2", -4.0, "bulk", "Li", f300=-0.10),  # mu=-2, f=-0.05
        _row("host", "C4", -36.0, "bilayer_graphene", stacking="AA", f300=0.08),
        # 1 Li in 12 C: E = 12*(-9) - 2 - 0.3 -> E_f = -0.3; F = 0.24 + (-0.05) - 0.02
        _row("Li-1L", "LiC12", -110.3, "bilayer_graphene", "Li", "AA", f300=0.17),
        # 4 Li in 24 C: E_f = -0.1 eV; dF = 0.50 - 24*0.02 - 4*(-0.05) = +0.22
        _row(
            "Li-2L",
            "Li4C24",
            -216.0 - 8.0 - 0.4,
            "bilayer_graphene",
            "Li",
            "AA",
            f300=0.50,
        ),
        _row("orphan", "NaC12", -110.0, "bilayer_graphene", "Na", "AA", f300=0.1),
    ]
    out = {r["label"]: r for r in formation_rows_at_temperature(rows, 300.0)}
    assert set(out) == {"Li-1L", "Li-2L"}  # Na has no bulk reference
    one, two = out["Li-1L"], out["Li-2L"]
    assert one["formation_energy_eV_per_metal_atom"] == pytest.approx(-0.3)
    assert one["delta_300K_eV_per_metal_atom"] == pytest.approx(-0.02)
    assert one["formation_energy_eV_per_metal_atom_300K"] == pytest.approx(-0.32)
    assert two["formation_energy_eV_per_metal_atom"] == pytest.approx(-0.1)
    assert two["delta_300K_eV_per_metal_atom"] == pytest.approx(0.22 / 4)
    # steps: x = 1/12 then 1/6; V1 = -E_f1; V2 = -(x2 Ef2 - x1 Ef1)/(x2 - x1)
    assert one["voltage_step_V"] == pytest.approx(0.3)
    assert one["voltage_step_V_300K"] == pytest.approx(0.32)
    v2 = -((1 / 6) * -0.1 - (1 / 12) * -0.3) / (1 / 12)
    assert two["voltage_step_V"] == pytest.approx(v2)  # = -0.1 V
    v2t = -((1 / 6) * (-0.1 + 0.055) - (1 / 12) * -0.32) / (1 / 12)
    assert two["voltage_step_V_300K"] == pytest.approx(v2t)


def test_lattice_gas_terms_by_hand():
    # c = 1/2: no shift, S = k_B N ln 2
    assert lattice_gas_mu_shift_eV(0.5, 300.0) == pytest.approx(0.0)
    assert lattice_gas_entropy_eV_K(10, 0.5) == pytest.approx(
        10 * KB_EV_K * math.log(2)
    )
    # c = 0.9 at 300 K: k_B T ln 9 = 8.617e-5 * 300 * 2.1972 = 0.05680 eV
    assert lattice_gas_mu_shift_eV(0.9, 300.0) == pytest.approx(0.056801, abs=1e-5)
    assert lattice_gas_entropy_eV_K(5, 0.0) == 0.0
    # -T dS/dn = mu shift: numerical derivative of S(n) for N = 1000
    n_sites, n = 1000, 700
    ds_dn = (
        lattice_gas_entropy_eV_K(n_sites, (n + 1) / n_sites)
        - lattice_gas_entropy_eV_K(n_sites, (n - 1) / n_sites)
    ) / 2
    assert -300.0 * ds_dn == pytest.approx(
        lattice_gas_mu_shift_eV(0.7, 300.0), rel=1e-4
    )
    with pytest.raises(ValueError):
        lattice_gas_mu_shift_eV(1.0, 300.0)


def test_lattice_gas_rounds_a_step_into_a_slope():
    c, v = lattice_gas_step_V(0.2, 300.0)
    assert np.all(np.diff(v) < 0)  # voltage falls as the step fills
    assert v[len(v) // 2] == pytest.approx(0.2)  # V0 at half filling
    c0, v0 = lattice_gas_step_V(0.2, 0.0)
    assert np.allclose(v0, 0.2)
    steps = [VoltageStep(0, 2, 0.5, 0.0, 100.0), VoltageStep(2, 4, 0.1, 100.0, 200.0)]
    q, v = profile_at_temperature(steps, 300.0, n_points=5)
    assert q[0] == pytest.approx(0.5) and q[-1] == pytest.approx(199.5)
    assert v[2] == pytest.approx(0.5) and v[7] == pytest.approx(0.1)


def test_filling_profile_at_300K_keeps_the_step_voltage_at_half_filling():
    from alkali_layers.analysis.thermo import filling_profiles

    # 0 -> 4 Na at -(E4 - E0 - 4 mu)/4 = -(-406.0 + 400 + 5.2)/4 = 0.2 V; 4 -> 8 at
    # -(-411.4 + 406.0 + 5.2)/4 = 0.05 V
    filling = {
        "metal": "Na",
        "mu_metal_eV": -1.3,
        "host_counts": {"C": 64},
        "steps": [
            {"n_metal": 0, "energy_eV": -400.0},
            {"n_metal": 4, "energy_eV": -406.0},
            {"n_metal": 8, "energy_eV": -411.4},
        ],
    }
    profile, (q, v) = filling_profiles(filling, 300.0)
    assert [s.voltage_V for s in profile.steps] == pytest.approx([0.2, 0.05])
    assert len(q) == 2 * 41
    assert v[20] == pytest.approx(0.2) and v[61] == pytest.approx(0.05)
    assert q[-1] < profile.steps[-1].capacity2_mAh_g


def test_capacity_between_voltages_by_hand():
    from alkali_layers.analysis.thermo import capacity_between_mAh_g

    # V falls linearly 0.2 -> -0.2 V over 0 -> 100 mAh/g: half above 0 V, a quarter
    # between 0 and 0.1 V; a flat step at 0.05 V (100 -> 150) counts in both
    q = [0.0, 100.0, 100.0, 150.0]
    v = [0.2, -0.2, 0.05, 0.05]
    assert capacity_between_mAh_g(q, v) == pytest.approx(50.0 + 50.0)
    assert capacity_between_mAh_g(q, v, 0.0, 0.1) == pytest.approx(25.0 + 50.0)


def test_harmonic_free_energy_by_hand():
    from alkali_layers.analysis.thermo import harmonic_free_energy_eV

    # one 10 THz mode: h nu = 4.135667696e-15 eV s * 1e13 /s = 0.04135668 eV;
    # k_B T (300 K) = 8.617333262e-5 * 300 = 0.02585200 eV; x = 1.599747,
    # e^-x = 0.2019476, ln(1 - e^-x) = -0.2255811;
    # F = h nu / 2 + k_B T ln(1 - e^-x) = 0.02067834 - 0.00583172 = 0.01484662 eV
    assert harmonic_free_energy_eV([10.0], 300.0) == pytest.approx(0.0148466, abs=2e-7)
    # 0 K: the zero-point energy; acoustic (0) and imaginary (< 0) modes left out
    assert harmonic_free_energy_eV([0.0, -1.0, 10.0], 0.0) == pytest.approx(
        0.02067834, abs=1e-8
    )
    with pytest.raises(ValueError, match="temperature"):
        harmonic_free_energy_eV([10.0], -1.0)


def test_pore_step_with_vibrational_free_energies_by_hand():
    from alkali_layers.analysis.thermo import filling_profiles_vibrational

    filling = {
        "metal": "Na",
        "mu_metal_eV": -1.3,
        "host_counts": {"C": 64},
        "steps": [
            {"n_metal": 0, "energy_eV": -400.0},
            {"n_metal": 2, "energy_eV": -402.0},  # above the hull, no phonons
            {"n_metal": 4, "energy_eV": -406.0},
        ],
    }
    # 0 K: -(-406 + 400 + 4 * 1.3) / 4 = 0.2 V.  300 K with F_vib(0) = 9.0 eV,
    # F_vib(4) = 9.1 eV, f_Na = -0.08 eV/atom:
    # -[(-406 + 9.1) - (-400 + 9.0) - 4 (-1.3 - 0.08)] / 4 = -(-5.9 + 5.52) / 4
    # = 0.095 V: the compound gains less vibrational free energy than 4 bcc Na
    static, hot, (q, v) = filling_profiles_vibrational(
        filling, {0: 9.0, 4: 9.1}, -0.08, 300.0
    )
    assert [(s.n1, s.n2) for s in static.steps] == [(0, 4)]
    assert static.steps[0].voltage_V == pytest.approx(0.2)
    assert hot.steps[0].voltage_V == pytest.approx(0.095)
    # the lattice gas is centred on the 300 K step
    assert v[20] == pytest.approx(0.095)
    # other static energies (re-relaxed structures): -(-406.4 + 400 + 4 * 1.3) / 4
    static2, hot2, _ = filling_profiles_vibrational(
        filling,
        {0: 9.0, 4: 9.1},
        -0.08,
        300.0,
        energies_eV={0: -400.0, 4: -406.4},
        mu_metal_eV=-1.3,
    )
    assert static2.steps[0].voltage_V == pytest.approx(0.3)
    assert hot2.steps[0].voltage_V == pytest.approx(0.195)
    with pytest.raises(ValueError, match="empty pore"):
        filling_profiles_vibrational(filling, {4: 9.1}, -0.08, 300.0)
    with pytest.raises(ValueError, match="no filling step"):
        filling_profiles_vibrational(filling, {0: 9.0, 5: 9.1}, -0.08, 300.0)
