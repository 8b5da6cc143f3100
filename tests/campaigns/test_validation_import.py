"""The import of the pre-campaign ``alkali-layers validate`` checkpoints: adopted only
when settings, label and structure verify (fabricated checkpoints, no GPAW)."""

import json

import pytest

from alkali_layers.builders import bulk_metal, graphite, graphite_intercalation
from alkali_layers.campaigns.campaign import Campaign
from alkali_layers.campaigns.validation_import import (
    free_internal_coordinates,
    import_validation_checkpoints,
)

from .validation_specs import (
    FABRICATED,
    atoms_json,
    c_scaled,
    fabricate_checkpoints,
    write_checkpoint,
    write_validation_spec,
)


def _hashes(campaign):
    entry = campaign.entries()[0]
    return entry.engine.final.settings_hash(), entry.settings.settings_hash()


def _reports(campaign, logs):
    return {r.label: r for r in import_validation_checkpoints(campaign, [logs])}


def test_verified_checkpoints_are_adopted_with_their_provenance(tmp_path):
    campaign = Campaign(write_validation_spec(tmp_path / "pbe"), stream=False)
    g_hash, r_hash = _hashes(campaign)
    logs = tmp_path / "logs"
    fabricate_checkpoints(logs, g_hash, r_hash, "PBE_D3BJ")
    reports = _reports(campaign, logs)
    assert {k: r.status for k, r in reports.items()} == {
        "bulk_metal-Na": "imported",
        "graphite-AB": "imported",
        "graphite-AA": "imported",
        "graphite_intercalation-Na-NaC8": "imported",
    }
    # the early checkpoints without atoms: rebuilt exactly (no free coordinates)
    assert "rebuilt" in reports["bulk_metal-Na"].checks["structure"]
    assert "rebuilt" in reports["graphite-AB"].checks["structure"]
    assert reports["graphite-AA"].checks["structure"] == "stored atoms"
    states = {s.entry.label: s.state for s in campaign.status()}
    assert set(states.values()) == {"done"}
    na = next(e for e in campaign.entries() if e.label == "bulk_metal-Na")
    row = campaign.store.find(na.key)
    assert row["cohesive_energy_eV"] == pytest.approx(1.10)
    assert row["bcc_a_A"] == pytest.approx(4.20)
    assert row.energy == pytest.approx(FABRICATED["mu_Na_eV"])
    imported = row.data["outcome"]["imported"]
    assert imported["sources"][0].endswith("PBE_D3BJ-bcc-Na.json")
    assert imported["source_provenance"] == [{"version": "0.1.0"}]
    assert len(imported["sha256"][0]) == 64
    binding = campaign.store.find(
        next(e for e in campaign.entries() if e.label == "graphite-AB").key
    )
    assert binding["interlayer_binding_meV_per_atom"] == pytest.approx(
        1000 * (FABRICATED["e_sheet_eV_per_C"] - FABRICATED["e_AB_eV_per_C"])
    )
    # a second import changes nothing (finished results are never overwritten)
    again = _reports(campaign, logs)
    assert {r.status for r in again.values()} == {"done"}


def test_a_checkpoint_with_other_settings_is_refused(tmp_path):
    campaign = Campaign(write_validation_spec(tmp_path / "pbe"), stream=False)
    g_hash, r_hash = _hashes(campaign)
    logs = tmp_path / "logs"
    fabricate_checkpoints(logs, "0123456789abcdef", r_hash, "PBE_D3BJ")  # GPAW
    fabricate_checkpoints(logs, g_hash, "fedcba9876543210", "PBE_D3BJ")  # relax
    reports = _reports(campaign, logs)
    assert {r.status for r in reports.values()} == {"pending"}
    reason = reports["bulk_metal-Na"].reason
    assert g_hash in reason and "done-0123456789abcdef" in reason
    assert {s.state for s in campaign.status()} == {"pending"}
    assert len(campaign.store) == 0


