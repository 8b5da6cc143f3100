"""Error bars switched on in a finished campaign: the finished energies are adopted and
only the BEEF-vdW ensemble is computed (alkali_layers.campaigns.error_bars)."""

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from ase.build import bulk

import alkali_layers.campaigns.kinds  # noqa: F401  (registers the task kinds)
from alkali_layers.calculators.relax import RelaxSettings
from alkali_layers.campaigns.error_bars import (
    ADOPTED_FILE,
    OWN_RESULT_FILE,
    adopt_finished,
    adopted_outcome,
    discard_kept_results,
    key_without_error_bars,
    own_outcome,
    with_error_bars,
)
from alkali_layers.campaigns.store import ResultStore
from alkali_layers.campaigns.tasks import (
    BUILDER_KEYS,
    TASK_KIND_SINGLE_POINT,
    RelaxTask,
    TaskOutcome,
)
from alkali_layers.cli import main
from alkali_layers.engines import DFTProtocol
from alkali_layers.errors import ModelFailure

from .conftest import write_spec
from .test_gpaw_campaign import ERROR_BARS_SPEC


def _entry(tmp_path, error_bars=True):
    atoms = bulk("Na", "bcc", a=4.2, cubic=True)
    atoms.info.update(host="bulk", metal="Na")
    task = RelaxTask("bulk-Na", "model", atoms, {}, kind=TASK_KIND_SINGLE_POINT)
    engine, settings = DFTProtocol(error_bars=error_bars), RelaxSettings()
    key = task.key(engine, settings)
    folder = tmp_path / "tasks" / key
    folder.mkdir(parents=True)
    return SimpleNamespace(task=task, engine=engine, settings=settings, folder=folder)


def _with_error_bars(entry, error_bars=True):
    return SimpleNamespace(
        **{**vars(entry), "engine": DFTProtocol(error_bars=error_bars)}
    )


def _finished_row(store, entry, energy=-12.5):
    """The row the same task without error bars left: builder metadata, a kind's
    own value, bookkeeping and an outcome dict."""
    key = entry.task.key(replace(entry.engine, error_bars=False), entry.settings)
    atoms = entry.task.atoms.copy()
    atoms.positions[1, 0] += 0.01  # a relaxed geometry differs from the built one
    from ase.calculators.singlepoint import SinglePointCalculator

    atoms.calc = SinglePointCalculator(atoms, energy=energy)
    values = {
        "label": entry.task.label,
        "role": "model",
        "host": "bulk",
        "metal": "Na",
        "converged": True,
        "n_steps": 7,
        "wall_s": 42.0,
        "engine_settings_hash": "old",
        "version_gpaw": "x",
        "bader_metal_e_per_atom": 0.8,
    }
    data = {BUILDER_KEYS: ["host", "metal"], "outcome": {"summary": {"n": 1}}}
    store.record(key, atoms, values, data)
    return key, atoms


def test_a_finished_task_without_error_bars_is_adopted_with_its_values(tmp_path):
    store = ResultStore(tmp_path / "results.db")
    entry = _entry(tmp_path)
    key, relaxed = _finished_row(store, entry)
    assert key == key_without_error_bars(entry.task, entry.engine, entry.settings)
    assert key != entry.task.key(entry.engine, entry.settings)

    assert adopt_finished(entry, store)
    outcome = adopted_outcome(entry.task, entry.engine, entry.settings, entry.folder)
    assert outcome.ok and outcome.energy_eV == -12.5 and outcome.n_steps == 7
    np.testing.assert_allclose(outcome.atoms.positions, relaxed.positions)
    assert outcome.atoms.get_potential_energy() == -12.5
    # the kind's own value comes back; bookkeeping, provenance and builder keys not
    assert outcome.values == {"bader_metal_e_per_atom": 0.8}
    assert outcome.data == {"summary": {"n": 1}, "energy_adopted_from": key}


def test_nothing_is_adopted_without_error_bars_or_without_a_finished_row(tmp_path):
    store = ResultStore(tmp_path / "results.db")
    plain = _entry(tmp_path / "plain", error_bars=False)
    _finished_row(store, _with_error_bars(plain))
    assert key_without_error_bars(plain.task, plain.engine, plain.settings) is None
    assert not adopt_finished(plain, store)
    other = _entry(tmp_path / "other")
    other.task.atoms.positions[0, 0] += 0.1  # another structure: another key
    assert not adopt_finished(other, ResultStore(tmp_path / "empty.db"))
    assert not (other.folder / ADOPTED_FILE).exists()


def test_an_adopted_file_of_another_task_is_refused(tmp_path):
    store = ResultStore(tmp_path / "results.db")
    entry = _entry(tmp_path)
    _finished_row(store, entry)
    adopt_finished(entry, store)
    moved = entry.task.atoms.copy()
    moved.positions[0, 2] += 0.2
    other = RelaxTask("bulk-Na", "model", moved, {}, kind=TASK_KIND_SINGLE_POINT)
    with pytest.raises(ValueError, match="delete it to compute the task in full"):
        adopted_outcome(other, entry.engine, entry.settings, entry.folder)


