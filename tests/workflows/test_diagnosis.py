"""The factor-by-factor diagnosis of a stage-1 formation energy (tiny GPAW cells)."""

import json

import numpy as np
import pytest

from alkali_layers.analysis.diagnosis import write_diagnosis_table
from alkali_layers.engines import PBE_D3BJ, GPAWSettings
from alkali_layers.engines.dispersion import dispersion_calculator
from alkali_layers.workflows.diagnosis import (
    baseline_structures,
    diagnose,
    dispersion_energy,
    formation_from_parts,
)

pytestmark = pytest.mark.slow  # GPAW single points (~1 min in all)

TINY = GPAWSettings(
    ecut_eV=250.0, kpt_density=1.5, scf_energy_eV=1e-3, scf_density=1e-3, **PBE_D3BJ
)
GEOMETRY = {
    "c_A": 3.633,
    "graphite_AB_spacing_A": 3.369,
    "graphite_AA_spacing_A": 3.556,
    "bcc_a_A": 3.326,
}


def test_formation_from_parts_by_hand():
    # LiC6: E = -58.2287, graphite AB (4 C) 4 x -9.36306, bcc Li -2.07908
    # (runs/validation PBE + D3(BJ)) -> +0.0287 eV/Li
    parts = {"compound": -58.2287, "graphite": 4 * -9.36306, "metal": -2.07908}
    units = {"n_C": 6, "graphite": 4, "metal": 1}
    assert formation_from_parts(parts, units) == pytest.approx(0.0287, abs=1e-4)


def test_baseline_structures_have_the_relaxed_geometry():
    s = baseline_structures("Li", "LiC6", GEOMETRY)
    assert s["compound"].cell.lengths()[2] == pytest.approx(3.633)
    li = s["compound"].positions[s["compound"].numbers == 3][0]
    assert li[2] == pytest.approx(3.633 / 2)  # midway between the sheets
    assert s["graphite"].cell.lengths()[2] == pytest.approx(2 * 3.369)
    assert np.cbrt(2 * s["metal"].get_volume()) == pytest.approx(3.326)


def test_close_packed_references_keep_the_volume_per_atom():
    from alkali_layers.workflows.diagnosis import _close_packed

    bcc = baseline_structures("Li", "LiC6", GEOMETRY)["metal"]
    for kind in ("fcc", "hcp"):
        other = _close_packed(kind)(bcc)
        assert other.get_volume() / len(other) == pytest.approx(bcc.get_volume())


def test_dispersion_rows_swap_only_the_dispersion_energy():
    s = baseline_structures("Li", "LiC6", GEOMETRY)
    assert dispersion_energy(s["metal"], "none") == 0.0
    e_bj = dispersion_energy(s["metal"], "d3bj")
    work = s["metal"].copy()
    work.calc = dispersion_calculator("d3bj")
    assert e_bj == pytest.approx(work.get_potential_energy())
    assert e_bj < 0  # dispersion binds
    assert dispersion_energy(s["metal"], "d4") != pytest.approx(e_bj)


def test_diagnosis_rows_resume_and_table(tmp_path):
    result = diagnose(
        "Li",
        "LiC6",
        GEOMETRY,
        tmp_path,
        TINY,
        only_groups=("dispersion", "metal reference"),
    )
    rows = {r["factor"]: r for r in result["rows"]}
    assert len(rows) == 5
    plain = rows["no dispersion (plain PBE)"]
    # plain PBE barely binds graphite but D3 binds Li metal and LiC6 too: the row
    # must differ from the baseline by the dispersion part of E_f alone
    assert plain["delta_meV"] != pytest.approx(0.0, abs=1.0)
    for row in result["rows"]:
        assert row["formation_eV"] == pytest.approx(
            result["baseline_formation_eV"] + row["delta_meV"] / 1000
        )
    stored = sorted((tmp_path / "diagnosis").glob("*.json"))
    assert len(stored) == 3 + 2  # baseline: 3 structures; fcc and hcp metal
    # a rerun reads every single point back (no new files, same numbers)
    again = diagnose(
        "Li",
        "LiC6",
        GEOMETRY,
        tmp_path,
        TINY,
        only_groups=("dispersion", "metal reference"),
    )
    for a, b in zip(again["rows"], result["rows"], strict=True):
        assert a["formation_eV"] == pytest.approx(b["formation_eV"], abs=1e-9)
    assert sorted((tmp_path / "diagnosis").glob("*.json")) == stored
    # a run of one group keeps the stored rows of the others (nothing is dropped)
    one = diagnose("Li", "LiC6", GEOMETRY, tmp_path, TINY, only_groups=("dispersion",))
    assert [r["factor"] for r in one["rows"]] == [r["factor"] for r in result["rows"]]
    write_diagnosis_table([result], tmp_path / "diagnosis.md")
    text = (tmp_path / "diagnosis.md").read_text()
    assert "no dispersion (plain PBE)" in text and "LiC6" in text
    assert json.loads((tmp_path / "diagnosis-LiC6.json").read_text())["rows"]


