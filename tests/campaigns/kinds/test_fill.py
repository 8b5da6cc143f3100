"""The ``fill`` task kind: options and keys, checkpoints in the task folder, reuse,
the hard-carbon builder, and the import of fillings computed before campaigns."""

import json
import textwrap

import pytest
from ase.calculators.calculator import Calculator

from alkali_layers.builders import closed_pore
from alkali_layers.calculators.references import ReferenceEnergies
from alkali_layers.calculators.relax import RelaxSettings
from alkali_layers.campaigns.campaign import Campaign
from alkali_layers.campaigns.fill_import import import_fillings
from alkali_layers.campaigns.kinds.fill import (
    FILL_CHECKPOINT,
    FILL_LOG,
    FILL_RESULT,
    FillOptions,
    hard_carbon_pore,
    run_fill,
)
from alkali_layers.campaigns.registry import task_kind
from alkali_layers.campaigns.spec import SpecError, load_spec
from alkali_layers.campaigns.tasks import RelaxTask
from alkali_layers.workflows.filling import (
    DEFAULT_FILL_RELAX,
    FillingResult,
    sequential_filling,
)
from tests.workflows.test_filling import ToyMetalCalculator

MU_NA_TOY_EV = -0.8  # the toy calculator's "bulk Na" (tests/workflows/test_filling.py)

SPEC = """
name = "fill_test"
analysis = "hard_carbon"
[engine]
name = "mlip"
[relax]
fmax_eV_A = {campaign_fmax}
[[models]]
builder = "closed_pore"
tasks = ["fill"]
grid = {{ vacancies = [[]] }}  # (a label that does not read as a number)
[models.params]
width_nm = 0.8
size = [2, 2]
[models.options]
metal = "Na"
n_max = {n_max}
n_relax = {n_relax}
max_candidates = 2
n_random = 1
rank_steps = 0
stop_below_V = -5.0
relax = {{ fmax_eV_A = {fill_fmax}, max_steps = 60 }}
"""


def write(
    tmp_path, name="fill", n_relax=1, fill_fmax=0.05, campaign_fmax=0.02, n_max=1
):
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    text = SPEC.format(
        n_relax=n_relax, fill_fmax=fill_fmax, campaign_fmax=campaign_fmax, n_max=n_max
    )
    (folder / "campaign.toml").write_text(textwrap.dedent(text))
    return folder


def only_entry(folder):
    (entry,) = Campaign(folder, stream=False).entries()
    return entry


@pytest.fixture
def toy_mu(monkeypatch):
    """mu_Na of the toy calculator (it has no stress for a bcc cell relaxation)."""
    monkeypatch.setattr(
        ReferenceEnergies, "metal_eV_per_atom", lambda self, metal: MU_NA_TOY_EV
    )


class Untouchable(Calculator):
    """A calculator that fails if asked anything: proves a result was reused."""

    implemented_properties = ["energy", "forces"]

    def calculate(self, *args, **kwargs):
        raise AssertionError("the engine was called: the finished fill was recomputed")


# ------------------------------------------------------------------ options, keys
def test_editing_a_filling_setting_gives_a_new_task(tmp_path):
    """The fill options enter the task key: n_relax or the fill relaxation's fmax
    edited in the spec is a new task (new key, new folder), never the old result;
    the same spec gives the same key, and the campaign's [relax] table, which
    fillings do not use, does not change it."""
    base = only_entry(write(tmp_path, "a"))
    assert only_entry(write(tmp_path, "b")).key == base.key
    edited = only_entry(write(tmp_path, "c", n_relax=2))
    assert edited.key != base.key
    assert edited.folder.name != base.folder.name
    assert edited.task.options["n_relax"] == 2
    assert only_entry(write(tmp_path, "d", fill_fmax=0.1)).key != base.key
    assert only_entry(write(tmp_path, "e", campaign_fmax=0.05)).key == base.key


def test_edited_filling_setting_is_not_reused_in_the_same_campaign(tmp_path, toy_mu):
    """A finished fill, then its spec edited in place (n_relax 1 -> 2): the campaign
    shows the edited task pending in a new folder, not the old result as done."""
    from alkali_layers.campaigns.worker import run_task_folder

    folder = write(tmp_path, "c")
    campaign = Campaign(folder, stream=False)
    campaign.write_task_files()
    (old,) = campaign.entries()
    assert run_task_folder(old.folder, calc=ToyMetalCalculator())["status"] == "ok"
    campaign.collect()
    assert [s.state for s in Campaign(folder, stream=False).status()] == ["done"]
    write(tmp_path, "c", n_relax=2)  # the same campaign directory, one setting edited
    (state,) = Campaign(folder, stream=False).status()
    assert state.state == "pending"
    assert state.entry.folder != old.folder and state.entry.key != old.key


