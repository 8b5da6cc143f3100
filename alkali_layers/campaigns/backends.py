"""Execution backends for campaign tasks.

``LocalBackend`` runs tasks here, in-process (``workers=1``, the embedded default: no
server, no daemon) or in N spawned worker processes; the calling process imports
each result into the database as it arrives (the only writer).

``MyQueueBackend`` submits each task folder to myqueue
(``mq submit alkali_layers.task -R cores[:processes]:time FOLDER...``), which hands
it to SLURM/PBS/LSF or myqueue's local scheduler; ``alkali-layers collect`` imports
the results later.  Engines that run under MPI get one MPI process per core (myqueue
then starts ``mpiexec -np N python3 -m alkali_layers.task``); the ML engine gets one
process with N threads.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from pathlib import Path
from statistics import median

from .tasks import mark_submitted
from .worker import (
    exit_with_parent,
    init_worker,
    run_task_folder,
    worker_run_folder,
)

#: Engines whose tasks run as MPI programs (one process per core).
MPI_ENGINES: tuple[str, ...] = ("gpaw",)


def mpi_environment() -> dict:
    """Environment for GPAW under mpiexec (cgpaw backend, 1 BLAS thread, root ok)."""
    env = {
        **os.environ,
        "GPAW_MPI_BACKEND": "cgpaw",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return env


def run_folder_under_mpi(folder: Path, ranks: int, mpiexec: str = "mpiexec") -> dict:
    """``mpiexec -n ranks python -m alkali_layers.task folder``; return its result."""
    from .tasks import RESULT_FILE, read_json

    cmd = [
        mpiexec,
        "-n",
        str(ranks),
        sys.executable,
        "-m",
        "alkali_layers.task",
        str(folder),
    ]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=mpi_environment(),
        preexec_fn=partial(exit_with_parent, os.getpid()),  # stops with this process
    )
    result = read_json(Path(folder) / RESULT_FILE)
    if result is None:
        text = " ".join((proc.stderr or proc.stdout).split())[-400:]
        raise RuntimeError(
            f"{' '.join(cmd)} wrote no result (exit {proc.returncode}): {text}"
        )
    return result


class Progress:
    """Counts finished tasks and estimates the time left.

    The estimate scales the wall time per atom of the largest finished tasks (those
    at least half the size of the largest; GPAW time plus its BEEF-vdW point) to
    the atoms still to do, shared among the workers.  Cost per atom is far from
    constant: in runs/hard_carbon_dft a one-atom bcc metal with dense k points took
    216 s and a 79-atom pore at the Gamma point 2097 s, 8 times less per atom, and
    scaling the first gave 1870 min for a run that took 105.  So no estimate is
    printed until a finished task has at least a quarter of the atoms of the median
    task left.  Failed tasks and adopted results carry no timing.

    Parameters
    ----------
    entries : sequence
        The tasks of this batch (each with ``label`` and ``n_atoms``).
    stream : file, optional
        Where each line goes (default stdout; a false value prints nothing).
    prefix : str
        Put before every line.
    workers : int
        Tasks running at the same time.
    """

    #: a finished task this fraction of the median task left is enough to estimate
    MIN_SIZE_FRACTION = 0.25

    def __init__(self, entries: Sequence, stream=None, prefix: str = "", workers=1):
        self.total = len(entries)
        self.atoms_left = [e.n_atoms for e in entries]
        self.timings: list[tuple[int, float]] = []  # (n_atoms, seconds) per task
        self.done = 0
        self.workers = max(1, int(workers))
        self.t0 = time.perf_counter()
        self.stream = sys.stdout if stream is None else stream
        self.prefix = prefix

    def time_left_s(self) -> float | None:
        """Seconds left, or None while no finished task is large enough to tell."""
        if not self.atoms_left:
            return 0.0
        if not self.timings:
            return None
        largest = max(n for n, _ in self.timings)
        if largest < self.MIN_SIZE_FRACTION * median(self.atoms_left):
            return None
        used = [(n, t) for n, t in self.timings if n >= largest / 2]
        per_atom_s = sum(t for _, t in used) / sum(n for n, _ in used)
        parallel = min(self.workers, len(self.atoms_left))
        return per_atom_s * sum(self.atoms_left) / parallel

    def update(self, entry, result: dict) -> str:
        self.done += 1
        self.atoms_left.remove(entry.n_atoms)
        elapsed = time.perf_counter() - self.t0
        if result["status"] == "ok":
            beef = (result.get("values") or {}).get("beef_wall_s")
            adopted = "energy_adopted_from" in (result.get("data") or {})
            if not adopted:
                self.timings.append((entry.n_atoms, result["wall_s"] + (beef or 0.0)))
            what = (
                f"{entry.n_atoms} atoms, "
                + (
                    "finished result adopted"
                    if adopted
                    else f"{result['n_steps']} steps, {result['wall_s']:.1f} s"
                )
                + ("" if beef is None else f", BEEF-vdW {beef:.1f} s")
                + ("" if result["converged"] else ", NOT converged")
            )
        else:
            what = f"FAILED: {result['reason']}"
        eta = self.time_left_s()
        if eta is not None:
            left = f"~{eta / 60:.1f} min left"
        else:
            need = math.ceil(self.MIN_SIZE_FRACTION * median(self.atoms_left))
            left = f"time left: estimated once a task of >= {need} atoms has finished"
        line = (
            f"{self.prefix}[{self.done}/{self.total}] {entry.label}: {what}"
            f" | elapsed {elapsed / 60:.1f} min, {left}"
        )
        if self.stream:
            print(line, file=self.stream, flush=True)
        return line


class LocalBackend:
    """Run tasks on this machine.

    Parameters
    ----------
    workers : int
        1: in-process.  N > 1: N spawned worker processes sharing the cores
        (torch threads per worker = cores // N); references always run in-process.
    mpi_ranks : int
        For MPI engines (GPAW): run each task as
        ``mpiexec -n mpi_ranks python -m alkali_layers.task FOLDER`` (one at a time).
    """

    asynchronous = False

    def __init__(self, workers: int = 1, mpi_ranks: int = 1):
        if not (isinstance(workers, int) and workers >= 1):
            raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
        if not (isinstance(mpi_ranks, int) and mpi_ranks >= 1):
            raise ValueError(f"mpi_ranks must be an integer >= 1, got {mpi_ranks!r}")
        self.workers = workers
        self.mpi_ranks = mpi_ranks

    def __str__(self) -> str:
        if self.mpi_ranks > 1:
            return f"local backend ({self.mpi_ranks} MPI ranks per task)"
        return f"local backend ({self.workers} worker{'s' if self.workers > 1 else ''})"

    def _execute(self, entries, workers: int) -> Iterator[tuple]:
        order = execution_order(entries, 1 if self.mpi_ranks > 1 else workers)
        if self.mpi_ranks > 1:
            for e in order:
                yield e, run_folder_under_mpi(e.folder, self.mpi_ranks)
            return
        if workers == 1 or len(order) <= 1:
            for e in order:
                yield e, run_task_folder(e.folder)
            return
        threads = max(1, (os.cpu_count() or 1) // workers)
        ctx = multiprocessing.get_context("spawn")
        by_folder = {str(e.folder): e for e in order}
        with ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=init_worker, initargs=(threads,)
        ) as pool:
            try:
                futures = [pool.submit(worker_run_folder, f) for f in by_folder]
                for fut in as_completed(futures):
                    folder, result = fut.result()
                    yield by_folder[folder], result
            except BrokenProcessPool as err:
                raise RuntimeError(
                    "a worker process died (out of memory, killed, or started from a "
                    "script without `if __name__ == '__main__':` around the campaign "
                    "call); finished results are stored: rerun to resume, or use "
                    "workers=1"
                ) from err

    def run(self, campaign, entries: Sequence) -> None:
        """Run ``entries`` of ``campaign``; import each result as it arrives."""
        engine = campaign.spec.engine.engine
        if self.mpi_ranks > 1 and engine not in MPI_ENGINES:
            raise ValueError(
                f"the {engine} engine does not run under MPI; use --workers instead "
                f"(MPI engines: {', '.join(MPI_ENGINES)})"
            )
        refs = [e for e in entries if e.task.role == "reference"]
        models = [e for e in entries if e.task.role != "reference"]
        for batch, workers, prefix in (
            (refs, 1, "  ref "),
            (models, self.workers, "  "),
        ):
            if not batch:
                continue
            parallel = 1 if self.mpi_ranks > 1 else workers  # MPI tasks: one at a time
            progress = Progress(batch, campaign.stream, prefix, parallel)
            for entry, result in self._execute(batch, workers):
                campaign.collect([entry])
                progress.update(entry, result)
        if models:
            campaign.collect()  # models that waited for their references


def execution_order(entries: Sequence, workers: int) -> list:
    """The order tasks start in.

    One at a time (serial or one MPI task after the other): smallest first, so an
    interrupted run (a long DFT campaign) has finished as many tasks as it could.
    Several workers: largest first, so the long tasks do not end up last on one
    worker while the others idle.
    """
    if workers > 1:
        return sorted(entries, key=lambda e: -e.n_atoms)
    return sorted(entries, key=lambda e: e.n_atoms)


def _mq_executable() -> str:
    found = shutil.which("mq") or str(Path(sys.executable).parent / "mq")
    if not Path(found).exists():
        raise RuntimeError(
            "the myqueue backend needs myqueue: pip install myqueue, then configure it "
            "for your scheduler (mq config slurm > ~/.myqueue/config.py)"
        )
    return found


class MyQueueBackend:
    """Submit tasks to myqueue; results are imported later by ``collect``.

    Parameters
    ----------
    cores : int, optional
        Cores per task (default: the spec's ``[resources] cores``).
    time : str, optional
        Wall-time limit per task, e.g. "30m", "2h", "1d" (default: the spec's).
    """

    asynchronous = True

    def __init__(self, cores: int | None = None, time: str | None = None):
        if cores is not None and not (isinstance(cores, int) and cores >= 1):
            raise ValueError(f"cores must be an integer >= 1, got {cores!r}")
        self.cores = cores
        self.time = time

    def __str__(self) -> str:
        return "myqueue"

    def resources(self, campaign) -> str:
        cores = self.cores or campaign.spec.resources.cores
        tmax = self.time or campaign.spec.resources.time
        if campaign.spec.engine.engine in MPI_ENGINES:
            return f"{cores}:{tmax}"  # one MPI process per core
        return f"{cores}:1:{tmax}"  # one process, threads

    def run(self, campaign, entries: Sequence) -> None:

        if not entries:
            campaign.log("nothing to submit")
            return
        res = self.resources(campaign)
        folders = [str(e.folder.relative_to(campaign.root)) for e in entries]
        cmd = [_mq_executable(), "submit", "alkali_layers.task", "-R", res, *folders]
        env = {**os.environ, "ALKALI_LAYERS_THREADS": res.split(":")[0]}
        proc = subprocess.run(
            cmd, cwd=campaign.root, capture_output=True, text=True, env=env
        )
        if proc.returncode != 0:
            text = " ".join((proc.stderr or proc.stdout).split())
            raise RuntimeError(f"mq submit failed ({proc.returncode}): {text[-400:]}")
        for e in entries:
            mark_submitted(e, "myqueue")
        campaign.log(
            f"submitted {len(entries)} tasks to myqueue ({res}); follow with "
            f"`alkali-layers status {campaign.spec.path}` or `mq ls`, import with "
            f"`alkali-layers collect {campaign.spec.path}`"
        )
