"""The validation task kinds (cohesive_energy, graphite_binding), their options in
the key, per-group engine overrides (li-sc) and the ``validation`` layout."""

import json
from dataclasses import replace

import numpy as np
import pytest
from ase.calculators.emt import EMT

import alkali_layers.campaigns.kinds.validation as kinds
from alkali_layers.builders import bulk_metal, graphite, graphite_intercalation
from alkali_layers.calculators.relax import RelaxResult, RelaxSettings
from alkali_layers.campaigns.campaign import Campaign
from alkali_layers.campaigns.registry import task_kind
from alkali_layers.campaigns.spec import SpecError, load_spec
from alkali_layers.campaigns.tasks import RelaxTask, relaxed_outcome
from alkali_layers.campaigns.validation_import import import_validation_checkpoints
from alkali_layers.cli import main
from alkali_layers.engines import PBE_D3BJ, DFTProtocol, GPAWSettings, MLIPSettings

from ..validation_specs import (
    FABRICATED,
    TINY_ENGINE,
    fabricate_checkpoints,
    write_validation_spec,
)

TINY = GPAWSettings(ecut_eV=250.0, kpt_density=1.5, scf_energy_eV=1e-4, **PBE_D3BJ)
PROTOCOL = DFTProtocol(final=TINY, relax=TINY, prerelax=None)
ML = MLIPSettings()  # identity only: the tests pass their own calculator


def _keys(campaign) -> dict:
    return {e.label: e.key for e in campaign.entries()}


def test_options_enter_the_task_key(tmp_path):
    default = Campaign(write_validation_spec(tmp_path / "a"), stream=False)
    bigger = Campaign(
        write_validation_spec(
            tmp_path / "b", options="[models.options]\natom_box_A = 16.0\n"
        ),
        stream=False,
    )
    a, b = _keys(default), _keys(bigger)
    assert a["bulk_metal-Na"] != b["bulk_metal-Na"]
    assert a["graphite-AA"] == b["graphite-AA"]  # the other tasks are the same
    assert task_kind("cohesive_energy").options_dict({}) == {"atom_box_A": 14.0}
    assert task_kind("graphite_binding").options_dict({}) == {"sheet_cell_c_A": 16.0}
    task = RelaxTask("g", "model", graphite("AB"), kind="graphite_binding")
    keys = {
        task.key(PROTOCOL, RelaxSettings()),
        replace(task, options={"sheet_cell_c_A": 20.0}).key(PROTOCOL, RelaxSettings()),
    }
    assert len(keys) == 2
    with pytest.raises(ValueError, match="atom_box_A must be >= 8"):
        task_kind("cohesive_energy").options_dict({"atom_box_A": 3.0})


def test_a_group_engine_override_changes_only_its_own_keys(tmp_path):
    plain = Campaign(write_validation_spec(tmp_path / "a"), stream=False)
    li_sc = Campaign(
        write_validation_spec(
            tmp_path / "b", compound_engine='[models.engine]\nsetups = "li-sc"\n'
        ),
        stream=False,
    )
    a, b = _keys(plain), _keys(li_sc)
    compound = "graphite_intercalation-Na-NaC8"
    assert a[compound] != b[compound]
    assert {k: v for k, v in a.items() if k != compound} == {
        k: v for k, v in b.items() if k != compound
    }
    entry = next(e for e in li_sc.entries() if e.label == compound)
    assert entry.engine.final.setups == entry.engine.relax.setups == "li-sc"
    assert li_sc.spec.engine.final.setups == "paw"  # the campaign's is unchanged


