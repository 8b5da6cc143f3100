"""The registry of task kinds: keys, options, the single_point kind, errors."""

from dataclasses import dataclass

import pytest

from alkali_layers.builders import bulk_metal, graphite_intercalation
from alkali_layers.calculators.relax import RelaxSettings
from alkali_layers.campaigns.campaign import Campaign
from alkali_layers.campaigns.registry import (
    TASK_KINDS,
    TaskKind,
    register_task_kind,
    task_kind,
)
from alkali_layers.campaigns.spec import SpecError, load_spec
from alkali_layers.campaigns.tasks import RelaxTask, TaskOutcome, execute_task
from alkali_layers.engines import MLIPSettings
from alkali_layers.settings import stable_hash, structure_hash

from .conftest import write_spec

SINGLE = """
name = "sp"
[engine]
name = "mlip"
[[models]]
builder = "graphite_intercalation"
tasks = ["single_point", "formation_energy"]
[models.grid]
metal = ["K"]
stoichiometry = ["KC8"]
"""


def test_keys_cover_exactly_the_settings_that_change_the_result():
    engine = MLIPSettings()
    loose, tight = RelaxSettings(fmax_eV_A=0.05), RelaxSettings(fmax_eV_A=0.01)
    atoms = bulk_metal("Na")
    relax = RelaxTask("Na", "model", atoms)
    single = RelaxTask("Na", "model", atoms, kind="single_point")
    assert relax.key(engine, loose) != relax.key(engine, tight)
    assert single.key(engine, loose) == single.key(engine, tight)
    assert single.key(engine, loose) != relax.key(engine, loose)
    assert single.key(engine, loose) != single.key(
        MLIPSettings(dispersion="none"), loose
    )
    # relax keys are those of every committed campaign (no silent recompute)
    assert relax.key(engine, loose) == stable_hash(
        {
            "kind": "relax",
            "structure": structure_hash(atoms),
            "engine": engine.settings_hash(),
            "relax": loose.settings_hash(),
        }
    )


def test_unknown_and_duplicate_task_kinds_are_clear_errors():
    assert {"relax", "single_point"} <= set(TASK_KINDS)
    with pytest.raises(
        ValueError, match="unknown task kind 'no_such_kind'; registered: .*relax"
    ):
        task_kind("no_such_kind")
    with pytest.raises(ValueError, match="already registered"):
        register_task_kind(TaskKind("relax", "again", run=None))


def test_spec_refuses_relax_and_single_point_together(tmp_path):
    text = SINGLE.replace(
        '"single_point", "formation_energy"', '"relax", "single_point"'
    )
    with pytest.raises(SpecError, match="exclude each other"):
        load_spec(write_spec(tmp_path / "bad", text=text))


def test_single_point_task_is_the_energy_at_the_built_geometry(tmp_path, mlip):
    campaign = Campaign(write_spec(tmp_path / "sp", text=SINGLE), stream=False)
    campaign.run()
    rows, failed = campaign.model_rows()
    assert not failed and len(rows) == 1
    (row,) = rows
    assert row["task_kind"] == "single_point" and row["n_steps"] == 0
    direct = graphite_intercalation("K", "KC8")
    direct.calc = mlip
    assert row["energy_eV"] == pytest.approx(direct.get_potential_energy(), abs=1e-6)
    # the formation energy uses the relaxed references, as for relaxed models
    assert row["formation_energy_eV_per_metal_atom"] == pytest.approx(
        row["energy_eV"] - 8 * row["host_energy_per_carbon_eV"] - row["mu_metal_eV"]
    )
    kinds = {e.label: e.task.kind for e in campaign.entries()}
    assert kinds["K-KC8"] == "single_point"
    assert {k for label, k in kinds.items() if label != "K-KC8"} == {"relax"}


@dataclass(frozen=True)
class ToyOptions:
    scale: float = 2.0
    tag: str = "a"


