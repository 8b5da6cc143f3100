"""Content-addressed relaxation tasks, their files and their execution.

A task's key is ``hash(kind, structure, engine settings, relaxation settings)``: the
same model with the same settings always has the same key, so a rerun finds it done,
while a changed builder, engine or protocol gives a new key and a new result.

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
from ..calculators.relax import RelaxSettings, relax
from ..engines import MLIPSettings, engine_from_dict, engine_to_dict, make_calculator
from ..geometry import gallery_height
from ..jsonio import read_json, write_json_atomic
from ..provenance import provenance as source_provenance
from ..settings import stable_hash, structure_hash

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
    """

    label: str
    role: str
    atoms: Atoms | None
    params: dict = field(default_factory=dict)
    build_error: str | None = None
    kind: str = TASK_KIND_RELAX

    def key(self, engine: MLIPSettings, settings: RelaxSettings) -> str:
        """hash(kind, structure, engine settings[, relaxation settings]): every
        setting that changes the result, and only those (see :class:`TaskKind`)."""
        structure = (
            structure_hash(self.atoms)
            if self.atoms is not None
            else stable_hash(self.params)
        )
        payload = {
            "kind": self.kind,
            "structure": structure,
            "engine": engine.settings_hash(),
        }
        if task_kind(self.kind).uses_relax_settings:
            payload["relax"] = settings.settings_hash()
        return stable_hash(payload)


@dataclass
class TaskOutcome:
    """What a worker sends back: the relaxed structure and its numbers, or a reason."""

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


def _run_engine(
    task: RelaxTask, engine, calc, settings: RelaxSettings, folder: Path | None
) -> TaskOutcome:
    """Relax with the ML engine (``calc``) or by the staged GPAW protocol."""
    logfile = str(folder / LOG_FILE) if folder is not None else None
    if engine is not None and engine.engine == "gpaw":
        from ..calculators.staged import staged_relax

        staged = staged_relax(task.atoms, engine, settings, folder=folder, ml_calc=calc)
        result = staged.relaxed
        result.atoms = staged.atoms
        result.energy_eV = staged.energy_eV
        extra = dict(
            scf_iterations=staged.scf_iterations,
            stage_wall_s={k: round(v, 2) for k, v in staged.wall_s.items()},
            prerelax_steps=staged.prerelax.n_steps if staged.prerelax else 0,
            resumed_steps=staged.resumed_steps,
            scf_retried=any(
                u.mixer == "conservative" for u in staged.settings_used.values()
            ),
        )
        result.wall_s = sum(staged.wall_s.values())
    else:
        result = relax(task.atoms, calc, settings, logfile=logfile)
        extra = {}
    try:
        height = gallery_height(result.atoms)
    except ValueError:
        height = None
    return TaskOutcome(
        label=task.label,
        ok=True,
        atoms=result.atoms,
        energy_eV=result.energy_eV,
        converged=result.converged,
        n_steps=result.n_steps,
        fmax_final_eV_A=result.fmax_eV_A,
        wall_s=result.wall_s,
        cell_mode=result.cell_mode,
        gallery_height_A=height,
        prescan_delta_A=result.prescan_delta_A,
        prescan_evaluations=result.prescan_evaluations,
        **extra,
    )


def _run_single_point(
    task: RelaxTask, engine, calc, settings: RelaxSettings, folder: Path | None
) -> TaskOutcome:
    """Energy and forces at the given geometry (ML, or GPAW at ``final`` settings)."""
    from ase.calculators.singlepoint import SinglePointCalculator

    from ..calculators.guards import check_energy, check_forces, energy_bounds

    t0 = time.perf_counter()
    extra = {}
    if engine is not None and engine.engine == "gpaw":
        from ..calculators.staged import dft_single_point

        txt = str(folder / "gpaw-final.txt") if folder is not None else None
        energy, forces, iterations, used = dft_single_point(
            task.atoms, engine.final, txt=txt
        )
        extra = dict(
            scf_iterations={"final": iterations},
            scf_retried=used.mixer == "conservative",
        )
    else:
        work = task.atoms.copy()
        work.calc = calc
        energy = float(work.get_potential_energy())
        forces = work.get_forces()
        check_energy(energy, len(work), "single point", energy_bounds(calc))
        check_forces(forces, "single point")
    atoms = task.atoms.copy()
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
    try:
        height = gallery_height(atoms)
    except ValueError:
        height = None
    return TaskOutcome(
        label=task.label,
        ok=True,
        atoms=atoms,
        energy_eV=float(energy),
        converged=True,  # the SCF converged; no geometry was optimized
        n_steps=0,
        fmax_final_eV_A=float((forces**2).sum(axis=1).max() ** 0.5),
        wall_s=time.perf_counter() - t0,
        cell_mode="fixed",
        gallery_height_A=height,
        **extra,
    )


@dataclass(frozen=True)
class TaskKind:
    """A kind of campaign task: what it computes and which settings enter its key.

    Attributes
    ----------
    name : str
        The name a spec uses (``tasks = ["single_point"]``).
    description : str
        One line for help texts and errors.
    run : callable
        ``run(task, engine, calc, relax_settings, folder) -> TaskOutcome``.
    uses_relax_settings : bool
        Whether the relaxation settings change its result (and so its key).
    """

    name: str
    description: str
    run: object
    uses_relax_settings: bool = True


