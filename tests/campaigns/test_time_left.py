"""The time-left estimate of ``alkali-layers run`` (quick: no calculation)."""

from types import SimpleNamespace

import pytest

from alkali_layers.campaigns.backends import Progress


def _task(label: str, n_atoms: int) -> SimpleNamespace:
    return SimpleNamespace(label=label, n_atoms=n_atoms)


def _ok(wall_s: float, beef_s: float | None = None) -> dict:
    values = {} if beef_s is None else {"beef_wall_s": beef_s}
    return {
        "status": "ok",
        "wall_s": wall_s,
        "n_steps": 0,
        "converged": True,
        "values": values,
        "data": {},
    }


def test_a_tiny_reference_gives_no_estimate_and_a_large_task_gives_a_fair_one():
    """The hard_carbon_dft run (2026-12-03, 2 workers): bcc Na (1 atom, 182 + 34 s)
    first had the old per-atom estimate say 1870 min for a run of 105 min."""
    sizes = [1, 79, 78, 77, 76, 68, 72, 64]
    tasks = [_task(f"t{n}", n) for n in sizes]
    progress = Progress(tasks, stream=False, workers=2)
    line = progress.update(tasks[0], _ok(182.1, 33.9))
    assert progress.time_left_s() is None
    assert "estimated once a task of >= 19 atoms has finished" in line
    progress.update(tasks[1], _ok(967.3, 1129.6))
    # 2096.9 s / 79 atoms over the 435 atoms left, on 2 workers
    assert progress.time_left_s() == pytest.approx(2096.9 / 79 * 435 / 2)
    # the one-atom task does not enter the rate once larger ones have finished
    progress.update(tasks[2], _ok(991.6, 1146.8))
    expected = (2096.9 + 2138.4) / (79 + 78) * (77 + 76 + 68 + 72 + 64) / 2
    assert progress.time_left_s() == pytest.approx(expected)


def test_failed_and_adopted_tasks_leave_the_queue_without_a_timing():
    tasks = [_task("a", 10), _task("b", 10), _task("c", 10)]
    progress = Progress(tasks, stream=False)
    line = progress.update(tasks[0], {"status": "failed", "reason": "SCF diverged"})
    assert "FAILED: SCF diverged" in line and progress.time_left_s() is None
    adopted = {**_ok(0.0), "data": {"energy_adopted_from": "elsewhere"}}
    progress.update(tasks[1], adopted)
    assert progress.time_left_s() is None
    line = progress.update(tasks[2], _ok(30.0))
    assert progress.time_left_s() == 0.0 and "~0.0 min left" in line


def test_one_worker_runs_what_is_left_one_after_the_other():
    tasks = [_task("a", 20), _task("b", 20), _task("c", 40)]
    progress = Progress(tasks, stream=False, workers=4)
    progress.update(tasks[0], _ok(60.0))
    # 3 s per atom; 60 atoms left on at most 2 tasks at once
    assert progress.time_left_s() == pytest.approx(3.0 * 60 / 2)
    progress.update(tasks[1], _ok(60.0))
    assert progress.time_left_s() == pytest.approx(3.0 * 40)
