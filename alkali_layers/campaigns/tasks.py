"""Content-addressed relaxation tasks and their execution.

A task's key is ``hash(kind, structure, engine settings, relaxation settings)``: the
same model with the same settings always has the same key, so a rerun finds it done,
while a changed builder, engine or protocol gives a new key and a new result.
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import asdict, dataclass, field

from ase import Atoms

from ..calculators.engines import MLIPSettings, engine_versions, make_calculator
from ..calculators.guards import ModelFailure
from ..calculators.relax import RelaxSettings, relax
from ..geometry import gallery_height
from ..settings import stable_hash, structure_hash

TASK_KIND_RELAX = "relax"


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

    def key(self, engine: MLIPSettings, settings: RelaxSettings) -> str:
        structure = (
            structure_hash(self.atoms)
            if self.atoms is not None
            else stable_hash(self.params)
        )
        return stable_hash(
            {
                "kind": TASK_KIND_RELAX,
                "structure": structure,
                "engine": engine.settings_hash(),
                "relax": settings.settings_hash(),
            }
        )


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
    host: str = field(default_factory=lambda: os.uname().nodename)


def execute_relax(task: RelaxTask, calc, settings: RelaxSettings) -> TaskOutcome:
    """Relax ``task.atoms``; every failure becomes an outcome with its reason."""
    t0 = time.perf_counter()
    if task.atoms is None:
        return TaskOutcome(task.label, ok=False, reason=f"builder: {task.build_error}")
    try:
        result = relax(task.atoms, calc, settings)
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
    )


def provenance(engine: MLIPSettings, settings: RelaxSettings) -> dict:
    """Key-value pairs identifying engine, protocol and package versions of a row."""
    values = {
        "engine": engine.engine,
        "engine_description": engine.describe(),
        "engine_settings_hash": engine.settings_hash(),
        "relax_settings_hash": settings.settings_hash(),
        "fmax_setting_eV_A": settings.fmax_eV_A,
        "max_steps": settings.max_steps,
        "optimizer": settings.optimizer,
    }
    for pkg, version in engine_versions().items():
        values["version_" + pkg.replace("-", "_")] = version
    return values


def settings_data(engine: MLIPSettings, settings: RelaxSettings) -> dict:
    return {"engine_settings": asdict(engine), "relax_settings": asdict(settings)}


# --- worker processes -----------------------------------------------------------
_WORKER: dict = {}


def init_worker(engine: MLIPSettings, threads: int | None) -> None:
    """Process-pool initializer: load the engine once per worker."""
    _WORKER["calc"] = make_calculator(engine.engine, engine, threads=threads)


def worker_relax(task: RelaxTask, settings: RelaxSettings) -> TaskOutcome:
    """Run one task in a worker process (engine from :func:`init_worker`)."""
    return execute_relax(task, _WORKER["calc"], settings)
