"""Intercalation energy, 2H vs 1T' and charge bookkeeping of heterostructures."""

import numpy as np
import pytest

from alkali_layers.analysis.heterostructure import (
    crossover_x,
    crossovers,
    heterostructure_table,
    intercalation_energy_eV_per_metal,
    mos2_charges,
    phase_energy_difference_eV_per_Mo,
    write_heterostructure_figures,
    x_per_mo,
)
from alkali_layers.builders.mos2 import graphene_mos2


def test_intercalation_energy_by_hand():
    # E = -500.0 eV with 3 Na, empty -490.0 eV, mu_Na = -1.3 eV/atom:
    # (-500 + 490 + 3 * 1.3) / 3 = -6.1 / 3 = -2.0333 eV per Na
    assert intercalation_energy_eV_per_metal(-500.0, -490.0, 3, -1.3) == (
        pytest.approx(-6.1 / 3)
    )
    with pytest.raises(ValueError, match="at least one metal atom"):
        intercalation_energy_eV_per_metal(-500.0, -490.0, 0, -1.3)


def test_x_per_mo_bookkeeping_from_the_builder():
    atoms = graphene_mos2("Na", 2, n_metal=5)
    symbols = atoms.get_chemical_symbols()
    assert x_per_mo(symbols.count("Na"), symbols.count("Mo")) == 5 / 4
    assert atoms.info["x_per_Mo"] == 5 / 4
    with pytest.raises(ValueError, match="at least one Mo"):
        x_per_mo(3, 0)


def test_phase_difference_and_crossover():
    # (E_2H - E_1T') / n_Mo: (-100.0 + 99.2) / 4 = -0.2 eV/Mo (2H lower)
    assert phase_energy_difference_eV_per_Mo(-100.0, -99.2, 4) == pytest.approx(-0.2)
    # -0.2 at x = 0.25 and +0.2 at x = 0.75: the line crosses zero at x = 0.5
    assert crossover_x([0.75, 0.25], [0.2, -0.2]) == pytest.approx(0.5)
    assert crossover_x([0.25, 0.5], [-0.3, -0.1]) is None
    assert crossover_x([0.25, 0.5], [0.1, 0.3]) == 0.25


def _row(n_layers, phase, n_metal, energy, n_mo=4):
    return {
        "host": "graphene_mos2",
        "metal": "Na" if n_layers else "",
        "cell_metal": "Na",
        "n_layers": n_layers,
        "packing": "fcc",
        "phase": phase,
        "n_metal": n_metal,
        "n_Mo": n_mo,
        "supercell": "[[2,1],[-1,3]]",
        "mos2_supercell": "[[1,0],[0,2]]",
        "energy_eV": energy,
        "n_atoms": 26 + n_metal,
        "converged": True,
    }


def test_table_uses_the_empty_cell_of_the_same_phase(tmp_path):
    mu = {"Na": -1.3}
    rows = [
        _row(0, "2H", 0, -200.0),
        _row(0, "1T'", 0, -198.0),  # 1T' empty: 0.5 eV/Mo above 2H
        _row(1, "2H", 3, -206.0),
        _row(1, "1T'", 3, -205.0),
        _row(2, "2H", 6, -213.0),
        _row(2, "1T'", 6, -214.0),
    ]
    table = heterostructure_table(rows, mu)
    assert [t["n_layers"] for t in table] == [1, 2, 1, 2]  # 1T' sorts before 2H
    by = {(t["phase"], t["n_layers"]): t for t in table}
    # 2H, 1 layer: (-206 + 200 + 3.9) / 3 = -0.7
    assert by["2H", 1]["intercalation_energy_eV"] == pytest.approx(-0.7)
    # 1T', 1 layer, against the 1T' empty cell: (-205 + 198 + 3.9) / 3 = -1.0333
    assert by["1T'", 1]["intercalation_energy_eV"] == pytest.approx(-3.1 / 3, abs=1e-4)
    # 2H - 1T' per Mo: (-206 + 205) / 4 = -0.25 (2H lower); 2 layers +0.25
    assert by["2H", 1]["dE_2H_minus_1Tp_eV_per_Mo"] == pytest.approx(-0.25)
    assert by["2H", 1]["favours_1Tprime"] is False
    assert by["2H", 2]["favours_1Tprime"] is True
    assert by["2H", 2]["x_per_Mo"] == 1.5
    cross = crossovers(table)
    assert cross == [
        {
            "metal": "Na",
            "packing": "fcc",
            "x_range": [0.75, 1.5],
            "x_1Tprime_wins": pytest.approx(1.125),
        }
    ]
    paths = write_heterostructure_figures(table, tmp_path)
    assert [p.name for p in paths] == [
        "intercalation_energy.png",
        "phase_difference.png",
    ]
    assert (tmp_path / "intercalation_energy.csv").read_text().count("\n") == 5


