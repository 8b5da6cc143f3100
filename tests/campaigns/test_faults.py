"""Nothing is lost: a killed campaign resumes, concurrent collectors do not corrupt."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import ase.db
import pytest

from alkali_layers.cli import main

from .conftest import write_spec

pytestmark = pytest.mark.slow  # subprocess campaigns killed with SIGKILL (~1 min)


def results(root):
    return {p: p.stat().st_mtime_ns for p in (root / "tasks").glob("*/result.json")}


def start_run(spec, workers: int) -> subprocess.Popen:
    """`alkali-layers run spec --workers N` in its own process group, output muted."""
    return subprocess.Popen(
        [sys.executable, "-m", "alkali_layers.cli", "run", str(spec)]
        + ["--workers", str(workers)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_sigkill_mid_run_keeps_finished_tasks_and_the_rerun_completes(tmp_path, capsys):
    spec = write_spec(tmp_path / "killed", metals='["Na", "Rb"]', layers="[1, 2, 3, 4]")
    root = spec.parent
    proc = start_run(spec, workers=1)
    deadline = time.time() + 240
    while len(results(root)) < 5 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = results(root)
    assert 5 <= len(before) < 11, "the kill should land mid-campaign"
    # the database survived the kill intact and holds only finished tasks
    with sqlite3.connect(root / "results.db") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with ase.db.connect(root / "results.db") as db:
        assert db.count() <= len(before)
        assert all(row.status == "ok" for row in db.select())
    capsys.readouterr()
    assert main(["run", str(spec), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert f"{11 - len(before)} to run" in out
    after = results(root)
    assert len(after) == 11
    assert all(after[p] == t for p, t in before.items()), "finished results recomputed"
    with ase.db.connect(root / "results.db") as db:
        assert db.count() == 11
        keys = [row.task_key for row in db.select()]
    assert len(set(keys)) == 11


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl: Linux")
def test_workers_stop_with_a_killed_run_and_the_rerun_completes(tmp_path, capsys):
    """SIGTERM to `alkali-layers run` alone (not its process group, as `kill PID` or
    `pkill -f "alkali-layers run"` do): its pool workers stop too instead of going
    on as orphans; the tasks they were running rerun on the next `run`."""
    spec = write_spec(tmp_path / "orphans", metals='["Na", "K"]', layers="[1, 2]")
    root = spec.parent
    proc = start_run(spec, workers=2)
    try:
        deadline = time.time() + 240
        workers: set[int] = set()
        while len(workers) < 2 and time.time() < deadline and proc.poll() is None:
            for f in (root / "tasks").glob("*/running.json"):
                try:
                    workers.add(json.loads(f.read_text())["pid"])
                except (ValueError, KeyError, OSError):
                    pass  # being written
            workers.discard(proc.pid)  # references run in the main process
            time.sleep(0.1)
        assert len(workers) == 2, "two pool workers should be running models"
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        deadline = time.time() + 20
        while any(_alive(w) for w in workers) and time.time() < deadline:
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers), "orphan workers go on computing"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    capsys.readouterr()
    assert main(["run", str(spec), "--workers", "1"]) == 0
    with ase.db.connect(root / "results.db") as db:
        assert db.count(status="ok") == 7  # 4 models, 2 metals, the host


def test_two_collectors_at_once_write_each_result_once(small_spec, tmp_path):
    assert main(["run", str(small_spec), "--workers", "1"]) == 0
    copy = tmp_path / "copy"
    shutil.copytree(small_spec.parent / "tasks", copy / "tasks")
    shutil.copy(small_spec, copy / "campaign.toml")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "alkali_layers.cli", "collect", str(copy)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    imported = sorted(int(out.split()[1]) for out, _ in outs)
    assert sum(imported) == 4  # every result imported exactly once in total
    with ase.db.connect(copy / "results.db") as db:
        keys = [row.task_key for row in db.select()]
    assert len(keys) == len(set(keys)) == 4