def test_bad_group_overrides_are_spec_errors(tmp_path):
    spec = write_validation_spec(
        tmp_path / "a", compound_engine='[models.engine]\nsetup = "li-sc"\n'
    )
    with pytest.raises(SpecError, match=r"models\[3\]\.engine.*allowed fields"):
        load_spec(spec)
    text = (
        (spec / "campaign.toml")
        .read_text()
        .replace(
            '[models.engine]\nsetup = "li-sc"', '[models.relax]\nlayered_cell = "abc"'
        )
    )
    (spec / "campaign.toml").write_text(text)
    with pytest.raises(SpecError, match=r"models\[3\]\.relax.*layered_cell"):
        load_spec(spec)
    (spec / "campaign.toml").write_text(
        text.replace(
            'tasks = ["relax"]\n[models.grid]\nmetal',
            'tasks = ["relax", "formation_energy"]\n[models.grid]\nmetal',
        ).replace('layered_cell = "abc"', 'layered_cell = "ac"')
    )
    with pytest.raises(SpecError, match="references are shared"):
        load_spec(spec)


def _fake_relax(energy_eV: float):
    def run_relax(task, engine, calc, settings, folder):
        atoms = task.atoms.copy()
        atoms.set_cell(atoms.cell * 0.99, scale_atoms=True)
        return relaxed_outcome(
            task.label,
            RelaxResult(atoms, energy_eV, 0.001, 3, True, 1.0, "hydrostatic"),
        )

    return run_relax


def test_cohesive_energy_is_atom_minus_bulk_per_atom(tmp_path, monkeypatch):
    import alkali_layers.engines.gpaw as gpaw_engine

    monkeypatch.setattr(kinds, "run_relax", _fake_relax(-1.30))
    monkeypatch.setattr(
        gpaw_engine, "isolated_atom_energy", lambda metal, s, txt, box_A: -0.20
    )
    task = RelaxTask("Na", "model", bulk_metal("Na"), kind="cohesive_energy")
    task.options = {"atom_box_A": 14.0}
    out = kinds.run_cohesive_energy(task, PROTOCOL, None, RelaxSettings(), tmp_path)
    assert out.values["cohesive_energy_eV"] == pytest.approx(1.10)  # -0.20 + 1.30
    assert out.values["bcc_a_A"] == pytest.approx(0.99 * 4.23)
    # a rerun reads the relaxation back from relaxed.json
    monkeypatch.setattr(kinds, "run_relax", None)
    again = kinds.run_cohesive_energy(task, PROTOCOL, None, RelaxSettings(), tmp_path)
    assert again.values == out.values
    with pytest.raises(ValueError, match="needs the GPAW engine"):
        kinds.run_cohesive_energy(task, None, None, RelaxSettings(), tmp_path)


def test_graphite_binding_with_a_cheap_calculator(tmp_path):
    """The machinery with ASE's EMT (not physics): the sheet is computed at the
    relaxed in-plane lattice and E_b = E(sheet)/N - E(graphite)/N."""
    task = RelaxTask("AB", "model", graphite("AB"), kind="graphite_binding")
    task.options = {"sheet_cell_c_A": 16.0}
    settings = RelaxSettings(fmax_eV_A=0.05, gallery_prescan=False, max_steps=50)
    out = kinds.run_graphite_binding(task, ML, EMT(), settings, tmp_path)
    sheet = kinds.graphene_sheet(out.values["in_plane_a_A"])
    sheet.calc = EMT()
    e_sheet = sheet.get_potential_energy() / len(sheet)
    assert out.values["interlayer_binding_meV_per_atom"] == pytest.approx(
        1000 * (e_sheet - out.energy_eV / 4)
    )
    assert out.values["interlayer_spacing_A"] == pytest.approx(out.atoms.cell[2, 2] / 2)
    assert (tmp_path / "relaxed.json").exists()
    with pytest.raises(ValueError, match="builder = 'graphite'"):
        kinds.run_graphite_binding(
            RelaxTask("Na", "model", bulk_metal("Na")), ML, EMT(), settings, None
        )