def test_metals_sharing_a_cell_are_not_mixed():
    # Li and Na use the same 4-Mo cell: each metal's 2H/1T' pair stays its own
    li = [
        {**_row(1, p, 3, e), "metal": "Li", "cell_metal": "Li"}
        for p, e in (("2H", -300.0), ("1T'", -296.0))
    ]
    na = [_row(1, "2H", 3, -206.0), _row(1, "1T'", 3, -205.0)]
    table = heterostructure_table(li + na, {})
    d_e = {(t["metal"], t["phase"]): t["dE_2H_minus_1Tp_eV_per_Mo"] for t in table}
    assert d_e["Li", "2H"] == pytest.approx(-1.0)  # (-300 + 296) / 4
    assert d_e["Na", "2H"] == pytest.approx(-0.25)


def test_missing_reference_leaves_energy_empty():
    table = heterostructure_table([_row(1, "2H", 3, -206.0)], {"Na": -1.3})
    assert table[0]["intercalation_energy_eV"] is None
    assert table[0]["dE_2H_minus_1Tp_eV_per_Mo"] is None


def test_mos2_charges_per_mo_and_per_s_plane():
    atoms = graphene_mos2("Na", 1)
    symbols = np.array(atoms.get_chemical_symbols())
    q = np.zeros(len(atoms))
    q[symbols == "Na"] = 0.8  # 3 Na give 2.4 e
    z_mo = atoms.positions[symbols == "Mo", 2].mean()
    upper = (symbols == "S") & (atoms.positions[:, 2] > z_mo)
    q[upper] = -0.4  # 4 upper S take 1.6 e
    q[symbols == "Mo"] = -0.1  # 4 Mo take 0.4 e
    q[symbols == "C"] = -0.4 / 14  # graphene the rest
    assert q.sum() == pytest.approx(0.0)
    out = mos2_charges(atoms, q)
    # MoS2 received 1.6 + 0.4 = 2.0 e over 4 Mo = 0.5 e/Mo > 0.46
    assert out["electrons_per_Mo"] == pytest.approx(0.5)
    assert out["per_S_upper_e"] == pytest.approx(-0.4)
    assert out["per_S_lower_e"] == pytest.approx(0.0)
    assert out["above_0_46_e"] is True
    with pytest.raises(ValueError, match="charges for"):
        mos2_charges(atoms, q[:-1])


@pytest.mark.slow
def test_fast_engine_intercalation_energy_is_sign_sane(mlip):
    """One Na per 4 Mo between 2H-MoS2 and graphene (27 atoms), relaxed loosely.

    Na gives its electron to MoS2 and graphene: the gallery must beat bcc Na
    (E_int < 0) by less than the Na cohesive energy plus a few eV.
    """
    from alkali_layers.builders.layers import bulk_metal
    from alkali_layers.calculators.relax import RelaxSettings, relax

    settings = RelaxSettings(fmax_eV_A=0.1, max_steps=80)
    loaded = relax(graphene_mos2("Na", 1, n_metal=1), mlip, settings)
    empty = relax(graphene_mos2("Na", 0), mlip, settings)
    bcc = relax(bulk_metal("Na"), mlip, settings)
    e_int = intercalation_energy_eV_per_metal(
        loaded.energy_eV, empty.energy_eV, 1, bcc.energy_eV / len(bcc.atoms)
    )
    assert -3.0 < e_int < 0.0


