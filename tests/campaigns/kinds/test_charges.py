"""The ``charges`` task kind: structures from other campaigns, results of
``alkali-layers charges`` adopted by key, read back without GPAW."""

import textwrap
from pathlib import Path

import pytest

from alkali_layers.campaigns.campaign import Campaign
from alkali_layers.campaigns.kinds import charges as kind
from alkali_layers.campaigns.kinds.charges import (
    CHARGES_FILE,
    campaign_model,
    import_charge_results,
)
from alkali_layers.campaigns.worker import run_task_folder

RUNS = Path(__file__).resolve().parents[3] / "runs"
GIC_ML = RUNS / "gic_ml"
FINAL_PRESET = RUNS / "charges" / "final_preset"  # committed results (LiC6, KC8)

SPEC = """
name = "charges_test"
analysis = "charges"
[engine]
name = "{engine}"
final = "final"
prerelax = "none"
xc = "PBE"
dispersion = "d3bj"
setups = "paw"
[[models]]
builder = "campaign_model"
tasks = ["charges"]
grid = {{ label = ["graphite_intercalation-LiC6", "graphite_intercalation-KC8"] }}
[models.params]
campaign = "{campaign}"
[models.options]
gridrefinement = {grid}
"""


def write(tmp_path, name, grid=2, engine="gpaw"):
    folder = tmp_path / name
    folder.mkdir()
    text = SPEC.format(campaign=GIC_ML, grid=grid, engine=engine)
    if engine != "gpaw":
        text = text.replace(
            'final = "final"\nprerelax = "none"\n'
            'xc = "PBE"\ndispersion = "d3bj"\nsetups = "paw"\n',
            "",
        )
    (folder / "campaign.toml").write_text(textwrap.dedent(text))
    return folder


def test_campaign_model_reads_a_finished_model_of_another_campaign():
    atoms = campaign_model(str(GIC_ML), "graphite_intercalation-LiC6")
    assert atoms.get_chemical_formula() == "C6Li"
    assert atoms.info["metal"] == "Li" and atoms.info["host"] == "graphite"
    assert atoms.info["source"].startswith(str(GIC_ML))
    with pytest.raises(ValueError, match="graphite_intercalation-KC8"):
        campaign_model(str(GIC_ML), "LiC12")
    with pytest.raises(FileNotFoundError, match="run that campaign first"):
        campaign_model(str(GIC_ML / "nowhere"), "x")


def test_committed_results_are_adopted_by_key_and_read_back(tmp_path, monkeypatch):
    """The two committed final-preset analyses carry the keys of these tasks (same
    structures, GPAW settings and grid refinement): adopted, and the tasks finish
    without a GPAW calculation; grid refinement 1 is another analysis."""

    def no_gpaw(*args, **kwargs):
        raise AssertionError("GPAW was called for an adopted result")

    monkeypatch.setattr(kind, "charge_analysis", no_gpaw)
    campaign = Campaign(write(tmp_path, "a"), stream=False)
    adopted = import_charge_results(campaign, FINAL_PRESET)
    assert sorted(adopted) == [
        "graphite_intercalation-KC8",
        "graphite_intercalation-LiC6",
    ]
    for entry in campaign.entries():
        result = run_task_folder(entry.folder, calc=None)
        assert result["status"] == "ok", result.get("reason")
        assert 0.7 < result["values"]["bader_metal_e_per_atom"] < 0.9
    campaign.collect()
    rows, _ = campaign.model_rows()
    assert {r["data"]["label"] for r in rows} == set(adopted)

    other = Campaign(write(tmp_path, "b", grid=1), stream=False)
    assert import_charge_results(other, FINAL_PRESET) == {}
    assert not any((e.folder / CHARGES_FILE).exists() for e in other.entries())


def test_charges_need_the_gpaw_engine(tmp_path):
    campaign = Campaign(write(tmp_path, "ml", engine="mlip"), stream=False)
    campaign.write_task_files()
    entry = campaign.entries()[0]
    result = run_task_folder(entry.folder, calc=object())
    assert result["status"] == "failed"
    assert "no electron density" in result["reason"]