def _imported_campaign(tmp_path, name="pbe", extra='xc = "PBE"\ndispersion = "d3bj"'):
    campaign = Campaign(
        write_validation_spec(tmp_path / name, name=name, extra=extra), stream=False
    )
    entry = campaign.entries()[0]
    g_hash, r_hash = entry.engine.final.settings_hash(), entry.settings.settings_hash()
    tag = {"pbe": "PBE_D3BJ", "df2": "vdW-DF2"}[name]
    fabricate_checkpoints(tmp_path / "logs", g_hash, r_hash, tag)
    import_validation_checkpoints(campaign, [tmp_path / "logs"])
    return campaign


def test_layout_reproduces_hand_computed_formation_energies(tmp_path):
    campaign = _imported_campaign(tmp_path)
    campaign.write_outputs()
    results = json.loads((campaign.root / "results.json").read_text())
    pbe = results["PBE+D3(BJ)"]
    nac8 = pbe["compounds"]["NaC8"]
    assert nac8["formation_vs_AB_eV"] == pytest.approx(FABRICATED["ef_vs_AB_eV"])
    assert nac8["formation_vs_AA_eV"] == pytest.approx(FABRICATED["ef_vs_AA_eV"])
    assert nac8["c_A"] == pytest.approx(4.5)
    assert nac8["a_A"] == pytest.approx(2.46)  # c-only cell: the built lattice
    assert pbe["graphite_AB"]["binding_meV_per_atom"] == pytest.approx(50.0)
    assert pbe["metals"]["Na"]["cohesive_eV"] == pytest.approx(1.10)
    assert pbe["protocol"] == {"layered_cell": "c", "li_semicore": False}
    table = (campaign.root / "table.md").read_text()
    assert "| NaC8 | +0.206 | -0.200 | -0.280 | 4.500 | 2.460 |" in table
    assert "| Na | 4.23 | 4.200 | 1.113 | 1.100 |" in table


def test_layout_puts_the_treatments_of_a_protocol_side_by_side(tmp_path):
    _imported_campaign(tmp_path, "pbe")
    df2 = _imported_campaign(
        tmp_path, "df2", extra='xc = "vdW-DF2"\ndispersion = "none"'
    )
    df2.write_outputs()
    combined = json.loads((tmp_path / "results.json").read_text())
    assert list(combined) == ["PBE+D3(BJ)", "vdW-DF2"]  # the TREATMENTS order
    table = (tmp_path / "table.md").read_text()
    assert "| quantity | experiment | PBE+D3(BJ) | vdW-DF2 |" in table


