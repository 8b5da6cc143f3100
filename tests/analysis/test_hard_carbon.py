import numpy as np
import pytest

from alkali_layers.analysis.capacity import FARADAY_C_MOL
from alkali_layers.analysis.hard_carbon import (
    average_voltage_V,
    closed_pore_volume_cm3_g,
    lower_convex_hull,
    metal_density_g_cm3,
    metal_volumetric_capacity_mAh_cm3,
    plateau_capacity_from_pore_volume,
    pore_size_scan,
    split_slope_plateau,
    voltage_profile,
)

C_MASS = 12.011  # g/mol (IUPAC)
# Synthetic E(n) of a 72-carbon host, mu = -1.0 eV: g(n) = E(n) - E(0) - n mu is
# 0, -0.6, -1.0, -0.9 (above the hull), -1.3, -1.35, -1.38, -1.30 at n = 0..7.
N = [0, 1, 2, 3, 4, 5, 6, 7]
G = [0.0, -0.6, -1.0, -0.9, -1.3, -1.35, -1.38, -1.30]
MU = -1.0
E = [g + n * MU + 100.0 for n, g in zip(N, G, strict=True)]  # E(0) = 100 eV


def test_lower_convex_hull_drops_points_above_it():
    # by hand: slopes 0->1 -0.6, 1->2 -0.4, 2->4 -0.15, 4->5 -0.05, 5->6 -0.03,
    # 6->7 +0.08; n = 3 lies above the chord 2 -> 4 (-1.15 < -0.9)
    assert lower_convex_hull(N, G) == [0, 1, 2, 4, 5, 6, 7]
    # equal n: the lowest energy wins; collinear interior points are dropped
    assert lower_convex_hull([0, 1, 1, 2], [0, -1, -2, -4]) == [0, 3]
    with pytest.raises(ValueError, match="same"):
        lower_convex_hull([0, 1], [0.0])


def test_voltage_profile_on_synthetic_energies():
    prof = voltage_profile(N, E, MU, "Na", {"C": 72})
    volts = [round(s.voltage_V, 6) for s in prof.steps]
    # V = -dg/dn along the hull (V vs Na+/Na)
    assert volts == [0.6, 0.4, 0.15, 0.05, 0.03, -0.08]
    # one Na per 72 C on the host basis: F / (3.6 * 72 * 12.011) = 30.99 mAh/g
    q1 = FARADAY_C_MOL / (3.6 * 72 * C_MASS)
    assert prof.steps[0].capacity2_mAh_g == pytest.approx(q1, rel=1e-4)
    assert prof.steps[2].capacity2_mAh_g == pytest.approx(4 * q1, rel=1e-4)
    # the last step is below 0 V (plating): no stored capacity
    assert prof.capacity_mAh_g == pytest.approx(6 * q1, rel=1e-4)
    total = voltage_profile(N, E, MU, "Na", {"C": 72}, basis="total")
    # total basis at n = 6: 6 F / (3.6 (72 x 12.011 + 6 x 22.990))
    assert total.steps[4].capacity2_mAh_g == pytest.approx(
        6 * FARADAY_C_MOL / (3.6 * (72 * C_MASS + 6 * 22.98977)), rel=1e-4
    )
    q, v = prof.curve()
    assert len(q) == len(v) == 2 * len(prof.steps)


def test_slope_plateau_split():
    prof = voltage_profile(N, E, MU, "Na", {"C": 72})
    split = split_slope_plateau(prof)
    q1 = FARADAY_C_MOL / (3.6 * 72 * C_MASS)
    # sloping: 0->1 (0.6 V), 1->2 (0.4 V), 2->4 (0.15 V) = 4 Na
    assert split.sloping_mAh_g == pytest.approx(4 * q1, rel=1e-4)
    # plateau (0, 0.1 V]: 4->5 (0.05 V), 5->6 (0.03 V) = 2 Na at mean 0.04 V
    assert split.plateau_mAh_g == pytest.approx(2 * q1, rel=1e-4)
    assert split.plateau_voltage_V == pytest.approx(0.04)
    assert split.total_mAh_g == pytest.approx(prof.capacity_mAh_g)
    no_plateau = split_slope_plateau(
        voltage_profile([0, 1], [0.0, -2.0], -1.0, "Li", {"C": 6})
    )
    assert no_plateau.plateau_voltage_V is None and no_plateau.plateau_mAh_g == 0


