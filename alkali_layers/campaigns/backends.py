"""Execution backends.  ``LocalBackend``: in-process or N worker processes.

Workers only compute and return outcomes; the calling process is the only one that
writes the database.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from ..calculators.engines import MLIPSettings, make_calculator
from ..calculators.relax import RelaxSettings
from .tasks import RelaxTask, TaskOutcome, execute_relax, init_worker, worker_relax


class Progress:
    """Counts finished tasks and estimates the time left from the atoms still to do."""

    def __init__(self, tasks: Sequence[RelaxTask], stream=None, prefix: str = ""):
        self.total = len(tasks)
        self.atoms_left = sum(len(t.atoms) if t.atoms is not None else 0 for t in tasks)
        self.atoms_done = 0
        self.done = 0
        self.t0 = time.perf_counter()
        self.stream = stream if stream is not None else sys.stdout
        self.prefix = prefix

    def update(self, task: RelaxTask, outcome: TaskOutcome) -> str:
        self.done += 1
        n = len(task.atoms) if task.atoms is not None else 0
        self.atoms_done += n
        self.atoms_left -= n
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / max(self.atoms_done, 1) * self.atoms_left
        if outcome.ok:
            what = f"{n} atoms, {outcome.n_steps} steps, {outcome.wall_s:.1f} s" + (
                "" if outcome.converged else ", NOT converged"
            )
        else:
            what = f"FAILED: {outcome.reason}"
        line = (
            f"{self.prefix}[{self.done}/{self.total}] {task.label}: {what}"
            f" | elapsed {elapsed / 60:.1f} min, ~{eta / 60:.1f} min left"
        )
        if self.stream:
            print(line, file=self.stream, flush=True)
        return line


class LocalBackend:
    """Run relaxation tasks here: in-process (``workers=1``) or in worker processes.

    Parameters
    ----------
    engine : MLIPSettings
        Engine settings (each worker loads the engine once).
    settings : RelaxSettings
        Relaxation settings.
    workers : int
        Worker processes; with more than one, the CPU cores are split between them
        (torch threads = cores // workers).
    """

    def __init__(self, engine: MLIPSettings, settings: RelaxSettings, workers: int = 1):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers!r}")
        self.engine = engine
        self.settings = settings
        self.workers = workers
        self._calc = None

    def run(
        self, tasks: Sequence[RelaxTask]
    ) -> Iterator[tuple[RelaxTask, TaskOutcome]]:
        """Yield ``(task, outcome)`` as tasks finish (largest tasks start first)."""
        order = sorted(
            tasks, key=lambda t: -(len(t.atoms) if t.atoms is not None else 0)
        )
        if self.workers == 1 or len(order) <= 1:
            for task in order:
                yield task, execute_relax(task, self._calculator(), self.settings)
            return
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            self.workers,
            mp_context=ctx,
            initializer=init_worker,
            initargs=(self.engine, threads),
        ) as pool:
            try:
                futures = {
                    pool.submit(worker_relax, t, self.settings): t for t in order
                }
                for fut in as_completed(futures):
                    yield futures[fut], fut.result()
            except BrokenProcessPool as err:
                raise RuntimeError(
                    "a worker process died (out of memory, killed, or started from a "
                    "script without `if __name__ == '__main__':` around the campaign "
                    "call); finished results are stored: rerun to resume, or use "
                    "workers=1"
                ) from err

    def _calculator(self):
        if self._calc is None:
            self._calc = make_calculator(self.engine.engine, self.engine)
        return self._calc


def run_tasks(
    backend: LocalBackend,
    tasks: Sequence[RelaxTask],
    on_result: Callable[[RelaxTask, TaskOutcome], None],
    progress: Progress | None = None,
) -> None:
    """Run ``tasks`` on ``backend``; call ``on_result`` (the writer) per outcome."""
    for task, outcome in backend.run(tasks):
        on_result(task, outcome)
        if progress is not None:
            progress.update(task, outcome)