def test_cli_lists_and_tables_every_campaign_below_a_directory(tmp_path, capsys):
    _imported_campaign(tmp_path, "pbe")
    _imported_campaign(tmp_path, "df2", extra='xc = "vdW-DF2"\ndispersion = "none"')
    assert main(["status", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "df2: 4 tasks: 4 done, 0 failed, 0 running, 0 queued, 0 pending",
        "pbe: 4 tasks: 4 done, 0 failed, 0 running, 0 queued, 0 pending",
    ]
    assert main(["table", str(tmp_path)]) == 0
    assert (tmp_path / "df2" / "table.md").exists()
    assert (tmp_path / "table.md").exists()
    # a directory with neither a spec nor campaigns below: the usual error
    (tmp_path / "empty").mkdir()
    assert main(["status", str(tmp_path / "empty")]) == 2


def test_cli_import_validation_and_validate_front_end(tmp_path, capsys):
    campaign = Campaign(write_validation_spec(tmp_path / "c" / "pbe"), stream=False)
    entry = campaign.entries()[0]
    g_hash, r_hash = entry.engine.final.settings_hash(), entry.settings.settings_hash()
    fabricate_checkpoints(tmp_path / "c" / "logs", g_hash, r_hash, "PBE_D3BJ")
    # `validate` finds the campaign of the protocol below --out, imports, runs
    # nothing more (all imported) and writes the tables
    argv = ["validate", "--out", str(tmp_path / "c"), "--treatments", "PBE+D3(BJ)"]
    assert main([*argv, "--layered-cell", "c", "--li-frozen-core"]) == 0
    out = capsys.readouterr().out
    assert "imported" in out and "4 done" in out
    assert (tmp_path / "c" / "pbe" / "table.md").exists()
    # the default protocol (relaxed lattice, li-sc) has no campaign there
    assert main(argv) == 2
    assert "no validation campaign" in capsys.readouterr().err
    assert main(["import-validation", str(tmp_path / "c"), "--from", "x"]) == 0
    assert "0 imported, 4 done" in capsys.readouterr().out


def test_graphene_sheet_is_at_the_given_lattice():
    sheet = kinds.graphene_sheet(2.47, 16.0)
    assert np.linalg.norm(sheet.cell[0]) == pytest.approx(2.47)
    assert sheet.cell[2, 2] == 16.0 and len(sheet) == 2
    d = sheet.get_distance(0, 1, mic=True)
    assert d == pytest.approx(2.47 / np.sqrt(3))  # C-C bond = a / sqrt(3)


@pytest.mark.slow  # GPAW, tiny settings, 1 rank
def test_cohesive_energy_task_runs_gpaw_and_resumes(tmp_path, monkeypatch):
    spec = tmp_path / "na"
    spec.mkdir()
    (spec / "campaign.toml").write_text(
        """
name = "na"
analysis = "validation"
"""
        + TINY_ENGINE.format(extra='xc = "PBE"\ndispersion = "d3bj"')
        + """
[relax]
fmax_eV_A = 0.05
max_steps = 20
gallery_prescan = false
[[models]]
builder = "bulk_metal"
tasks = ["cohesive_energy"]
[models.grid]
metal = ["Na"]
[models.options]
atom_box_A = 8.0
"""
    )
    campaign = Campaign(spec, stream=False)
    campaign.run()
    row = campaign.store.find(campaign.entries()[0].key)
    assert row is not None and row["status"] == "ok"
    assert 0.3 < row["cohesive_energy_eV"] < 2.0  # exp 1.113 eV (tiny settings)
    assert 3.8 < row["bcc_a_A"] < 4.5  # exp 4.23 A
    results = json.loads((spec / "results.json").read_text())
    assert results["PBE+D3(BJ)"]["metals"]["Na"]["a_A"] == pytest.approx(row["bcc_a_A"])
    # killed after its relaxation: a rerun reads relaxed.json, no GPAW relaxation
    import alkali_layers.engines.gpaw as gpaw_engine

    entry = campaign.entries()[0]
    monkeypatch.setattr(kinds, "run_relax", None)
    monkeypatch.setattr(
        gpaw_engine, "isolated_atom_energy", lambda *a, **k: row["atom_energy_eV"]
    )
    again = kinds.run_cohesive_energy(
        entry.task, entry.engine, None, entry.settings, entry.folder
    )
    assert again.values["cohesive_energy_eV"] == pytest.approx(
        row["cohesive_energy_eV"]
    )


def test_stage1_error_bars_propagate_each_member_through_the_formula():
    """Hand-computed: two ensemble members, NaC8 (1 Na, 8 C) vs bcc Na and AB
    graphite (4 C).  The compound moves by -/+0.10 eV, AB graphite's cell by
    -/+0.02 eV (-/+0.005 eV per C, x 8 C in E_f, with a minus sign): the members'
    E_f are E_f -/+ (0.10 - 0.04), std 0.06 eV.  Adding the two in quadrature (as
    if independent) would give 0.108 eV: the members must be formed one by one."""
    f = FABRICATED
    bcc, ab, aa = bulk_metal("Na"), graphite("AB"), graphite("AA")
    nac8 = graphite_intercalation("Na", "NaC8")
    pm = np.array([-1.0, 1.0])
    rows = [
        ({"host": "bulk", "metal": "Na"}, bcc, f["mu_Na_eV"], np.full(2, -1.30)),
        ({"host": "graphite", "stacking": "AB"}, ab, 4 * -9.22, 4 * -9.22 + 0.02 * pm),
        ({"host": "graphite", "stacking": "AA"}, aa, 2 * -9.21, np.full(2, -18.42)),
        (
            {"host": "graphite", "metal": "Na", "stoichiometry": "NaC8"},
            nac8,
            f["E_NaC8_eV"],
            f["E_NaC8_eV"] + 0.10 * pm,
        ),
        ({"host": "bulk", "metal": "K"}, bulk_metal("K"), -1.0, np.zeros(2)),
    ]
    bars = kinds.stage1_error_bars(rows)
    assert list(bars) == ["NaC8"]
    nac8_bars = bars["NaC8"]
    assert nac8_bars["formation_vs_AB_eV"] == pytest.approx(f["ef_vs_AB_eV"])
    assert nac8_bars["formation_vs_AA_eV"] == pytest.approx(f["ef_vs_AA_eV"])
    assert nac8_bars["formation_vs_AB_std_eV"] == pytest.approx(0.06)
    assert nac8_bars["formation_vs_AA_std_eV"] == pytest.approx(0.10)
    # without the metal's ensemble there is no error bar (and no E_f)
    assert kinds.stage1_error_bars(rows[1:]) == {"NaC8": {}}


@pytest.mark.slow  # GPAW + BEEF-vdW, tiny settings, 1 rank: ~1-2 min
def test_error_bar_campaign_puts_the_std_next_to_the_validation_values(tmp_path):
    """A validation campaign (fabricated) and its error-bar campaign below it:
    single points with BEEF-vdW ensembles at its structures; the std of E_f from
    the stored ensembles by hand, and the validation table shows it."""
    parent = _imported_campaign(tmp_path)
    child = parent.root / "error_bars"
    child.mkdir()
    labels = [e.label for e in parent.entries()]
    (child / "campaign.toml").write_text(
        """
name = "pbe_error_bars"
analysis = "validation_error_bars"
"""
        + TINY_ENGINE.format(extra='xc = "PBE"\ndispersion = "d3bj"\nerror_bars = true')
        + f"""
[[models]]
builder = "campaign_model"
tasks = ["single_point"]
grid = {{ label = {json.dumps(labels)} }}
[models.params]
campaign = "{parent.root}"
"""
    )
    assert main(["run", str(child), "--workers", "1"]) == 0
    bars = json.loads((child / "results.json").read_text())["NaC8"]
    campaign = Campaign(child, stream=False)
    stored = {}
    for e in campaign.entries():
        row = campaign.store.find(e.key)
        label = e.label.removeprefix("campaign_model-")
        stored[label] = np.asarray(row.data["outcome"]["beef_ensemble_eV"])
    by_hand = (
        stored["graphite_intercalation-Na-NaC8"]
        - 8 * stored["graphite-AB"] / 4  # AB graphite: 4 C
        - stored["bulk_metal-Na"]  # bcc Na: 1 atom
    )
    assert bars["formation_vs_AB_std_eV"] == pytest.approx(np.std(by_hand))
    assert 0.0 < bars["formation_vs_AB_std_eV"] < 1.0
    # the validation campaign above carries the error bars in its tables
    results = json.loads((parent.root / "results.json").read_text())["PBE+D3(BJ)"]
    nac8 = results["compounds"]["NaC8"]
    assert nac8["formation_vs_AB_std_eV"] == pytest.approx(
        bars["formation_vs_AB_std_eV"]
    )
    assert nac8["formation_vs_AB_eV"] == pytest.approx(FABRICATED["ef_vs_AB_eV"])
    std = f"{bars['formation_vs_AB_std_eV']:.3f}"
    assert (
        f"| NaC8 | +0.206 | -0.200 +- {std} |" in (parent.root / "table.md").read_text()
    )