def test_voltage_profile_rejects_bad_input():
    with pytest.raises(ValueError, match="empty host"):
        voltage_profile([1, 2], [0.0, 1.0], -1.0, "Na", {"C": 6})
    with pytest.raises(ValueError, match="allowed: host, total"):
        voltage_profile([0, 1], [0.0, 1.0], -1.0, "Na", {"C": 6}, basis="metal")
    with pytest.raises(ValueError, match="unknown metal"):
        voltage_profile([0, 1], [0.0, 1.0], -1.0, "Xx", {"C": 6})


def test_bulk_metal_charge_density():
    # Na at the room-temperature density 0.968 g/cm3: 0.968 x 96485.33 / (3.6 x
    # 22.990) = 1128 mAh per cm3 of pore (docs/science.md, "Capacity")
    assert metal_volumetric_capacity_mAh_cm3("Na", 0.968) == pytest.approx(
        1128.5, abs=0.5
    )
    # the element table's bcc a = 4.23 A (low T): 22.990 / (N_A 37.84 A3) = 1.009 g/cm3
    assert metal_density_g_cm3("Na") == pytest.approx(1.009, abs=1e-3)
    assert metal_volumetric_capacity_mAh_cm3("Na") == pytest.approx(1176, abs=1)


def test_flash_heated_hard_carbon_worked_example():
    # docs/science.md, "Hard-carbon experimental figures":
    # true density 2.13 -> 1.49 g/cm3, plateau 204 -> 255 mAh/g
    v_low = closed_pore_volume_cm3_g(2.13)  # 1/2.13 - 1/2.26 = 0.0270 cm3/g
    v_high = closed_pore_volume_cm3_g(1.49)  # 1/1.49 - 1/2.26 = 0.2287 cm3/g
    assert v_low == pytest.approx(0.02701, abs=1e-4)
    assert v_high == pytest.approx(0.22866, abs=1e-4)
    q = plateau_capacity_from_pore_volume(v_high, "Na", density_g_cm3=0.968)
    assert q == pytest.approx(258.0, abs=0.5)  # measured 255 mAh/g
    # the dense carbon's 204 mAh/g is far above its 30 mAh/g of closed-pore volume:
    # filling at bulk density is not the whole story there
    assert plateau_capacity_from_pore_volume(v_low, "Na", density_g_cm3=0.968) < 31


def test_ultra_micropore_carbon_worked_example():
    # 0.365 cm3/g x 1128 mAh/cm3 = 412 mAh/g upper bound (measured 346 mAh/g)
    q = plateau_capacity_from_pore_volume(0.365, "Na", density_g_cm3=0.968)
    assert q == pytest.approx(411.9, abs=0.5)
    assert plateau_capacity_from_pore_volume(0.365, "Na", 0.5, 0.968) == pytest.approx(
        q / 2
    )


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: closed_pore_volume_cm3_g(2.5), "exceeds the skeleton"),
        (lambda: closed_pore_volume_cm3_g(-1.0), "positive"),
        (lambda: plateau_capacity_from_pore_volume(-0.1), "pore_volume"),
        (
            lambda: plateau_capacity_from_pore_volume(0.1, fill_fraction=1.5),
            "fill_fraction",
        ),
        (lambda: plateau_capacity_from_pore_volume(0.1, "Fr"), "unknown metal"),
    ],
)
def test_pore_volume_rejects_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_average_voltage_and_pore_scan():
    # 10 Na into an empty pore, E drops by 10.5 eV, mu = -1.0 eV: V = 0.05 V
    assert average_voltage_V(-10.5, 0.0, 10, -1.0) == pytest.approx(0.05)
    rows = [
        dict(metal="Na", width_nm=0.4, layers_fit=0),
        dict(
            metal="Na",
            width_nm=1.0,
            layers_fit=2,
            energy_filled_eV=-10.5,
            energy_empty_eV=0.0,
            n_metal=10,
            mu_metal_eV=-1.0,
            host_counts={"C": 72},
        ),
    ]
    scan = pore_size_scan(rows)
    assert [r.width_nm for r in scan] == [0.4, 1.0]
    assert scan[0].voltage_V is None
    assert scan[1].plateau and scan[1].voltage_V == pytest.approx(0.05)
    assert scan[1].capacity_host_mAh_g == pytest.approx(
        10 * FARADAY_C_MOL / (3.6 * 72 * C_MASS), rel=1e-4
    )