def _toy_run(task, engine, calc, settings, folder):
    """A kind whose result depends on its options only: counts the calls."""
    (folder / "calls").write_text(str(int(_toy_calls(folder)) + 1))
    energy = task.options["scale"] * len(task.atoms)
    return TaskOutcome(
        task.label,
        ok=True,
        atoms=task.atoms,
        energy_eV=energy,
        converged=True,
        values={"toy_energy_eV": energy},
        data={"tag": task.options["tag"], "per_atom": [energy / len(task.atoms)]},
    )


def _toy_calls(folder) -> str:
    path = folder / "calls"
    return path.read_text() if path.exists() else "0"


if "toy" not in TASK_KINDS:
    register_task_kind(TaskKind("toy", "test kind", _toy_run, False, ToyOptions))

TOY = """
name = "toy"
[engine]
name = "mlip"
[[models]]
builder = "bulk_metal"
tasks = ["toy"]
[models.grid]
metal = ["Na"]
[models.options]
scale = 3.0
"""


def test_options_enter_the_key_and_values_and_data_reach_the_rows(tmp_path):
    campaign = Campaign(write_spec(tmp_path / "toy", text=TOY), stream=False)
    campaign.run()
    (row,), failed = campaign.model_rows()
    assert not failed
    assert row["toy_energy_eV"] == pytest.approx(3.0 * row["n_atoms"])
    assert row["data"] == {"tag": "a", "per_atom": [3.0]}
    (entry,) = campaign.entries()
    assert entry.task.options == {"scale": 3.0, "tag": "a"}
    # a rerun of the same spec reuses the task
    again = Campaign(write_spec(tmp_path / "toy", text=TOY), stream=False)
    again.run()
    assert _toy_calls(entry.folder) == "1"
    # editing an option gives a new task (not reused)
    edited = TOY.replace("scale = 3.0", "scale = 4.0")
    changed = Campaign(write_spec(tmp_path / "toy", text=edited), stream=False)
    (new_entry,) = changed.entries()
    assert new_entry.key != entry.key
    changed.run()
    (row,), _ = changed.model_rows()
    assert row["toy_energy_eV"] == pytest.approx(4.0 * row["n_atoms"])


def test_unknown_options_are_clear_errors(tmp_path):
    text = TOY.replace("scale = 3.0", "scael = 3.0")
    with pytest.raises(SpecError, match=r"unknown option\(s\) \['scael'\]"):
        load_spec(write_spec(tmp_path / "bad", text=text))
    text = TOY.replace('tasks = ["toy"]', 'tasks = ["relax"]')
    with pytest.raises(SpecError, match="takes no options"):
        load_spec(write_spec(tmp_path / "bad2", text=text))


def _raising_run(task, engine, calc, settings, folder):
    raise RuntimeError("the engine gave up")


if "raising" not in TASK_KINDS:
    register_task_kind(TaskKind("raising", "test kind that raises", _raising_run))


def test_an_engine_error_fails_the_task_with_its_message_once_and_its_place():
    task = RelaxTask("Na", "model", bulk_metal("Na"), kind="raising")
    outcome = execute_task(task, None, RelaxSettings())
    assert not outcome.ok
    assert outcome.reason.count("the engine gave up") == 1
    assert outcome.reason.startswith("RuntimeError: the engine gave up (at ")
    assert "test_task_kinds.py:" in outcome.reason
    assert outcome.reason.endswith("in _raising_run)")


def test_a_failed_charge_job_gives_its_message_once_and_its_place(
    tmp_path, monkeypatch
):
    import alkali_layers.calculators.charges as charges_calc
    from alkali_layers.campaigns.charges import ChargeJob, run_charge_job
    from alkali_layers.engines import GPAWSettings

    def failing_analysis(*args, **kwargs):
        raise ValueError("no density here")

    monkeypatch.setattr(charges_calc, "charge_analysis", failing_analysis)
    job = ChargeJob("Na", bulk_metal("Na"), "test")
    result = run_charge_job(job, GPAWSettings(), tmp_path / "job")
    assert result["status"] == "failed"
    assert result["reason"].count("no density here") == 1
    assert result["reason"].endswith("in failing_analysis)")