def test_li_semicore_row_runs_with_the_generated_setup(tmp_path, monkeypatch):
    monkeypatch.setenv("ALKALI_LAYERS_SETUP_DIR", str(tmp_path / "setups"))
    result = diagnose("Li", "LiC6", GEOMETRY, tmp_path, TINY, ("PAW setup",))
    (row,) = result["rows"]
    assert (tmp_path / "setups" / "Li.sc.PBE").exists()
    assert np.isfinite(row["formation_eV"])
    logs = list((tmp_path / "diagnosis").glob("LiC6-metal.*.txt"))
    assert any("valence: 3" in p.read_text() for p in logs)


def test_beef_ensemble_gives_2000_energies_and_a_formation_spread(tmp_path):
    """BEEF-vdW single points carry the 2000-member ensemble; E_f of the ensemble
    has a finite standard deviation (the error bar the diagnosis reports)."""
    from dataclasses import replace

    from alkali_layers.engines.gpaw import BEEF_ENSEMBLE_SIZE
    from alkali_layers.workflows.diagnosis import SinglePoints

    beef = replace(TINY, xc="BEEF-vdW", dispersion="none")
    sp = SinglePoints(tmp_path, log=lambda *a: None)
    s = baseline_structures("Li", "LiC6", GEOMETRY)
    data = {role: sp(f"t-{role}", s[role], beef) for role in ("graphite", "metal")}
    for d in data.values():
        ensemble = np.asarray(d["beef_ensemble_eV"])
        assert ensemble.shape == (BEEF_ENSEMBLE_SIZE,)
        assert np.all(np.isfinite(ensemble))
    # a toy "compound" = graphite + metal: E_f = 0 for the best fit, and the
    # ensemble spread of that E_f is exactly zero (same members on both sides)
    ens = {r: np.asarray(data[r]["beef_ensemble_eV"]) for r in data}
    parts = {"compound": ens["graphite"] * 1.5 + ens["metal"], **ens}
    units = {"n_C": 6, "graphite": 4, "metal": 1}
    assert np.std(formation_from_parts(parts, units)) == pytest.approx(0, abs=1e-9)
    # between different structures the members disagree: a real spread
    spread = np.std(ens["graphite"] / 4 - ens["metal"])
    assert spread > 1e-3


def test_a_single_point_stored_under_its_signed_zero_key_is_read_back(tmp_path):
    """Points computed before 2026-12-02 (86 GPAW single points committed in
    runs/validation/diagnosis) carry the structure hash with signed zeros: they are
    found, not recomputed."""
    import json

    from ase import Atoms

    from alkali_layers.engines import GPAWSettings
    from alkali_layers.settings import stable_hash, structure_hash
    from alkali_layers.workflows.diagnosis import SinglePoints

    atoms = Atoms("Li", positions=[[-1e-17, 0.0, 0.0]], cell=[3, 3, 3], pbc=True)
    settings = GPAWSettings()
    old_key = stable_hash(
        {
            "kind": "single_point",
            "structure": structure_hash(atoms, signed_zeros=True),
            "settings": settings.settings_hash(),
        }
    )
    stored = {"energy_eV": -1.5}
    (tmp_path / f"Li-metal.{old_key}.json").write_text(json.dumps(stored))
    sp = SinglePoints(tmp_path, log=lambda *a: None)
    assert sp("Li-metal", atoms, settings) == stored  # no GPAW run
