"""The course runs: every notebook of course/ executes without error (slow).

Each notebook (jupytext percent format) is converted with jupytext and executed by
nbclient in a fresh kernel, in the course folder, at the reduced size
(``ALKALI_LAYERS_COURSE_SIZE=small``) with one thread, as a student would run it
(``jupytext --to notebook`` then "Run all").  A notebook that no longer runs
against the package fails the build.  Each notebook must stay under 300 s of CPU
time at the reduced size (wall time depends on what else the machine runs).
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest

COURSE = Path(__file__).resolve().parents[2] / "course"
NOTEBOOKS = sorted(COURSE.glob("[0-9][0-9]_*.py"))

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")


def test_course_has_six_to_eight_notebooks_with_exercises():
    assert 6 <= len(NOTEBOOKS) <= 8
    for path in NOTEBOOKS:
        nb = jupytext.read(path)
        assert nb.cells[0].cell_type == "markdown", path.name
        last = nb.cells[-1]
        assert last.cell_type == "markdown" and "## Exercises" in last.source, path.name


@pytest.mark.slow  # runs engines (ML, one notebook GPAW): minutes in total
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, monkeypatch):
    monkeypatch.setenv("ALKALI_LAYERS_COURSE_SIZE", "small")
    for var in ("ALKALI_LAYERS_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.setenv(var, "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("GPAW_MPI_BACKEND", "cgpaw")
    nb = jupytext.read(path)
    client = nbclient.NotebookClient(
        nb,
        timeout=600,  # per cell, s
        kernel_name="python3",
        resources={"metadata": {"path": str(COURSE)}},
    )

    def children_cpu_s() -> float:  # the kernel is a child: its CPU time counts here
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    cpu0, start = children_cpu_s(), time.perf_counter()
    client.execute()  # shuts the kernel down (and reaps it) when done
    wall, cpu = time.perf_counter() - start, children_cpu_s() - cpu0
    print(f"{path.name}: {wall:.0f} s wall, {cpu:.0f} s CPU")
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors
    # CPU time, not wall time: the bound must not depend on what else the machine runs
    assert cpu < 300, f"{path.name} took {cpu:.0f} s of CPU at the reduced size"