def test_fill_options_fill_in_the_filling_defaults():
    """Defaults come from FillingSettings / DEFAULT_FILL_RELAX (one source); a
    partial relax table changes only the fields it names."""
    options = task_kind("fill").options_dict(
        {"metal": "K", "relax": {"fmax_eV_A": 0.1, "max_steps": 30}}
    )
    assert options["n_relax"] == FillOptions(metal="K").n_relax == 3
    assert options["relax"]["fmax_eV_A"] == 0.1
    assert options["relax"]["max_steps"] == 30
    assert options["relax"]["gallery_prescan"] is DEFAULT_FILL_RELAX.gallery_prescan
    assert FillOptions(**options).relax == RelaxSettings(
        fmax_eV_A=0.1, max_steps=30, gallery_prescan=False
    )


@pytest.mark.parametrize(
    "options, match",
    [
        ({}, "need metal"),
        ({"metal": "Xx"}, "unknown metal"),
        ({"metal": "Na", "n_relax": 0}, "n_relax"),
        ({"metal": "Na", "relax": {"fmax": 0.1}}, "unknown relax option"),
        ({"metal": "Na", "full_pore_steps": 3, "n_max": 9}, "leave atoms_per_step"),
        ({"metal": "Na", "full_pore_max_strain": 2.0}, "fraction"),
        ({"metal": "Na", "n_maximum": 3}, "unknown option"),
    ],
)
def test_bad_fill_options_are_refused_with_the_reason(options, match):
    with pytest.raises(ValueError, match=match):
        task_kind("fill").options_dict(options)


def test_spec_with_a_bad_fill_option_names_the_key(tmp_path):
    folder = write(tmp_path)
    path = folder / "campaign.toml"
    path.write_text(path.read_text().replace("n_max = 1", "n_max = 0"))
    assert "n_max = 0" in path.read_text()
    with pytest.raises(SpecError, match=r"models\[0\]\.options.*n_max"):
        load_spec(folder)


def test_full_pore_steps_size_the_steps_from_the_pore_capacity():
    """closed_pore(1.0, size=(4, 4)) holds 2 x 14 = 28 Na (9 % strain bound): 3
    steps of ceil(28 / 3) = 10 and one more, n_max 38 -- the settings of the
    committed closed-wide Na filling (runs/hard_carbon)."""
    options = FillOptions(metal="Na", full_pore_steps=3, full_pore_max_strain=0.09)
    settings = options.filling_settings(closed_pore(1.0, size=(4, 4)))
    assert (settings.atoms_per_step, settings.n_max) == (10, 38)


def test_hard_carbon_pore_builds_the_study_hosts():
    wedge = hard_carbon_pore("wedge", "Na", "strict")
    assert wedge.get_chemical_formula() == "C244H12"
    assert wedge.info["fill_host"] == "wedge"
    assert wedge.info["fill_protocol"] == "strict"
    assert len(hard_carbon_pore("closed", "K")) == 64
    assert len(hard_carbon_pore("closed-wide", "K")) == 128
    with pytest.raises(ValueError, match="unknown hard-carbon host"):
        hard_carbon_pore("slit", "Na")


def test_fill_refuses_a_model_built_for_another_metal(tmp_path):
    task = RelaxTask(
        "x",
        "model",
        hard_carbon_pore("closed", "K"),
        kind="fill",
        options=task_kind("fill").options_dict({"metal": "Na"}),
    )
    with pytest.raises(ValueError, match="built for K"):
        run_fill(task, None, Untouchable(), None, tmp_path)


# ------------------------------------------------------- running, resuming, reuse
def tiny_task(**options):
    opts = dict(
        metal="Na",
        n_max=1,
        max_candidates=2,
        n_random=1,
        n_relax=1,
        rank_steps=0,
        stop_below_V=None,
        relax={"fmax_eV_A": 0.05, "max_steps": 60},
    )
    opts.update(options)
    return RelaxTask(
        "tiny",
        "model",
        closed_pore(0.8, size=(2, 2)),
        kind="fill",
        options=task_kind("fill").options_dict(opts),
    )