#: The registry of task kinds: a new kind of work registers here (and nowhere else)
TASK_KINDS: dict[str, TaskKind] = {}


def register_task_kind(kind: TaskKind) -> TaskKind:
    """Add ``kind`` to :data:`TASK_KINDS` (a name may be registered once)."""
    if kind.name in TASK_KINDS:
        raise ValueError(f"task kind {kind.name!r} is already registered")
    TASK_KINDS[kind.name] = kind
    return kind


def task_kind(name: str) -> TaskKind:
    """The registered kind ``name``; a clear error naming the known kinds."""
    try:
        return TASK_KINDS[name]
    except KeyError:
        raise ValueError(
            f"unknown task kind {name!r}; registered: {', '.join(TASK_KINDS)}"
        ) from None


register_task_kind(
    TaskKind(
        TASK_KIND_RELAX,
        "relax the structure (ML, or staged ML -> GPAW relax -> GPAW final energy)",
        lambda task, engine, calc, settings, folder: _run_engine(
            task, engine, calc, settings, folder
        ),
    )
)
register_task_kind(
    TaskKind(
        TASK_KIND_SINGLE_POINT,
        "energy and forces at the built geometry (GPAW: the final settings)",
        _run_single_point,
        uses_relax_settings=False,
    )
)


def execute_relax(
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
        tail = traceback.format_exc(limit=2).strip().splitlines()[-1]
        return TaskOutcome(
            task.label,
            ok=False,
            reason=f"{type(err).__name__}: {err} ({tail})",
            wall_s=time.perf_counter() - t0,
        )


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


def _now() -> str:
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
            "engine": engine_to_dict(engine),
            "relax": asdict(settings),
            "atoms": None if task.atoms is None else json.loads(encode(task.atoms)),
            "build_error": task.build_error,
            "created": _now(),
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
            "finished": _now(),
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


def threads_from_environment() -> int | None:
    """Threads for the ML engine: ALKALI_LAYERS_THREADS or SLURM_CPUS_PER_TASK."""
    for name in ("ALKALI_LAYERS_THREADS", "SLURM_CPUS_PER_TASK"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None


def engine_for(engine, threads: int | None = None):
    """A new ML calculator for a task (the network is loaded once per process).

    For the GPAW protocol: the ML calculator of its pre-relaxation (or None); GPAW
    calculators are made per task (their k points follow the cell).
    """
    if engine.engine == "gpaw":
        engine = engine.prerelax
        if engine is None:
            return None
    return make_calculator(engine.engine, engine, threads=threads)


def run_task_folder(
    folder: Path, calc=None, force: bool = False, threads: int | None = None
) -> dict:
    """Run the task in ``folder`` and write its ``result.json``; return the result.

    A folder that already holds a finished (ok) result is not run again unless
    ``force``; the earlier result is then kept as ``result.<time>.json``.  Under MPI
    (``mpiexec -n N python -m alkali_layers.task``) every rank computes and rank 0
    alone writes the files.
    """
    from ase.parallel import world

    folder = Path(folder).resolve()
    existing = read_json(folder / RESULT_FILE)
    if existing is not None and existing.get("status") == "ok" and not force:
        return existing
    master = world.rank == 0
    if master:
        archive_result(folder)
    task, key, engine, settings = read_task_file(folder)
    started = _now()
    if master:
        write_json_atomic(
            folder / RUNNING_FILE,
            {
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "started": started,
                "mpi_ranks": world.size,
            },
        )
    try:
        threads = threads if threads is not None else threads_from_environment()
        calc = calc if calc is not None else engine_for(engine, threads)
        outcome = execute_relax(task, calc, settings, folder=folder, engine=engine)
    except Exception as err:  # noqa: BLE001 - e.g. a missing engine dependency
        outcome = TaskOutcome(
            task.label, ok=False, reason=f"{type(err).__name__}: {err}"
        )
    result = outcome_to_result(outcome, key, engine, settings, started)
    result["provenance"]["mpi_ranks"] = world.size
    if master:
        write_json_atomic(folder / RESULT_FILE, result)
        (folder / RUNNING_FILE).unlink(missing_ok=True)
    world.barrier()
    return result


# --- worker processes -----------------------------------------------------------
_WORKER: dict = {}


def init_worker(threads: int | None) -> None:
    """Process-pool initializer: limit the threads of this worker."""
    _WORKER["threads"] = threads


def worker_run_folder(folder: str, force: bool = False) -> tuple[str, dict]:
    """Run one task folder in a worker process (engine loaded once per worker)."""
    return folder, run_task_folder(
        Path(folder), force=force, threads=_WORKER.get("threads")
    )


def mark_submitted(entry, backend: str, job: str = "") -> None:
    """Record that ``entry`` was handed to a queue (so it is not submitted twice)."""
    write_json_atomic(
        entry.folder / SUBMITTED_FILE,
        {"backend": backend, "job": job, "time": time.strftime("%F %T")},
    )
