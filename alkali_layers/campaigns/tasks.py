"""Content-addressed campaign tasks and their files.

A task's key is ``hash(kind, structure, engine settings[, relaxation settings][,
options])``: the same model with the same settings always has the same key, so a
rerun finds it done, while a changed builder, engine, protocol or option of its kind
gives a new key and a new result.  What a kind computes is registered in
:mod:`alkali_layers.campaigns.registry` (the kinds live in
:mod:`alkali_layers.campaigns.kinds`); a folder is run by
:mod:`alkali_layers.campaigns.worker`.

On disk a task is a folder ``tasks/<label>.<key>/`` holding

* ``task.json``: everything needed to run it (structure, engine and relaxation
  settings), so that ``python -m alkali_layers.task <folder>`` runs it anywhere;
* ``running.json`` while it runs (host, pid, start time);
* ``relax.log``: the optimizer log;
* ``result.json``: written atomically (temporary file, then rename) when it ends,
  with the relaxed structure, energy, convergence, or the failure reason, and
  provenance (package versions, settings, host, wall time).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ase import Atoms
from ase.io.jsonio import decode, encode

from ..calculators.guards import ModelFailure
from ..calculators.relax import RelaxSettings
from ..engines import MLIPSettings, engine_from_dict, engine_to_dict
from ..jsonio import read_json, write_json_atomic
from ..provenance import provenance as source_provenance
from ..settings import stable_hash, structure_hash
from .registry import task_kind

TASK_KIND_RELAX = "relax"
TASK_KIND_SINGLE_POINT = "single_point"


@dataclass
class RelaxTask:
    """One relaxation of a model or a reference.

    Attributes
    ----------
    label : str
        Human-readable name ("Na-3L-AB", "bulk-Na", "bilayer_graphene-AA").
    role : {"model", "reference"}
    atoms : ase.Atoms or None
        The built structure (None when the builder failed; see ``build_error``).
    params : dict
        The builder parameters (used for the key when the builder failed).
    kind : str
        The registered task kind (:func:`~alkali_layers.campaigns.registry.task_kind`).
    options : dict
        The kind's options, defaults filled in (``{}`` for kinds without options);
        they enter the key.
    """

    label: str
    role: str
    atoms: Atoms | None
    params: dict = field(default_factory=dict)
    build_error: str | None = None
    kind: str = TASK_KIND_RELAX
    options: dict = field(default_factory=dict)

    def key(self, engine: MLIPSettings, settings: RelaxSettings) -> str:
        """``hash(kind, structure, engine settings[, relaxation settings][, options])``:
        every setting that changes the result, and only those (see
        :class:`~alkali_layers.campaigns.registry.TaskKind`)."""
        structure = (
            structure_hash(self.atoms)
            if self.atoms is not None
            else stable_hash(self.params)
        )
        return stable_hash(self.key_payload(engine, settings, structure))

    def key_payload(
        self, engine: MLIPSettings, settings: RelaxSettings, structure: str
    ) -> dict:
        """What :meth:`key` hashes, given the ``structure`` hash."""
        payload = {
            "kind": self.kind,
            "structure": structure,
            "engine": engine.settings_hash(),
        }
        if task_kind(self.kind).uses_relax_settings:
            payload["relax"] = settings.settings_hash()
        if self.options:
            payload["options"] = self.options
        return payload


@dataclass
class TaskOutcome:
    """What a worker sends back: the final structure and its numbers, or a reason.

    ``values`` holds a kind's own scalar results (database columns, units in the
    names, e.g. ``barrier_fwd_eV``); ``data`` its JSON-serialisable detail (lists,
    dicts), kept in ``result.json`` and in the database row's data.
    """

    label: str
    ok: bool
    atoms: Atoms | None = None
    energy_eV: float | None = None
    converged: bool = False
    n_steps: int = 0
    fmax_final_eV_A: float | None = None
    wall_s: float = 0.0
    cell_mode: str = ""
    gallery_height_A: float | None = None
    reason: str = ""
    host: str = field(default_factory=socket.gethostname)
    prescan_delta_A: float = 0.0
    prescan_evaluations: int = 0
    scf_iterations: dict | None = None  # GPAW: SCF iterations per stage
    stage_wall_s: dict | None = None  # GPAW: wall time per stage
    prerelax_steps: int = 0
    resumed_steps: int = 0
    scf_retried: bool = False
    values: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)


def relaxed_outcome(label: str, result, **fields) -> TaskOutcome:
    """A successful outcome from a :class:`~alkali_layers.calculators.relax.
    RelaxResult` (structure, energy, convergence, steps, fmax, wall time, cell mode);
    ``fields`` add or override outcome fields (``values``, ``data``, ...)."""
    base = dict(
        atoms=result.atoms,
        energy_eV=result.energy_eV,
        converged=result.converged,
        n_steps=result.n_steps,
        fmax_final_eV_A=result.fmax_eV_A,
        wall_s=result.wall_s,
        cell_mode=result.cell_mode,
    )
    return TaskOutcome(label=label, ok=True, **{**base, **fields})


def execute_task(
    task: RelaxTask,
    calc,
    settings: RelaxSettings,
    folder: Path | None = None,
    engine=None,
) -> TaskOutcome:
    """Run ``task`` by its kind; every failure becomes an outcome with its reason.

    ``engine`` selects the protocol: None or MLIPSettings compute with ``calc``; a
    DFTProtocol runs GPAW (the staged relaxation for ``relax``, a single point at
    its final settings for ``single_point``; ``calc``, if given, is the ML
    calculator of the pre-relaxation).  Logs go to ``folder``.
    """
    t0 = time.perf_counter()
    if task.atoms is None:
        return TaskOutcome(task.label, ok=False, reason=f"builder: {task.build_error}")
    try:
        return task_kind(task.kind).run(task, engine, calc, settings, folder)
    except ModelFailure as err:
        return TaskOutcome(
            task.label, ok=False, reason=err.reason, wall_s=time.perf_counter() - t0
        )
    except Exception as err:  # noqa: BLE001 - any engine error fails this task only
        return TaskOutcome(
            task.label,
            ok=False,
            reason=failure_reason(err),
            wall_s=time.perf_counter() - t0,
        )


def failure_reason(err: BaseException) -> str:
    """A failed task's reason: the error's type and message, then where it was
    raised (:func:`raised_at`), e.g. ``'RuntimeError: ... (at gpaw.py:42 in f)'``."""
    return f"{type(err).__name__}: {err} ({raised_at(err)})"


def raised_at(err: BaseException) -> str:
    """Where ``err`` was raised: ``'at <file>:<line> in <function>'`` of the
    innermost frame of its traceback (``'at an unknown place'`` without one)."""
    frames = traceback.extract_tb(err.__traceback__)
    if not frames:
        return "at an unknown place"
    frame = frames[-1]
    return f"at {Path(frame.filename).name}:{frame.lineno} in {frame.name}"


#: ``row.data`` entry naming the row keys that came from the builder (``atoms.info``),
#: written by the campaign when it records a model.
BUILDER_KEYS = "builder_keys"

#: Row keys the campaign writes itself: bookkeeping, provenance (plus
#: :data:`RECORD_PREFIXES`) and the relaxation outcome (less the relaxed
#: ``gallery_height_A``, which shares its name with the builder's value).
RECORD_KEYS = frozenset(
    {
        "label", "role", "builder", "task_kind", "wall_s", "n_steps", "compute_host",
        "gallery_height_initial_A", "status", "task_key", "reason", "superseded_by",
        "legacy_task_key",
        "engine", "engine_description", "engine_settings_hash", "relax_settings_hash",
        "fmax_setting_eV_A", "max_steps", "optimizer",
        "converged", "fmax_final_eV_A", "cell_mode", "prescan_delta_A",
    }
)  # fmt: skip
RECORD_PREFIXES = ("version_", "git_")

#: For rows recorded before :data:`BUILDER_KEYS` existed: the keys that are
#: bookkeeping, provenance or relaxation outcome, and the kinds' values then known.
_LEGACY_RECORD_KEYS = RECORD_KEYS | {"relax_stalled", "beef_energy_eV"}


def builder_metadata(row) -> dict:
    """The builder metadata of a database row: its ``atoms.info`` when built, with
    ``gallery_height_A`` the relaxed one.

    The keys are those the campaign listed in ``row.data["builder_keys"]`` when it
    recorded the row; rows recorded before that list existed fall back to every key
    that is neither bookkeeping, provenance nor relaxation outcome.
    """
    kvp = row.key_value_pairs
    keys = row.data.get(BUILDER_KEYS)
    if keys is not None:
        return {k: kvp[k] for k in keys if k in kvp}
    return {
        k: v
        for k, v in kvp.items()
        if k not in _LEGACY_RECORD_KEYS and not k.startswith(RECORD_PREFIXES)
    }


def provenance(engine, settings: RelaxSettings) -> dict:
    """Key-value pairs identifying engine, protocol, package versions and the git
    commit (with ``git_dirty``) of a row (see :mod:`alkali_layers.provenance`)."""
    values = {
        "engine": engine.engine,
        "engine_description": engine.describe(),
        "engine_settings_hash": engine.settings_hash(),
        "relax_settings_hash": settings.settings_hash(),
        "fmax_setting_eV_A": settings.fmax_eV_A,
        "max_steps": settings.max_steps,
        "optimizer": settings.optimizer,
    }
    values.update(source_provenance())
    return values


def settings_data(engine, settings: RelaxSettings) -> dict:
    return {"engine_settings": asdict(engine), "relax_settings": asdict(settings)}


# --- task folders ---------------------------------------------------------------
TASK_FILE = "task.json"
RESULT_FILE = "result.json"
RUNNING_FILE = "running.json"
SUBMITTED_FILE = "submitted.json"
LOG_FILE = "relax.log"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def task_folder_name(task: RelaxTask, key: str) -> str:
    return f"{task.label}.{key}"


def write_task_file(
    folder: Path,
    task: RelaxTask,
    key: str,
    engine: MLIPSettings,
    settings: RelaxSettings,
) -> Path:
    """Create ``folder/task.json`` (kept as is when it exists: same key, same task)."""
    folder = Path(folder)
    path = folder / TASK_FILE
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(
        path,
        {
            "format": "alkali_layers.task/1",
            "key": key,
            "kind": task.kind,
            "label": task.label,
            "role": task.role,
            "params": task.params,
            "options": task.options,
            "engine": engine_to_dict(engine),
            "relax": asdict(settings),
            "atoms": None if task.atoms is None else json.loads(encode(task.atoms)),
            "build_error": task.build_error,
            "created": now(),
        },
    )
    return path


def read_task_file(folder: Path) -> tuple[RelaxTask, str, object, RelaxSettings]:
    """The task, its key, engine and relaxation settings stored in ``folder``."""
    data = read_json(Path(folder) / TASK_FILE)
    if data is None:
        raise FileNotFoundError(f"{folder}: no {TASK_FILE}; not a task folder")
    atoms = None if data["atoms"] is None else decode(json.dumps(data["atoms"]))
    task = RelaxTask(
        data["label"],
        data["role"],
        atoms,
        data["params"],
        data["build_error"],
        kind=data.get("kind", TASK_KIND_RELAX),
        options=data.get("options") or {},
    )
    engine = engine_from_dict(data["engine"])
    return task, data["key"], engine, RelaxSettings(**data["relax"])


def outcome_to_result(
    outcome: TaskOutcome,
    key: str,
    engine: MLIPSettings,
    settings: RelaxSettings,
    started: str,
) -> dict:
    """The content of ``result.json`` for an outcome."""
    values = asdict(outcome)
    atoms = values.pop("atoms")
    atoms = None if outcome.atoms is None else json.loads(encode(outcome.atoms.copy()))
    return {
        "format": "alkali_layers.result/1",
        "key": key,
        "status": "ok" if outcome.ok else "failed",
        **{k: v for k, v in values.items() if k != "ok"},
        "atoms": atoms,
        "provenance": {
            **provenance(engine, settings),
            "pid": os.getpid(),
            "python": sys.version.split()[0],
            "started": started,
            "finished": now(),
            "log": LOG_FILE,
        },
    }


def result_outcome(result: dict) -> TaskOutcome:
    """A :class:`TaskOutcome` (relaxed atoms with their energy) from ``result.json``."""
    from ase.calculators.singlepoint import SinglePointCalculator

    atoms = None
    if result.get("atoms") is not None:
        atoms = decode(json.dumps(result["atoms"]))
        if result.get("energy_eV") is not None:
            atoms.calc = SinglePointCalculator(atoms, energy=result["energy_eV"])
    names = {f for f in TaskOutcome.__dataclass_fields__} - {"ok", "atoms"}
    return TaskOutcome(
        ok=result["status"] == "ok",
        atoms=atoms,
        **{k: result[k] for k in names if k in result},
    )


def archive_result(folder: Path) -> Path | None:
    """Move ``result.json`` aside (``result.<finished>.json``) before a rerun."""
    existing = read_json(Path(folder) / RESULT_FILE)
    if existing is None:
        return None
    stamp = existing.get("provenance", {}).get("finished", "old").replace(":", "")
    target = Path(folder) / f"result.{stamp}.json"
    os.replace(Path(folder) / RESULT_FILE, target)
    return target


def mark_submitted(entry, backend: str, job: str = "") -> None:
    """Record that ``entry`` was handed to a queue (so it is not submitted twice)."""
    write_json_atomic(
        entry.folder / SUBMITTED_FILE,
        {"backend": backend, "job": job, "time": time.strftime("%F %T")},
    )
