"""The committed studies keep their identity: every campaign under runs/ that has
finished rows still finds them under the task keys today's code computes.

A settings field added to a dataclass that a task key nests (RelaxSettings inside the
fill options, GPAW settings inside the engine hash) silently turns every finished
task of a study into a pending one: ``alkali-layers run`` would recompute hours.
This test reads each committed ``results.db`` and fails if none of its finished rows
carries a key of the campaign's current tasks.  (Tolerant of edited specs: a study
whose spec changed keeps its old rows beside the new tasks.)  Slow: it builds every
committed campaign's structures (~40 s idle, 2.5 min on a loaded machine).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alkali_layers.campaigns.campaign import Campaign
from alkali_layers.campaigns.spec import SPEC_FILENAME, load_spec
from alkali_layers.campaigns.store import ResultStore

RUNS = Path(__file__).resolve().parents[2] / "runs"
SPECS = sorted(RUNS.rglob(SPEC_FILENAME))


#: studies whose every finished row was deliberately left under an old key
DELIBERATELY_ORPHANED = {
    "convergence": "its one finished scan (Na 3L AA) was computed in the 60-degree "
    "basis of today's 120-degree cell; an even k-grid samples other k-points there, "
    "so it is not today's task (scripts/migrations/rekey_supercell_ties.md)",
}


def _finished_keys(db: Path) -> set[str]:
    store = ResultStore(db)
    return {row.task_key for row in store.rows() if row.get("status") == "ok"}


def test_the_committed_studies_are_found():
    assert len(SPECS) >= 15, SPECS


@pytest.mark.slow
@pytest.mark.parametrize("spec", SPECS, ids=lambda p: str(p.parent.relative_to(RUNS)))
def test_finished_rows_still_match_current_task_keys(spec, monkeypatch):
    db = spec.parent / "results.db"
    if not db.exists() or db.stat().st_size == 0:
        pytest.skip("no results committed")  # (opening an empty file would write it)
    finished = _finished_keys(db)
    if not finished:
        pytest.skip("no finished rows committed")
    if spec.parent.name in DELIBERATELY_ORPHANED:
        pytest.skip(DELIBERATELY_ORPHANED[spec.parent.name])
    # specs name other campaigns by paths from the repository root
    monkeypatch.chdir(RUNS.parent)
    campaign = Campaign(load_spec(spec))
    current = {e.key for e in campaign.entries()}
    assert finished & current, (
        f"{spec}: none of its {len(finished)} finished rows has a current task key: "
        "a settings change altered every key (results would be recomputed)"
    )


@pytest.mark.slow
def test_task_keys_do_not_depend_on_the_blas_kernels(monkeypatch):
    """The heterostructure grid's 164 task keys are the same with OpenBLAS's
    Sandybridge kernels as with this machine's own: before 2026-12-02 rounding
    noise chose between equivalent supercells and the sign of zeros, and 221 of the
    871 keys of the committed studies differed between an AVX-512 and an AVX2
    machine (none now; measured with numpy's AVX-512 off and OpenBLAS Haswell, and
    with OpenBLAS Sandybridge).  ~1 min."""
    import json
    import os
    import subprocess
    import sys

    monkeypatch.chdir(RUNS.parent)
    spec = RUNS / "graphene_mos2" / SPEC_FILENAME
    here = {e.label: e.key for e in Campaign(load_spec(spec)).entries()}
    code = (
        "import json, sys\n"
        "from alkali_layers.campaigns.campaign import Campaign\n"
        "from alkali_layers.campaigns.spec import load_spec\n"
        "c = Campaign(load_spec(sys.argv[1]))\n"
        "print(json.dumps({e.label: e.key for e in c.entries()}))\n"
    )
    env = {**os.environ, "OPENBLAS_CORETYPE": "Sandybridge"}
    out = subprocess.run(
        [sys.executable, "-c", code, str(spec)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=RUNS.parent,
    )
    there = json.loads(out.stdout.strip().splitlines()[-1])
    differ = sorted(k for k in here if here[k] != there.get(k))
    assert not differ, f"{len(differ)} keys depend on the BLAS kernels: {differ[:5]}"