def test_finished_fill_is_reused_without_computing(tmp_path, toy_mu):
    """A task folder holding its finished filling gives the same outcome again
    without calling the engine; the checkpoint is gone once the filling is done."""
    task = tiny_task()
    first = run_fill(task, None, ToyMetalCalculator(), None, tmp_path)
    assert first.ok and first.values["n_metal_max"] == 1
    assert (tmp_path / FILL_RESULT).exists()
    assert not (tmp_path / FILL_CHECKPOINT).exists()
    assert "n =   1" in (tmp_path / FILL_LOG).read_text()
    again = run_fill(task, None, Untouchable(), None, tmp_path)
    assert again.energy_eV == first.energy_eV
    assert again.values == first.values
    assert again.data == first.data


def test_killed_fill_resumes_from_its_checkpoint(tmp_path, toy_mu):
    """A filling killed after its first step continues from the checkpoint in its
    task folder and ends exactly as an uninterrupted one."""
    task = tiny_task(n_max=2)
    full = run_fill(task, None, ToyMetalCalculator(), None, tmp_path / "full")
    folder = tmp_path / "killed"
    folder.mkdir()

    class Killed(Exception):
        pass

    def checkpoint_then_die(result):
        result.write(folder / FILL_CHECKPOINT)
        raise Killed

    options = FillOptions(**task.options)
    with pytest.raises(Killed):
        sequential_filling(
            task.atoms,
            "Na",
            ToyMetalCalculator(),
            options.filling_settings(task.atoms),
            checkpoint=checkpoint_then_die,
        )
    resumed = run_fill(task, None, ToyMetalCalculator(), None, folder)
    assert "resumed at n = 1" in (folder / FILL_LOG).read_text()
    assert resumed.energy_eV == pytest.approx(full.energy_eV, abs=1e-10)
    assert (
        resumed.data["filling"]["steps"][1]["label"]
        == (full.data["filling"]["steps"][1]["label"])
    )


def test_finished_fill_of_another_pore_is_refused(tmp_path, toy_mu):
    run_fill(tiny_task(), None, ToyMetalCalculator(), None, tmp_path)
    other = tiny_task()
    other.atoms = closed_pore(0.9, size=(2, 2))  # same formula, another pore
    with pytest.raises(ValueError, match="another pore"):
        run_fill(other, None, Untouchable(), None, tmp_path)


# ------------------------------------------------------------------------ import
def old_result(tmp_path, task, name="old", tamper=None):
    """A filling as run.py wrote it: no pore hash, settings without the fields added
    since (RelaxSettings.layered_cell)."""
    options = FillOptions(**task.options)
    result = sequential_filling(
        task.atoms, "Na", ToyMetalCalculator(), options.filling_settings(task.atoms)
    )
    path = result.write(tmp_path / "old" / f"{name}.json")
    data = json.loads(path.read_text())
    data["pore_hash"] = None
    data["settings"]["relax"].pop("layered_cell", None)
    if tamper:
        tamper(data)
    path.write_text(json.dumps(data))
    return path


def test_import_verifies_old_fillings_and_leaves_the_rest_to_run(tmp_path, toy_mu):
    """An old filling of the same pore, settings and engine becomes the task's
    finished result (collected into the database, reused by later runs); one whose
    empty-pore energy does not match what the engine gives now is not imported."""
    folder = write(tmp_path)
    campaign = Campaign(folder, stream=False)
    (entry,) = campaign.entries()
    source = old_result(tmp_path, entry.task)
    reports = import_fillings(campaign, source.parent, calc=ToyMetalCalculator())
    assert [r.status for r in reports] == ["imported"]
    assert reports[0].checks["empty_pore_dE_eV"] < 1e-9
    assert (entry.folder / FILL_RESULT).exists()
    assert (entry.folder / "imported.json").exists()
    assert Campaign(folder, stream=False).status()[0].state == "done"
    rows, _ = Campaign(folder, stream=False).model_rows()
    assert rows[0]["n_metal_max"] == 1
    # a second import leaves the finished task alone
    again = import_fillings(campaign, source.parent, calc=Untouchable())
    assert [r.status for r in again] == ["done"]

    other = write(tmp_path, "other")
    campaign = Campaign(other, stream=False)
    (entry,) = campaign.entries()

    def shift_empty_energy(data):
        data["steps"][0]["energy_eV"] += 0.01

    bad = old_result(tmp_path / "b", entry.task, tamper=shift_empty_energy)
    reports = import_fillings(campaign, bad.parent, calc=ToyMetalCalculator())
    assert [r.status for r in reports] == ["rerun"]
    assert "relaxes differently" in reports[0].reasons[0]
    assert not (entry.folder / FILL_RESULT).exists()


