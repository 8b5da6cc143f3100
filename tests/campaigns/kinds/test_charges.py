"""The ``charges`` task kind: structures from other campaigns, results of
``alkali-layers charges`` adopted by key, read back without GPAW."""

import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

from alkali_layers.campaigns.campaign import Campaign
from alkali_layers.campaigns.kinds import charges as kind
from alkali_layers.campaigns.kinds.charges import (
    CHARGES_FILE,
    campaign_model,
    import_charge_results,
)
from alkali_layers.campaigns.registry import TASK_KINDS
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


def test_bader_only_option_enters_the_key_only_when_set():
    assert kind.ChargeOptions().key_dict() == {"gridrefinement": 2}
    assert kind.ChargeOptions(with_drho=False).key_dict() == {
        "gridrefinement": 2,
        "with_drho": False,
    }
    with pytest.raises(ValueError, match="with_drho"):
        kind.ChargeOptions(with_drho="no")


MOS2 = RUNS / "graphene_mos2"
HETERO_SPEC = f"""
name = "hetero_gpaw_test"
analysis = "heterostructure"
[engine]
name = "gpaw"
final = "fast"
prerelax = "none"
[[models]]
builder = "campaign_model"
tasks = ["single_point"]
grid = {{ label = ["bulk_metal-Li"] }}
[models.params]
campaign = "{MOS2}"
[[models]]
builder = "campaign_model"
tasks = ["charges"]
grid = {{ label = ["graphene_mos2-Na-0L-2H", "graphene_mos2-Li-1L-2H"] }}
[models.params]
campaign = "{MOS2}"
[models.options]
with_drho = false
"""


@pytest.fixture(scope="module")
def gpaw_points_campaign(tmp_path_factory):
    """A "heterostructure" campaign of GPAW points (bcc Li, the empty 4-Mo cell, Li
    1 layer 2H) at the geometries of runs/graphene_mos2, run with stand-in energies
    and Bader charges (no GPAW): (folder, table rows, wall time per task kind)."""
    from alkali_layers.calculators.charges import part_summary

    energies = {"Li": -2.0, "empty": -300.0, "loaded": -310.0}  # eV

    def fake_analysis(atoms, settings, gridrefinement, folder, with_drho=True):
        assert with_drho is False
        time.sleep(0.2)  # the task's wall time is measured around the analysis
        symbols = atoms.get_chemical_symbols()
        q = [0.0] * len(atoms)
        if "Li" in symbols:  # each Li gives 0.8 e: 1.2 e to MoS2 (0.3 per Mo)
            n_mo = symbols.count("Mo")
            q = [
                {"Li": 0.8, "Mo": -1.2 / (3 * n_mo), "S": -1.2 / (3 * n_mo)}.get(s, 0.0)
                for s in symbols
            ]
            carbon = [i for i, s in enumerate(symbols) if s == "C"]
            for i in carbon:
                q[i] = -(0.8 * symbols.count("Li") - 1.2) / len(carbon)
        return {
            "energy_eV": energies["loaded" if "Li" in symbols else "empty"],
            "symbols": symbols,
            "net_charges_e": q,
            "bader_sum_error_e": 0.0,
            "summary": part_summary(atoms, q),
            "drho_integral_e": None,
        }

    def fake_single_point(task, engine, calc, settings, folder):
        from ase.calculators.singlepoint import SinglePointCalculator

        from alkali_layers.campaigns.tasks import TaskOutcome

        atoms = task.atoms.copy()
        e = energies["Li"] * len(atoms)
        atoms.calc = SinglePointCalculator(atoms, energy=e)
        return TaskOutcome(
            task.label, ok=True, atoms=atoms, energy_eV=e, converged=True
        )

    folder = tmp_path_factory.mktemp("hetero")
    (folder / "campaign.toml").write_text(HETERO_SPEC)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kind, "charge_analysis", fake_analysis)
        single_point = replace(TASK_KINDS["single_point"], run=fake_single_point)
        mp.setitem(TASK_KINDS, "single_point", single_point)
        campaign = Campaign(folder, stream=False)
        campaign.write_task_files()
        walls = {}
        for entry in campaign.entries():
            result = run_task_folder(entry.folder, calc=None)
            assert result["status"] == "ok", result.get("reason")
            walls[entry.task.kind] = result["wall_s"]
        campaign.collect()
        table = campaign.write_outputs()
    return folder, table, walls


def test_heterostructure_layout_on_gpaw_single_points_and_charges(
    gpaw_points_campaign,
):
    """Models of another campaign keep their builder metadata (phase, cell, n_Mo),
    so the "heterostructure" layout works on GPAW points at their geometries: the
    intercalation energy and the charge per Mo by hand from stand-in energies and
    Bader charges."""
    li = campaign_model(str(MOS2), "graphene_mos2-Li-1L-2H")
    assert (li.info["phase"], li.info["n_Mo"], li.info["n_metal"]) == ("2H", 4, 4)
    assert li.info["packing"] == "fcc" and "engine" not in li.info
    assert "version_ase" not in li.info and "converged" not in li.info
    folder, table, walls = gpaw_points_campaign
    assert walls["charges"] >= 0.2  # measured around the analysis
    (row,) = table
    # [E(het + 4 Li) - E(het) - 4 mu_Li] / 4 = (-310 + 300 + 8) / 4
    assert row["intercalation_energy_eV"] == pytest.approx(-0.5, abs=1e-4)
    assert row["charge_per_Mo_e"] == pytest.approx(0.3, abs=1e-4)
    assert row["above_0_46_e"] is False
    assert (folder / "table.md").exists()


def test_recorded_rows_name_their_builder_metadata(gpaw_points_campaign):
    """A row recorded now lists the keys its builder gave it (row.data), so outcome
    values (charges, energies) and provenance never pass for builder metadata; the
    charges row of the loaded cell hands on exactly the metadata it was built with."""
    from ase.db import connect

    from alkali_layers.campaigns.tasks import BUILDER_KEYS, builder_metadata

    folder, _, _ = gpaw_points_campaign
    built = campaign_model(str(MOS2), "graphene_mos2-Li-1L-2H").info
    (row,) = connect(str(folder / "results.db")).select(
        role="model", status="ok", label="campaign_model-graphene_mos2-Li-1L-2H"
    )
    assert BUILDER_KEYS in row.data
    meta = builder_metadata(row)
    assert meta == {k: v for k, v in built.items() if k in row.key_value_pairs}
    assert meta["phase"] == "2H" and meta["source"] == built["source"]
    outcome = set(row.key_value_pairs) - set(meta)
    assert {"engine", "wall_s", "task_key", "version_ase"} <= outcome


@pytest.mark.slow  # builds the 164 models of runs/graphene_mos2 (lattice searches)
def test_compare_matches_heterostructures_model_by_model(
    gpaw_points_campaign, tmp_path
):
    from alkali_layers.campaigns.kinds.heterostructure import heterostructure_rows
    from alkali_layers.cli import main

    folder, _, _ = gpaw_points_campaign
    ml = {r["model"]: r for r in heterostructure_rows(Campaign(MOS2, stream=False))[0]}
    e_ml = ml["Li-1L-4-fcc-2H"]["intercalation_energy_eV"]
    out = tmp_path / "ml_vs_dft.md"
    assert main(["compare", str(MOS2), str(folder), "--out", str(out)]) == 0
    text = out.read_text()
    assert (
        f"| Li-1L-4-fcc-2H | {e_ml:+.3f} | -0.500 | {1000 * (-0.5 - e_ml):+.0f} |"
        in text
    )
