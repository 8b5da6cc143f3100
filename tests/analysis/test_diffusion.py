"""Diffusion tables and figures (alkali_layers.analysis.diffusion), synthetic rows."""

import math

import pytest

from alkali_layers.analysis.diffusion import (
    DIFFUSION_COLUMNS,
    diffusion_table,
    hessian_convergence,
    md_comparison,
    write_diffusion_outputs,
)
from alkali_layers.calculators.diffusion import htst


def _row(pathway, metal, barrier, nu_min, nu_sad, shell=0.0, species="vacancy"):
    res = htst(nu_min, nu_sad, barrier, 3.0, 6, 2, species, [300.0, 600.0, 900.0])
    kt = 8.617333262e-5 * 300
    row = {
        "pathway": pathway,
        "metal": metal,
        "spacing_A": None,
        "task_kind": "diffusion",
        "band_converged": True,
        "barrier_fwd_eV": barrier,
        "diffusing_species": species,
        "hop_length_A": 3.0,
        "hop_multiplicity": 6,
        "diffusion_dimension": 2,
        "hessian_shell": shell,
        "hessian_atoms": 1 if shell == 0 else 5,
        "Ea_over_kT_300K": barrier / kt,
        "data": {"htst": res.to_dict()},
    }
    if res.prefactor_THz is not None:
        row["prefactor_THz"] = res.prefactor_THz
        row["D_300K_cm2_s"] = res.D_cm2_s[0]
    return row


def test_table_flags_low_barriers_and_missing_prefactors():
    rows = [
        _row("interface_vacancy_hop", "Na", 0.25, [2, 3, 4], [-1, 3, 4]),
        _row("bulk_vacancy_hop", "Na", 0.15, [2, 3, 4], [1, 3, 4]),
        _row("graphene_hop", "Li", 0.05, [2, 3, 4], [-1, 3, 4], species="metal atom"),
    ]
    table = diffusion_table(rows)
    assert [r["pathway"] for r in table] == [
        "graphene_hop",
        "interface_vacancy_hop",
        "bulk_vacancy_hop",
    ]
    graphene, interface, bulk = table
    assert "not valid" in graphene["note"]
    assert interface["note"] == "" and interface["prefactor_THz"] == pytest.approx(2.0)
    # D = 6 * 9 * 2e12 * exp(-0.25 / kT) / 4 * 1e-16 cm^2/s (table: 3 digits)
    k = 2e12 * math.exp(-0.25 / (8.617333262e-5 * 300))
    assert interface["D_300K_cm2_s"] == pytest.approx(1.5 * 9 * k * 1e-16, rel=5e-3)
    assert bulk["prefactor_THz"] is None and "0 imaginary" in bulk["note"]


def test_convergence_rows_and_md_comparison():
    main = _row("interface_vacancy_hop", "Na", 0.25, [2, 3, 4], [-1, 3, 4])
    nn = _row(
        "interface_vacancy_hop", "Na", 0.25, [2, 3, 4, 5], [-1, 3, 4, 2.5], shell=1.2
    )
    nn["prefactor_hop_only_THz"] = 2.0
    conv = hessian_convergence([main, nn])
    assert len(conv) == 1
    assert conv[0]["prefactor_THz"] == pytest.approx(4.0)
    assert conv[0]["ratio"] == pytest.approx(2.0)
    assert conv[0]["D_300K_hop_only_cm2_s"] == pytest.approx(
        main["D_300K_cm2_s"], rel=1e-2
    )
    run = {
        "temperature_K": 600.0,
        "mean_temperature_K": 598.0,
        "duration_ps": 2.4,
        "n_hops": 3,
        "D_collective_cm2_s": 2e-6,
        "D_collective_err": 1e-6,
        "D_tracer_cm2_s": 5e-7,
        "D_hops_cm2_s": 3e-6,
        "D_hops_err": 1.7e-6,
    }
    md = {
        "pathway": "interface_vacancy_hop",
        "metal": "Na",
        "spacing_A": None,
        "data": {"runs": [run]},
    }
    (out,) = md_comparison([md], [main], [nn])
    # a vacancy path: the collective (vacancy) MSD is compared
    assert out["D_md_cm2_s"] == 2e-6
    d600 = htst([2, 3, 4], [-1, 3, 4], 0.25, 3.0, 6, 2).D_at(600.0)
    assert out["D_htst_cm2_s"] == pytest.approx(d600, rel=1e-2)
    assert out["D_htst_nn_cm2_s"] == pytest.approx(2 * d600, rel=1e-2)
    assert out["ratio_md_htst"] == pytest.approx(2e-6 / d600, rel=2e-2)


def test_outputs_are_written(tmp_path):
    rows = [
        _row("interface_vacancy_hop", "Na", 0.25, [2, 3, 4], [-1, 3, 4]),
        _row("bulk_vacancy_hop", "Li", 0.17, [4, 5, 6], [-2, 7, 7]),
    ]
    table = write_diffusion_outputs(rows, [], tmp_path, "test")
    assert len(table) == 2
    text = (tmp_path / "diffusion.md").read_text()
    assert "Vineyard" in text and "vacancy diffusivity" in text
    header = (tmp_path / "diffusion.csv").read_text().splitlines()[0]
    assert header.split(",") == list(DIFFUSION_COLUMNS)
    assert (tmp_path / "arrhenius.png").exists()
    assert (tmp_path / "arrhenius.csv").exists()
