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
    # specs name other campaigns by paths from the repository root
    monkeypatch.chdir(RUNS.parent)
    campaign = Campaign(load_spec(spec))
    current = {e.key for e in campaign.entries()}
    assert finished & current, (
        f"{spec}: none of its {len(finished)} finished rows has a current task key: "
        "a settings change altered every key (results would be recomputed)"
    )