def test_free_layer_phase_energies_per_mo():
    from alkali_layers.analysis.heterostructure import free_layer_phase_energies

    rows = [
        {"host": "mos2", "phase": "2H", "n_Mo": 2, "energy_eV": -45.0},
        {"host": "mos2", "phase": "1T'", "n_Mo": 2, "energy_eV": -44.0},
        {"host": "graphene_mos2", "phase": "2H", "n_Mo": 4, "energy_eV": -1.0},
    ]
    # (-44.0 - -45.0) / 2 = +0.5 eV per Mo
    assert free_layer_phase_energies(rows) == {"1T'": pytest.approx(0.5)}
    assert free_layer_phase_energies(rows[1:]) == {}


def test_charge_column_flags_the_criterion_and_is_plotted(tmp_path):
    rows = [
        _row(0, "2H", 0, -200.0),
        {**_row(1, "2H", 3, -206.0), "charge_per_Mo_e": 0.332},
        {**_row(2, "2H", 6, -213.0), "charge_per_Mo_e": 0.5},
    ]
    table = heterostructure_table(rows, {"Na": -1.3})
    assert [t["above_0_46_e"] for t in table] == [False, True]
    paths = write_heterostructure_figures(table, tmp_path)
    assert paths[-1].name == "charge_per_Mo.png"
    assert (tmp_path / "charge_per_Mo.csv").read_text().count("\n") == 3


def test_error_bars_from_beef_ensembles_by_hand():
    from alkali_layers.analysis.heterostructure import (
        free_layer_phase_energies,
        heterostructure_columns,
    )

    def with_ensemble(row, members):
        return {**row, "data": {"beef_ensemble_eV": members}}

    rows = [
        with_ensemble(_row(0, "2H", 0, -200.0), [-200.0, -201.0, -199.0]),
        with_ensemble(_row(0, "1T'", 0, -198.0), [-198.0, -198.0, -198.0]),
        with_ensemble(_row(1, "2H", 3, -206.0), [-206.0, -206.0, -206.0]),
        with_ensemble(_row(1, "1T'", 3, -205.0), [-205.0, -206.0, -204.0]),
    ]
    mu_ensemble = {"Na": np.array([-1.3, -1.3, -1.3])}
    table = heterostructure_table(rows, {"Na": -1.3}, mu_ensemble)
    by = {t["phase"]: t for t in table}
    # 2H members: (-206 - [-200, -201, -199] + 3.9) / 3 = [-0.7, -0.3667, -1.0333]
    two_h = np.array([-0.7, -2.1 / 3 + 1 / 3, -2.1 / 3 - 1 / 3])
    assert by["2H"]["intercalation_energy_std_eV"] == pytest.approx(
        np.std(two_h), abs=1e-4
    )
    assert by["1T'"]["intercalation_energy_std_eV"] == pytest.approx(
        np.std([0.0, -1 / 3, 1 / 3]), abs=1e-4
    )
    # 2H - 1T' members per Mo: (-206 - [-205, -206, -204]) / 4 = [-0.25, 0, -0.5]
    assert by["2H"]["dE_2H_minus_1Tp_std_eV_per_Mo"] == pytest.approx(
        np.std([-0.25, 0.0, -0.5]), abs=1e-4
    )
    columns = heterostructure_columns(table)
    at = columns.index("intercalation_energy_eV")
    assert columns[at + 1] == "intercalation_energy_std_eV"
    assert "dE_2H_minus_1Tp_std_eV_per_Mo" in columns
    # no ensembles (fast engine): no error-bar columns, values None
    plain = heterostructure_table([{**r, "data": {}} for r in rows], {"Na": -1.3})
    assert plain[0]["intercalation_energy_std_eV"] is None
    assert "intercalation_energy_std_eV" not in heterostructure_columns(plain)
    # free-standing layers: the difference of the two ensembles per Mo
    free = [
        {
            "host": "mos2",
            "phase": "2H",
            "n_Mo": 2,
            "energy_eV": -45.0,
            "data": {"beef_ensemble_eV": [-45.0, -46.0]},
        },
        {
            "host": "mos2",
            "phase": "1T'",
            "n_Mo": 2,
            "energy_eV": -44.0,
            "data": {"beef_ensemble_eV": [-44.0, -44.0]},
        },
    ]
    # members (−44 − [−45, −46]) / 2 = [0.5, 1.0]: std 0.25
    assert free_layer_phase_energies(free, with_std=True) == {
        "1T'": (pytest.approx(0.5), pytest.approx(0.25))
    }
    assert free_layer_phase_energies(free) == {"1T'": pytest.approx(0.5)}


