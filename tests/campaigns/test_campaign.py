"""The campaign life cycle through the CLI: run, status, collect, table, plot."""

import csv
import json
import subprocess
from pathlib import Path

import ase.db
import pytest

from alkali_layers.analysis.tables import BILAYER_COLUMNS
from alkali_layers.campaigns.campaign import Campaign
from alkali_layers.cli import main

from .conftest import write_spec

ROOT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def done_campaign(tmp_path_factory):
    """The small campaign (Na 1-2 layers AA) run once in-process."""
    spec = write_spec(tmp_path_factory.mktemp("camp") / "small")
    assert main(["run", str(spec), "--workers", "1"]) == 0
    return spec


def read_table(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def result_files(spec):
    return sorted((spec.parent / "tasks").glob("*/result.json"))


def test_run_writes_tasks_results_database_table_and_figure(done_campaign):
    root = done_campaign.parent
    table = read_table(root / "table.csv")
    assert list(table[0]) == list(BILAYER_COLUMNS)
    assert [(r["metal"], r["n_layers"]) for r in table] == [("Na", "1"), ("Na", "2")]
    one, two = table
    assert one["n_atoms"] == "13" and two["n_atoms"] == "34"
    # C12Na total basis by hand: 96485.33/(3.6*(12*12.011+22.99)) = 160.4 mAh/g
    assert float(one["capacity_total_mAh_g"]) == pytest.approx(160.4, abs=0.1)
    assert float(one["voltage_step_V"]) == pytest.approx(
        -float(one["formation_energy_eV_per_metal_atom"]), abs=1e-3
    )
    assert (root / "formation_energy.png").stat().st_size > 1000
    # the bilayer layout also compares the signs with the multilayer-alkali study
    study = (root / "vs_study.md").read_text()
    assert "| Na | 1 | AA |" in study and "| unstable |" in study
    md = (root / "table.md").read_text()
    assert md.startswith("# Na in bilayer graphene (test)")
    assert "bulk-Na" in md and "bilayer_graphene-AA" in md
    assert len(result_files(done_campaign)) == 4
    result = json.loads(result_files(done_campaign)[0].read_text())
    for key in ("key", "status", "energy_eV", "converged", "wall_s", "provenance"):
        assert key in result
    assert result["provenance"]["engine_settings_hash"]
    assert result["provenance"]["log"] == "relax.log"
    # the exact source revision, not only the package version (0.1.0 for months)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT_DIR
    ).stdout.strip()
    assert result["provenance"]["git_commit"] == head and len(head) == 40
    assert result["provenance"]["git_dirty"] in (True, False)
    with ase.db.connect(root / "results.db") as db:
        models = list(db.select(role="model"))
        assert len(models) == 2 and db.count(role="reference") == 2
    for key in (
        "engine_settings_hash",
        "version_sevenn",
        "version_ase",
        "task_key",
        "metal_strain_pct",
        "supercell",
        "energy",
    ):
        assert key in models[0]
    # physics stays out of the import: formation energies are computed from the
    # database when the table is written (checked above), not stored at import
    assert "formation_energy_eV_per_metal_atom" not in models[0]