def test_import_refuses_other_settings(tmp_path, toy_mu):
    folder = write(tmp_path)
    campaign = Campaign(folder, stream=False)
    (entry,) = campaign.entries()

    def other_seed(data):
        data["settings"]["seed"] = 7

    source = old_result(tmp_path, entry.task, tamper=other_seed)
    reports = import_fillings(campaign, source.parent, calc=ToyMetalCalculator())
    assert reports[0].status == "rerun"
    assert "other FillingSettings" in reports[0].reasons[0]
    assert FillingResult.read(source).settings["seed"] == 7


# ------------------------------------------------------------------ fill_complete
def test_fill_complete_fills_all_layers_and_gives_the_voltage(tmp_path, toy_mu):
    """A 0.6 nm slit holds one Na layer (14 atoms in 4 x 4 cells): the voltage of
    the complete filling is -[E(full) - E(empty) - n mu]/n; a 0.4 nm slit holds
    none (0.45 nm needed) and gives no voltage."""
    from alkali_layers.campaigns.kinds.fill import run_fill_complete

    options = task_kind("fill_complete").options_dict(
        {"metal": "Na", "relax": {"max_steps": 30}}
    )
    task = RelaxTask(
        "w", "model", closed_pore(0.6), kind="fill_complete", options=options
    )
    out = run_fill_complete(task, None, ToyMetalCalculator(), None, tmp_path)
    v = out.values
    assert (v["layers_fit"], v["n_metal"]) == (1, 14)
    assert v["voltage_V"] == pytest.approx(
        -(v["energy_filled_eV"] - v["energy_empty_eV"] - 14 * MU_NA_TOY_EV) / 14
    )
    assert out.data["host_counts"] == {"C": 128}
    task.atoms = closed_pore(0.4)
    out = run_fill_complete(task, None, ToyMetalCalculator(), None, tmp_path)
    assert out.values["layers_fit"] == 0 and "voltage_V" not in out.values


# --------------------------------------------------------- a campaign, 7net-0 (slow)
@pytest.mark.slow
def test_fill_campaign_with_7net0_runs_once_and_reports(tmp_path):
    """`run` fills the pore with the ML engine, files E(n) in the database, writes
    the hard_carbon layout; a second `run` finds the task done and computes
    nothing."""
    folder = write(tmp_path)
    table = Campaign(folder, stream=False).run()
    campaign = Campaign(folder, stream=False)
    assert [s.state for s in campaign.status()] == ["done"]
    (row,) = campaign.model_rows()[0]
    assert row["task_kind"] == "fill" and row["n_metal_max"] == 1
    steps = row["data"]["filling"]["steps"]
    assert [s["n_metal"] for s in steps] == [0, 1]
    assert table and table[0]["n_metal_max"] == 1
    assert (folder / "table.md").exists()
    assert (folder / "voltage_closed_pore.png").exists()
    result = next((folder / "tasks").glob("*/result.json"))
    stamp = result.stat().st_mtime_ns
    assert campaign.todo() == []
    Campaign(folder, stream=False).run()
    assert result.stat().st_mtime_ns == stamp


def test_report_shows_an_unfinished_filling_from_its_checkpoint(tmp_path, toy_mu):
    """A filling still running (only its checkpoint in the task folder) enters the
    report as unfinished; it is not in the database."""
    from alkali_layers.campaigns.kinds.fill import fill_records

    folder = write(tmp_path)
    campaign = Campaign(folder, stream=False)
    campaign.write_task_files()
    (entry,) = campaign.entries()
    options = FillOptions(**entry.task.options)
    result = sequential_filling(
        entry.task.atoms,
        "Na",
        ToyMetalCalculator(),
        options.filling_settings(entry.task.atoms),
    )
    result.write(entry.folder / FILL_CHECKPOINT)
    records, scan = fill_records(campaign)
    assert scan == []
    (record,) = records
    assert not record.complete
    assert (record.host, record.metal, record.protocol) == (
        "closed_pore",
        "Na",
        "production",
    )
    assert Campaign(folder, stream=False).model_rows()[0] == []