def test_a_failed_beef_step_resumes_from_the_kept_result(tmp_path, monkeypatch):
    """The task's own calculation is kept before its BEEF-vdW step: when that step
    fails (or the run is killed), the rerun computes only the BEEF-vdW step."""
    import alkali_layers.engines.gpaw as gpaw_engine

    entry = _entry(tmp_path)
    calls = []

    def own_run(task, engine, calc, settings, folder):
        calls.append("own")
        atoms = task.atoms.copy()
        atoms.positions[0, 0] += 0.02
        return TaskOutcome(
            task.label, ok=True, atoms=atoms, energy_eV=-3.25, n_steps=4,
            data={"dft_forces_eV_A": [[0.0, 0.0, 0.1], [0.0, 0.0, -0.1]]},
        )  # fmt: skip

    def failing_beef(atoms, settings, txt=None):
        raise ModelFailure("SCF did not converge (simulated)")

    run = with_error_bars(own_run)
    args = (entry.task, entry.engine, None, entry.settings, entry.folder)
    monkeypatch.setattr(gpaw_engine, "beef_single_point", failing_beef)
    with pytest.raises(ModelFailure):
        run(*args)
    assert calls == ["own"] and (entry.folder / OWN_RESULT_FILE).exists()

    monkeypatch.setattr(
        gpaw_engine, "beef_single_point", lambda atoms, s, txt=None: (-9.0, [-9.0])
    )
    outcome = run(*args)
    assert calls == ["own"]  # not computed again
    assert outcome.ok and outcome.energy_eV == -3.25 and outcome.n_steps == 4
    assert outcome.atoms.positions[0, 0] == pytest.approx(0.02)
    assert outcome.values["beef_energy_eV"] == -9.0
    assert outcome.data["dft_forces_eV_A"][0][2] == 0.1

    moved = entry.task.atoms.copy()  # another structure: the kept file is refused
    moved.positions[0, 2] += 0.2
    other = RelaxTask("bulk-Na", "model", moved, {}, kind=TASK_KIND_SINGLE_POINT)
    with pytest.raises(ValueError, match="delete it to compute the task in full"):
        own_outcome(other, entry.engine, entry.settings, entry.folder)
    discard_kept_results(entry.folder)  # what --force does: compute in full
    run(*args)
    assert calls == ["own", "own"]


@pytest.mark.slow  # GPAW, tiny settings, 1 rank, twice: ~2 min
def test_switching_error_bars_on_computes_only_the_beef_ensemble(tmp_path, capsys):
    """A campaign that finished without error bars gets them by one BEEF-vdW SCF
    per structure: same energies and formation energy, the std next to it, the
    earlier rows kept (superseded), no new relaxation or main SCF."""
    from alkali_layers.campaigns.campaign import Campaign

    without = ERROR_BARS_SPEC.replace("error_bars = true\n", "")
    spec = write_spec(tmp_path / "bars", text=without)
    assert main(["run", str(spec), "--workers", "1"]) == 0
    before = Campaign(spec, stream=False)
    (row0,), _ = before.model_rows()
    energies0 = {e.label: before.store.find(e.key).energy for e in before.entries()}
    assert (
        "formation_energy_std_eV" not in row0 or row0["formation_energy_std_eV"] is None
    )

    spec.write_text(ERROR_BARS_SPEC)
    report = Campaign(spec, stream=False).status_report()
    assert "3 pending" in report
    assert "3 pending tasks need only their BEEF-vdW ensemble" in report
    assert "rekey" not in report  # not mistaken for rows under a stale key
    capsys.readouterr()
    assert main(["run", str(spec), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "3 tasks reuse their finished result" in out
    assert out.count("finished result adopted, BEEF-vdW") == 3  # progress lines
    after = Campaign(spec, stream=False)
    (row,), failed = after.model_rows()
    assert not failed
    assert row["formation_energy_eV_per_metal_atom"] == pytest.approx(
        row0["formation_energy_eV_per_metal_atom"], abs=1e-9
    )
    assert 0.0 < row["formation_energy_std_eV"] < 1.0
    for e in after.entries():
        new = after.store.find(e.key)
        assert new.energy == pytest.approx(energies0[e.label], abs=1e-9)
        old_key = new.data["outcome"]["energy_adopted_from"]
        assert after.store.find(old_key).superseded_by == e.key  # kept, not dropped
        logs = sorted(p.name for p in e.folder.glob("gpaw*.txt"))
        assert logs == ["gpaw-beef.txt"], logs  # only the BEEF-vdW SCF ran