# ------------------------------------------------------------------ filling reports
def test_filling_summary_by_hand():
    """4 Na into 64 C at g(4) = -0.2 eV: one hull step at +0.05 V (plateau window),
    capacity 4 F / (3.6 x 64 x 12.011 g) = 139.46 mAh/g of host (the closed-pore
    K/Rb/Cs rows of runs/hard_carbon/table.md), with Na: / (768.704 + 4 x 22.990)
    = 124.6 mAh/g."""
    from alkali_layers.analysis.hard_carbon import filling_summary

    mu = -1.3
    summary = filling_summary(
        [0, 4], [-500.0, -500.0 + 4 * mu - 0.2], mu, "Na", {"C": 64}
    )
    q_host = 4 * FARADAY_C_MOL / (3.6 * 64 * C_MASS)
    assert q_host == pytest.approx(139.46, abs=0.01)
    assert summary["n_metal_max"] == 4
    assert summary["first_step_V"] == pytest.approx(0.05)
    assert summary["stored_capacity_host_mAh_g"] == pytest.approx(q_host)
    assert summary["stored_capacity_total_mAh_g"] == pytest.approx(
        4 * FARADAY_C_MOL / (3.6 * (64 * C_MASS + 4 * 22.990)), rel=1e-4
    )
    assert summary["plateau_mAh_g"] == pytest.approx(q_host)
    assert summary["sloping_mAh_g"] == 0.0
    assert summary["plateau_V"] == pytest.approx(0.05)


def test_filling_report_writes_table_figures_and_protocol_check(tmp_path):
    """The strict filling is the result (solid), the production one is compared:
    table rows for both, one figure per host, protocol_check.md for the pair."""
    from alkali_layers.analysis.hard_carbon import (
        FillingRecord,
        write_filling_figures,
        write_protocol_check,
    )

    def filling(energies, wall_s):
        steps = [
            dict(
                n_metal=n,
                energy_eV=e,
                label=f"s{n}",
                converged=True,
                force_calls=10,
                wall_s=wall_s / 3,
            )
            for n, e in zip((0, 4, 8), energies, strict=True)
        ]
        return dict(
            steps=steps,
            mu_metal_eV=-1.0,
            host_counts={"C": 64},
            settings={"atoms_per_step": 4},
            wall_s=wall_s,
        )

    strict = FillingRecord(
        "closed", "Na", "strict", filling([0.0, -4.4, -8.5], 60.0), 2
    )
    cheap = FillingRecord("closed", "Na", "fine", filling([0.0, -4.2, -8.1], 30.0), 2)
    table = write_filling_figures([cheap, strict], tmp_path)
    assert [r["protocol"] for r in table] == ["strict", "fine"]
    # strict: g = -0.4 at 4, -0.5 at 8: hull steps +0.10 V and +0.025 V
    assert table[0]["first_step_V"] == pytest.approx(0.1)
    assert table[0]["plateau_V"] is not None
    assert (tmp_path / "voltage_closed.png").exists()
    assert "| closed pore | Na | strict |" in (tmp_path / "table.md").read_text()
    assert write_protocol_check([cheap, strict], tmp_path)
    text = (tmp_path / "protocol_check.md").read_text()
    assert "| 4 | s4 | s4 | -0.200 | 10 | 10 |" in text


def test_path_step_voltages_by_hand_with_ensemble_error_bars():
    from alkali_layers.analysis.hard_carbon import path_step_voltages

    # E(0) = -100, E(2) = -103, E(4) = -105.5, mu = -1.2 eV/atom (given out of order):
    # 0 -> 2: -(-103 + 100 + 2.4) / 2 = +0.30 V; 2 -> 4: -(-2.5 + 2.4) / 2 = +0.05 V
    steps = path_step_voltages([4, 0, 2], [-105.5, -100.0, -103.0], -1.2)
    assert [(s["n1"], s["n2"]) for s in steps] == [(0, 2), (2, 4)]
    assert [s["voltage_V"] for s in steps] == pytest.approx([0.30, 0.05])
    assert steps[0]["voltage_std_V"] is None
    # two-member ensembles; the second member moves E(2) by -0.2 and mu by +0.1
    ens = [[-105.5, -105.5], [-100.0, -100.0], [-103.0, -103.2]]
    with_std = path_step_voltages(
        [4, 0, 2], [-105.5, -100.0, -103.0], -1.2, ens, [-1.2, -1.1]
    )
    # member 2: 0 -> 2: -(-103.2 + 100 + 2.2) / 2 = 0.5; 2 -> 4: -(-2.3 + 2.2)/2 = 0.05
    assert with_std[0]["voltage_std_V"] == pytest.approx(np.std([0.30, 0.50]))
    assert with_std[1]["voltage_std_V"] == pytest.approx(
        np.std([0.05, 0.05]), abs=1e-12
    )
    with pytest.raises(ValueError, match="each n_metal once"):
        path_step_voltages([0, 0], [-1.0, -2.0], -1.0)
