"""The main job on a small subset, through the CLI, as a user runs it."""

import csv

import ase.db
import pytest

from alkali_layers.analysis.tables import BILAYER_COLUMNS
from alkali_layers.cli import main


@pytest.fixture(scope="module")
def campaign_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("blg")
    rc = main(
        [
            "table",
            "bilayer-graphene",
            "--metals",
            "Na",
            "--layers",
            "1,2",
            "--stackings",
            "AA",
            "--out",
            str(out),
            "--workers",
            "1",
        ]
    )
    assert rc == 0
    return out


def read_table(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_cli_table_writes_table_db_and_figure(campaign_dir):
    table = read_table(campaign_dir / "table.csv")
    assert [(r["metal"], r["n_layers"], r["stacking"]) for r in table] == [
        ("Na", "1", "AA"),
        ("Na", "2", "AA"),
    ]
    assert list(table[0]) == list(BILAYER_COLUMNS)
    one, two = table
    assert one["n_atoms"] == "13" and two["n_atoms"] == "34"
    # capacities by hand: C12Na -> 96485.33/(3.6*(12*12.011+22.99)) = 160.4 mAh/g
    assert float(one["capacity_total_mAh_g"]) == pytest.approx(160.4, abs=0.1)
    assert float(one["voltage_step_V"]) == pytest.approx(
        -float(one["formation_energy_eV_per_atom"]), abs=1e-3
    )
    assert one["converged"] == "True" and two["converged"] == "True"
    assert (campaign_dir / "formation_energy.png").stat().st_size > 1000
    md = (campaign_dir / "table.md").read_text()
    assert "bulk-Na" in md and "bilayer_graphene-AA" in md
    with ase.db.connect(campaign_dir / "results.db") as db:
        models = list(db.select(role="model"))
        refs = list(db.select(role="reference"))
    assert len(models) == 2 and len(refs) == 2
    row = models[0]
    for key in (
        "engine_settings_hash",
        "version_sevenn",
        "version_ase",
        "metal_strain_pct",
        "supercell",
        "formation_energy_eV_per_atom",
        "task_key",
    ):
        assert key in row
    assert row.data["engine_settings"]["model"] == "7net-0"


def test_rerun_reuses_finished_results(campaign_dir, capsys):
    before = (campaign_dir / "table.csv").read_text()
    rc = main(
        [
            "table",
            "bilayer-graphene",
            "--metals",
            "Na",
            "--layers",
            "1,2",
            "--stackings",
            "AA",
            "--out",
            str(campaign_dir),
            "--workers",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "0 to relax" in out and "computed 0, reused 4" in out  # 2 models + 2 refs
    assert (campaign_dir / "table.csv").read_text() == before
    with ase.db.connect(campaign_dir / "results.db") as db:
        assert db.count() == 4


def test_a_grid_point_that_cannot_be_built_fails_alone(tmp_path, capsys):
    rc = main(
        [
            "table",
            "bilayer-graphene",
            "--metals",
            "Rb",
            "--layers",
            "1,2",
            "--stackings",
            "AA",
            "--max-strain",
            "0.0005",
            "--out",
            str(tmp_path),
            "--workers",
            "1",
        ]
    )
    assert rc == 0
    table = read_table(tmp_path / "table.csv")
    assert [r["n_layers"] for r in table] == ["1"]
    md = (tmp_path / "table.md").read_text()
    assert "Rb-2L-AA: builder: no coincidence supercell" in md


def test_worker_processes_give_the_same_results(tmp_path, campaign_dir):
    """Two worker processes (spawned, one engine each) reproduce the in-process run."""
    from alkali_layers.campaigns.bilayer import run_bilayer_campaign

    grid = dict(metals=("Na",), layers=(1, 2), stackings=("AA",))
    table = run_bilayer_campaign(tmp_path, workers=2, stream=False, **grid)
    serial = read_table(campaign_dir / "table.csv")
    assert len(table) == 2
    for mine, theirs in zip(table, serial, strict=True):
        assert mine["formation_energy_eV_per_atom"] == pytest.approx(
            float(theirs["formation_energy_eV_per_atom"]), abs=2e-3
        )