def test_a_checkpoint_of_another_treatment_is_not_taken(tmp_path):
    campaign = Campaign(write_validation_spec(tmp_path / "pbe"), stream=False)
    g_hash, r_hash = _hashes(campaign)
    fabricate_checkpoints(tmp_path / "logs", g_hash, r_hash, "vdW-DF2")  # label
    reports = _reports(campaign, tmp_path / "logs")
    assert {r.status for r in reports.values()} == {"pending"}


def test_unverifiable_structures_stay_pending_with_the_reason(tmp_path):
    campaign = Campaign(write_validation_spec(tmp_path / "pbe"), stream=False)
    g_hash, r_hash = _hashes(campaign)
    logs = tmp_path / "logs"
    fabricate_checkpoints(logs, g_hash, r_hash, "PBE_D3BJ")
    # NaC8 written before atoms were kept: its carbons have a free coordinate
    write_checkpoint(
        logs,
        g_hash,
        r_hash,
        "PBE_D3BJ-NaC8",
        {"energy_eV": -75.26, "n_C": 8, "c_A": 4.5, "converged": True},
    )
    # AA graphite whose stored structure is not what the builder makes now
    other = c_scaled(graphite("AA", supercell=[[2, 0], [0, 1]]), 3.6)
    write_checkpoint(
        logs,
        g_hash,
        r_hash,
        "PBE_D3BJ-graphite-AA",
        {"spacing_A": 3.6, "energy_eV_per_C": -9.21, "atoms": atoms_json(other)},
    )
    reports = _reports(campaign, logs)
    assert reports["graphite_intercalation-Na-NaC8"].status == "pending"
    assert (
        "free internal coordinates" in reports["graphite_intercalation-Na-NaC8"].reason
    )
    assert reports["graphite-AA"].status == "pending"
    assert "not the built" in reports["graphite-AA"].reason
    assert reports["bulk_metal-Na"].status == "imported"


def test_stored_numbers_must_be_those_of_the_stored_structure(tmp_path):
    campaign = Campaign(write_validation_spec(tmp_path / "pbe"), stream=False)
    g_hash, r_hash = _hashes(campaign)
    logs = tmp_path / "logs"
    nac8 = c_scaled(graphite_intercalation("Na", "NaC8"), 4.5)
    write_checkpoint(
        logs,
        g_hash,
        r_hash,
        "PBE_D3BJ-NaC8",
        {"energy_eV": -75.0, "n_C": 8, "c_A": 4.7, "atoms": atoms_json(nac8)},
    )
    report = _reports(campaign, logs)["graphite_intercalation-Na-NaC8"]
    assert report.status == "pending" and "c_A" in report.reason


def test_free_internal_coordinates_by_symmetry():
    assert free_internal_coordinates(graphite("AB")) == [0, 0, 0, 0]
    assert free_internal_coordinates(bulk_metal("K")) == [0]
    # LiC6: each carbon may breathe in-plane around Li, Li sits on a fixed site
    assert free_internal_coordinates(graphite_intercalation("Li", "LiC6")) == [
        1,
        1,
        1,
        1,
        1,
        1,
        0,
    ]


def test_imported_result_file_names_its_source(tmp_path):
    campaign = Campaign(write_validation_spec(tmp_path / "pbe"), stream=False)
    g_hash, r_hash = _hashes(campaign)
    fabricate_checkpoints(tmp_path / "logs", g_hash, r_hash, "PBE_D3BJ")
    import_validation_checkpoints(campaign, [tmp_path / "logs"])
    entry = next(e for e in campaign.entries() if e.label == "graphite-AA")
    result = json.loads((entry.folder / "result.json").read_text())
    assert result["key"] == entry.key and result["status"] == "ok"
    source = result["provenance"]["imported_from"]["sources"][0]
    assert source.endswith("PBE_D3BJ-graphite-AA.json")
    assert (entry.folder / "imported.json").exists()
