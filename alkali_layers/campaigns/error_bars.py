"""BEEF-vdW error bars of a task, and adding them to a campaign that finished without.

A GPAW protocol with ``[engine] error_bars = true`` runs, after a task's own
calculation, one BEEF-vdW calculation at its final geometry and keeps the
2000-member ensemble of that energy (``data["beef_ensemble_eV"]``,
:func:`~alkali_layers.engines.gpaw.beef_single_point`; Wellendorff et al., PRB 85,
235149 (2012)).  The layouts turn the ensembles of a model and its references into
the ``*_std_eV`` / ``*_std_V`` columns.

``error_bars`` enters the settings hash, so switching it on in a finished campaign
gives every task a new key.  The task's own calculation is then the same as the
finished one (error bars do not change the geometry or the energy), so it is not
repeated: before a run, :func:`adopt_finished` looks up the finished row of the same
task with ``error_bars = false`` (its key recomputed from this task: same kind,
structure, settings and options) and copies it into the task folder
(:data:`ADOPTED_FILE`); the task then runs only the BEEF-vdW calculation at the
adopted geometry and is recorded as a new row (the earlier one is kept, marked
``superseded_by``), with the adopted key in ``data["outcome"]["energy_adopted_from"]``.
The cost of adding error bars to a finished campaign is therefore one BEEF-vdW SCF
per structure, not two SCFs and a relaxation.

In a task that computes its own result, that result is written to
:data:`OWN_RESULT_FILE` before the BEEF-vdW calculation starts, so a run interrupted
(or failed) in the BEEF-vdW step resumes with it, as from an adopted result; the
file goes once the task's ``result.json`` is written.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from ..jsonio import read_json, write_json_atomic
from .tasks import (
    BUILDER_KEYS,
    RECORD_KEYS,
    RECORD_PREFIXES,
    RelaxTask,
    TaskOutcome,
    now,
    outcome_to_result,
    result_outcome,
)

#: the finished result of the same task without error bars, in a task folder
ADOPTED_FILE = "adopted_without_error_bars.json"
#: the task's own finished calculation, kept while its BEEF-vdW calculation runs
OWN_RESULT_FILE = "result_before_error_bars.json"


def key_without_error_bars(task: RelaxTask, engine, settings) -> str | None:
    """The key ``task`` has with ``error_bars = false``; None when ``engine`` has no
    error bars (then there is nothing to adopt)."""
    if not getattr(engine, "error_bars", False):
        return None
    return task.key(replace(engine, error_bars=False), settings)


def row_result(row) -> dict:
    """A ``result.json``-like dict of a finished database row: its structure,
    energy, the outcome fields the row holds, the kind's own values (the row's
    key-value pairs less bookkeeping, provenance and builder metadata) and
    ``data["outcome"]``."""
    from ase.io.jsonio import encode

    skip = RECORD_KEYS | {"gallery_height_A", *row.data.get(BUILDER_KEYS, ())}
    values = {
        k: v
        for k, v in row.key_value_pairs.items()
        if k not in skip and not k.startswith(RECORD_PREFIXES)
    }
    return {
        "format": "alkali_layers.result/1",
        "key": row.task_key,
        "status": "ok",
        "label": row.label,
        "atoms": json.loads(encode(row.toatoms())),
        "energy_eV": float(row.energy),
        "converged": bool(row.get("converged", True)),
        "n_steps": int(row.get("n_steps", 0)),
        "fmax_final_eV_A": row.get("fmax_final_eV_A"),
        "wall_s": float(row.get("wall_s", 0.0)),
        "cell_mode": row.get("cell_mode", ""),
        "gallery_height_A": row.get("gallery_height_A"),
        "prescan_delta_A": float(row.get("prescan_delta_A", 0.0)),
        "values": values,
        "data": dict(row.data.get("outcome", {})),
    }


def finished_without_error_bars(entry, store):
    """The finished row (status ok) of ``entry``'s task without error bars in
    ``store``, or None (also when ``entry``'s engine has no error bars)."""
    key = key_without_error_bars(entry.task, entry.engine, entry.settings)
    row = None if key is None else store.find(key)
    return row if row is not None and row.get("status") == "ok" else None


def adopt_finished(entry, store) -> bool:
    """Before ``entry`` runs: if its engine has error bars and the same task without
    them finished in ``store``, write that result into the task folder
    (:data:`ADOPTED_FILE`, never overwritten) so the task computes only the BEEF-vdW
    ensemble.  Returns whether the folder holds an adopted result."""
    path = Path(entry.folder) / ADOPTED_FILE
    if path.exists():
        return True
    row = finished_without_error_bars(entry, store)
    if row is None:
        return False
    write_json_atomic(path, row_result(row))
    return True


def _kept_outcome(
    task: RelaxTask, folder, name: str, key: str, whose: str
) -> TaskOutcome | None:
    """The outcome in the result file ``name`` in ``folder`` when it holds the
    result of ``key``, None when there is none; ``ValueError`` when it holds
    another task's (``whose`` names the task it should be)."""
    if folder is None:
        return None
    path = Path(folder) / name
    kept = read_json(path)
    if kept is None:
        return None
    if kept.get("key") != key:
        raise ValueError(
            f"{path} holds the result of task {kept.get('key')}, not of {whose} "
            f"({key}): delete it to compute the task in full"
        )
    outcome = result_outcome(kept)
    outcome.label = task.label
    return outcome


def adopted_outcome(task: RelaxTask, engine, settings, folder) -> TaskOutcome | None:
    """The adopted result in ``folder`` (see :func:`adopt_finished`) as an outcome,
    or None.  Raises ``ValueError`` when the file is another task's."""
    key = key_without_error_bars(task, engine, settings)
    outcome = _kept_outcome(
        task, folder, ADOPTED_FILE, key, "this task without error bars"
    )
    if outcome is not None:
        outcome.data = {**outcome.data, "energy_adopted_from": key}
    return outcome


def own_outcome(task: RelaxTask, engine, settings, folder) -> TaskOutcome | None:
    """The task's own result kept in ``folder`` before its BEEF-vdW step
    (:data:`OWN_RESULT_FILE`), or None.  Raises ``ValueError`` when the file is
    another task's."""
    return _kept_outcome(
        task, folder, OWN_RESULT_FILE, task.key(engine, settings), "this task"
    )


def keep_own_outcome(outcome: TaskOutcome, task, engine, settings, folder) -> None:
    """Write ``outcome`` to ``folder``/:data:`OWN_RESULT_FILE` (see
    :func:`own_outcome`); under MPI rank 0 writes it."""
    from ase.parallel import world

    if folder is None:
        return
    if world.rank == 0:
        key = task.key(engine, settings)
        result = outcome_to_result(outcome, key, engine, settings, now())
        write_json_atomic(Path(folder) / OWN_RESULT_FILE, result)
    world.barrier()


def discard_kept_results(folder: Path) -> None:
    """Remove an adopted or kept result from a task folder (a forced rerun computes
    the task in full)."""
    for name in (ADOPTED_FILE, OWN_RESULT_FILE):
        (Path(folder) / name).unlink(missing_ok=True)


def with_error_bars(run):
    """``run`` followed, for a GPAW protocol with ``error_bars``, by a BEEF-vdW
    calculation at the final geometry: ``data["beef_ensemble_eV"]`` (2000 energies)
    and ``values["beef_energy_eV"]``.  Where the task folder holds the adopted
    result of the same task without error bars (:func:`adopt_finished`), ``run`` is
    not called: only the BEEF-vdW calculation runs."""

    def run_with_error_bars(task, engine, calc, settings, folder):
        bars = getattr(engine, "error_bars", False)
        outcome = None
        if bars:
            outcome = adopted_outcome(task, engine, settings, folder) or own_outcome(
                task, engine, settings, folder
            )
        if outcome is None:
            outcome = run(task, engine, calc, settings, folder)
            if outcome.ok and bars:
                keep_own_outcome(outcome, task, engine, settings, folder)
        if not (outcome.ok and bars):
            return outcome
        import time

        from ..engines.gpaw import beef_single_point

        t0 = time.perf_counter()
        txt = str(Path(folder) / "gpaw-beef.txt") if folder is not None else None
        energy, ensemble = beef_single_point(outcome.atoms, engine.final, txt=txt)
        outcome.values["beef_energy_eV"] = energy
        outcome.values["beef_wall_s"] = round(time.perf_counter() - t0, 1)
        outcome.data["beef_ensemble_eV"] = ensemble
        return outcome

    run_with_error_bars.__doc__ = run.__doc__
    return run_with_error_bars