def test_rows_of_one_cell_pair_whatever_its_basis():
    # a row re-keyed from an equivalent cell keeps the supercell matrices of the
    # other basis (issue 18: 16 graphene_mos2 rows found no empty reference); the
    # cell is the same: same Mo, C and graphene strains
    empty = {**_row(0, "2H", 0, -200.0), "n_carbon": 14}
    loaded = {**_row(1, "2H", 3, -206.0), "n_carbon": 14}
    for row in (empty, loaded):
        row["graphene_principal_strains_pct"] = "[-1.0124,-1.0124]"
    loaded["supercell"] = "[[-1,3],[-3,2]]"  # another basis of the same cell
    loaded["graphene_principal_strains_pct"] = "[-1.01240001,-1.0124]"  # noise
    (row,) = heterostructure_table([empty, loaded], {"Na": -1.3})
    assert row["intercalation_energy_eV"] == pytest.approx((-206 + 200 + 3.9) / 3)
    # another cell (more carbon, other strain) is not this row's reference
    other = {**empty, "n_carbon": 26, "graphene_principal_strains_pct": "[0.5,0.5]"}
    (row,) = heterostructure_table([other, loaded], {"Na": -1.3})
    assert row["intercalation_energy_eV"] is None


def test_crossing_loading_error_bar_from_each_ensemble_member():
    """The 2H -> 1T' crossing found member by member: by hand, members 0 and 2 cross
    (at 0.75 and, already positive at the first point, 0.5), member 1 never does."""

    def point(x, d_e, members):
        return {
            "metal": "Li",
            "packing": "fcc",
            "phase": "2H",
            "x_per_Mo": x,
            "dE_2H_minus_1Tp_eV_per_Mo": d_e,
            "dE_2H_minus_1Tp_members_eV_per_Mo": np.array(members),
        }

    table = [point(1.0, 0.1, [0.1, 0.0, 0.3]), point(0.5, -0.1, [-0.1, -0.2, 0.05])]
    (cross,) = crossovers(table)
    assert cross["x_1Tprime_wins"] == pytest.approx(0.75)  # 0.5 + 0.5 * 0.1 / 0.2
    assert cross["x_1Tprime_wins_std"] == pytest.approx(np.std([0.75, 0.5]))
    assert cross["members_crossing_fraction"] == pytest.approx(2 / 3, abs=1e-4)
    # without ensembles: no error-bar keys (the fast engine's table)
    (plain,) = crossovers(
        [{**t, "dE_2H_minus_1Tp_members_eV_per_Mo": None} for t in table]
    )
    assert "x_1Tprime_wins_std" not in plain
