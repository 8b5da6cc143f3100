"""Run one campaign task folder: the code every backend (local pool, MPI, myqueue)
executes.

:func:`run_task_folder` reads ``task.json``, runs the task by its registered kind
(importing :mod:`alkali_layers.campaigns.kinds` registers them all) and writes
``result.json`` atomically; a finished folder is not run again unless forced.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from ..engines import make_calculator
from ..jsonio import read_json, write_json_atomic
from . import kinds  # noqa: F401 - registers the task kinds
from .error_bars import OWN_RESULT_FILE, discard_kept_results
from .tasks import (
    RESULT_FILE,
    RUNNING_FILE,
    TaskOutcome,
    archive_result,
    execute_task,
    now,
    outcome_to_result,
    read_task_file,
)


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
        if force:
            discard_kept_results(folder)
    task, key, engine, settings = read_task_file(folder)
    started = now()
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
        outcome = execute_task(task, calc, settings, folder=folder, engine=engine)
    except Exception as err:  # noqa: BLE001 - e.g. a missing engine dependency
        outcome = TaskOutcome(
            task.label, ok=False, reason=f"{type(err).__name__}: {err}"
        )
    result = outcome_to_result(outcome, key, engine, settings, started)
    result["provenance"]["mpi_ranks"] = world.size
    if master:
        write_json_atomic(folder / RESULT_FILE, result)
        (folder / RUNNING_FILE).unlink(missing_ok=True)
        if outcome.ok:  # the result holds what a kept BEEF-vdW checkpoint held
            (folder / OWN_RESULT_FILE).unlink(missing_ok=True)
    world.barrier()
    return result


# --- worker processes -----------------------------------------------------------
_WORKER: dict = {}


def exit_with_parent(parent_pid: int | None = None) -> None:
    """Ask the kernel to send this process SIGTERM when its parent dies (Linux).

    A worker of a campaign (pool process, mpiexec) then stops with the ``alkali-
    layers run`` that started it, also when that is killed (``kill``, a batch
    system's time limit) rather than interrupted with Ctrl-C: the interrupted task
    keeps no result and runs again on the next ``run``, and no orphan goes on
    computing.  Elsewhere a no-op.

    Parameters
    ----------
    parent_pid : int, optional
        The parent's pid as the parent knew it: if this process already has another
        parent (the parent died before the request), it exits at once.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import ctypes.util
    import signal

    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1  # <linux/prctl.h>
    libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    if parent_pid is not None and os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGTERM)  # the parent died before the request


def init_worker(threads: int | None) -> None:
    """Process-pool initializer: limit the threads of this worker; it exits with the
    process that started it (:func:`exit_with_parent`)."""
    import multiprocessing

    parent = multiprocessing.parent_process()
    exit_with_parent(parent.pid if parent is not None else None)
    _WORKER["threads"] = threads


def worker_run_folder(folder: str, force: bool = False) -> tuple[str, dict]:
    """Run one task folder in a worker process (engine loaded once per worker)."""
    return folder, run_task_folder(
        Path(folder), force=force, threads=_WORKER.get("threads")
    )