def test_rerun_recomputes_nothing(done_campaign, capsys):
    before = {p: p.stat().st_mtime_ns for p in result_files(done_campaign)}
    assert main(["run", str(done_campaign), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "0 to run" in out
    assert {p: p.stat().st_mtime_ns for p in result_files(done_campaign)} == before
    with ase.db.connect(done_campaign.parent / "results.db") as db:
        assert db.count() == 4


def test_status_collect_table_plot_verbs(done_campaign, capsys):
    assert main(["status", str(done_campaign)]) == 0
    assert "4 tasks: 4 done, 0 failed, 0 running, 0 queued, 0 pending" in (
        capsys.readouterr().out
    )
    assert main(["collect", str(done_campaign.parent)]) == 0
    assert "imported 0 results" in capsys.readouterr().out
    (done_campaign.parent / "table.csv").unlink()
    assert main(["table", str(done_campaign)]) == 0
    assert len(read_table(done_campaign.parent / "table.csv")) == 2
    assert main(["plot", str(done_campaign)]) == 0
    assert "formation_energy.png" in capsys.readouterr().out


def test_outputs_read_the_model_rows_once(done_campaign, monkeypatch):
    campaign = Campaign(done_campaign, stream=False)
    calls = []
    read = campaign.model_rows
    monkeypatch.setattr(campaign, "model_rows", lambda: calls.append(1) or read())
    (root := done_campaign.parent).joinpath("vs_study.md").unlink()
    assert len(campaign.write_outputs()) == 2
    assert len(calls) == 1
    assert (root / "vs_study.md").exists() and (root / "formation_energy.png").exists()


def test_force_reruns_and_keeps_the_old_result(done_campaign, tmp_path):
    spec = write_spec(tmp_path / "forced", layers="[1]")
    assert main(["run", str(spec), "--workers", "1"]) == 0
    assert main(["run", str(spec), "--workers", "1", "--force"]) == 0
    folders = [p.parent for p in result_files(spec)]
    assert len(folders) == 3  # model + 2 references
    assert all(len(list(f.glob("result.*.json"))) == 1 for f in folders)  # kept aside
    with ase.db.connect(spec.parent / "results.db") as db:
        assert db.count() == 3


def test_failed_tasks_rerun_only_when_asked(tmp_path, capsys):
    spec = write_spec(tmp_path / "retry", layers="[1]")
    assert main(["run", str(spec), "--workers", "1"]) == 0
    model = next(p for p in result_files(spec) if "Na-1L-AA" in str(p))
    failed = json.loads(model.read_text())
    failed.update(status="failed", reason="SCF did not converge (simulated)")
    model.write_text(json.dumps(failed))
    with ase.db.connect(spec.parent / "results.db") as db:
        db.delete([next(db.select(label="Na-1L-AA")).id])
    assert main(["run", str(spec), "--workers", "1"]) == 0
    capsys.readouterr()
    assert main(["status", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "1 failed" in out and "SCF did not converge (simulated)" in out
    assert "Na-1L-AA: SCF did not converge" in (spec.parent / "table.md").read_text()
    assert main(["run", str(spec), "--workers", "1", "--retry-failed"]) == 0
    capsys.readouterr()
    main(["status", str(spec)])
    assert "3 done, 0 failed" in capsys.readouterr().out


def test_a_grid_point_that_cannot_be_built_fails_alone(tmp_path, capsys):
    spec = write_spec(tmp_path / "bad", metals='["Rb"]', max_strain=0.0005)
    main(["status", str(spec)])  # before the run: failed, with nothing to collect
    before = capsys.readouterr().out
    assert "1 failed" in before and "not collected" not in before
    assert not (spec.parent / "results.db").exists()  # status wrote nothing
    assert main(["run", str(spec), "--workers", "1"]) == 0
    table = read_table(spec.parent / "table.csv")
    assert [r["n_layers"] for r in table] == ["1"]
    md = (spec.parent / "table.md").read_text()
    assert "Rb-2L-AA: builder: no coincidence supercell" in md
    capsys.readouterr()
    main(["status", str(spec)])
    assert (
        "failed   Rb-2L-AA: builder: no coincidence supercell"
        in capsys.readouterr().out
    )


@pytest.mark.slow  # subprocesses
def test_worker_processes_give_the_same_results(tmp_path, done_campaign):
    spec = write_spec(tmp_path / "parallel")
    from alkali_layers.campaigns.backends import LocalBackend

    table = Campaign(spec, stream=False).run(LocalBackend(workers=2))
    serial = read_table(done_campaign.parent / "table.csv")
    assert len(table) == 2
    for mine, theirs in zip(table, serial, strict=True):
        assert mine["formation_energy_eV_per_metal_atom"] == pytest.approx(
            float(theirs["formation_energy_eV_per_metal_atom"]), abs=2e-3
        )


@pytest.mark.slow  # subprocesses
def test_task_folder_runs_as_a_plain_command(done_campaign, tmp_path):
    import subprocess
    import sys

    folder = result_files(done_campaign)[0].parent
    proc = subprocess.run(
        [sys.executable, "-m", "alkali_layers.task", str(folder)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and ": ok" in proc.stdout  # finished: not run again
    proc = subprocess.run(
        [sys.executable, "-m", "alkali_layers.task", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "not a task folder" in proc.stderr


def test_serial_runs_start_small_and_worker_pools_start_large():
    from types import SimpleNamespace

    from alkali_layers.campaigns.backends import execution_order

    entries = [SimpleNamespace(n_atoms=n, name=n) for n in (13, 40, 1, 19)]
    assert [e.n_atoms for e in execution_order(entries, 1)] == [1, 13, 19, 40]
    assert [e.n_atoms for e in execution_order(entries, 2)] == [40, 19, 13, 1]


def test_compare_verb_names_both_campaigns_and_their_protocols(done_campaign, tmp_path):
    """``alkali-layers compare`` on a campaign and itself: zero differences, and the
    report says which campaign and protocol each column is."""
    out = tmp_path / "self.md"
    root = str(done_campaign.parent)
    assert main(["compare", root, root, "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# small vs small")
    assert (
        "- small (" in text and "SevenNet 7net-0" in text and "fmax 0.05 eV/A" in text
    )
    assert "| Na-1L-AA |" in text and "Mean absolute deviation 0 meV" in text
    assert "## energy_eV" not in text
    assert main(["compare", root, root, "--out", str(out), "--energies"]) == 0
    text = out.read_text()
    energies = text.split("## energy_eV")[1]
    assert "| Na-1L-AA |" in energies and "difference (meV)" in energies
    assert "Mean absolute deviation 0 meV" in energies
