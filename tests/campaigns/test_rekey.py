"""Results stored under a key that kept the sign of a zero coordinate are found.

Before 2026-12-02 a coordinate rounding to zero entered the task key as ``0.0`` or
``-0.0`` by the sign of its noise (CPU-dependent), so a campaign moved to another
machine lost track of finished rows (graphene_mos2: 45 of 116 found).
"""

from __future__ import annotations

import itertools

import pytest

from alkali_layers.campaigns.campaign import Campaign
from alkali_layers.campaigns.rekey import legacy_task_keys, rekey_campaign
from alkali_layers.campaigns.spec import load_spec


def _row_values(entry) -> dict:
    return {
        "label": entry.task.label,
        "task_kind": entry.task.kind,
        "engine_settings_hash": entry.engine.settings_hash(),
    }


def test_a_row_under_a_signed_zero_key_is_proved_and_rekeyed(small_spec):
    campaign = Campaign(load_spec(small_spec))
    models = [e for e in campaign.entries() if e.task.role == "model"]
    signed, other = models[0], models[1]
    # the key the old code gave when some zero coordinates came out as -0.0
    legacy = list(itertools.islice(legacy_task_keys(signed), 6))
    assert legacy[0] == signed.key  # all zeros positive: today's key
    old_key = legacy[5]
    assert old_key != signed.key
    store = campaign.store
    store.record(old_key, signed.task.atoms, {**_row_values(signed), "energy_eV": -1.0})
    # same label, a key no sign assignment of this structure gives
    store.record("0123abcdef4567ab", other.task.atoms, _row_values(other))

    assert "2 pending tasks have rows of the same label under another key" in (
        campaign.status_report()
    )

    report = rekey_campaign(campaign)

    assert report.rekeyed == [signed.task.label]
    assert [label for label, _ in report.unproved] == [other.task.label]
    row = store.find(signed.key)
    assert row.legacy_task_key == old_key and row.energy_eV == -1.0
    assert store.find(old_key) is None
    assert store.find("0123abcdef4567ab") is not None  # left, never dropped
    assert campaign.state_of(signed).state == "done"
    # a second pass has nothing to do
    again = rekey_campaign(campaign)
    assert again.rekeyed == [] and len(again.unproved) == 1


def test_rekey_marks_rows_that_a_current_row_replaces(small_spec):
    # rows written before 2026-12-02 were not marked when a newer row came
    campaign = Campaign(load_spec(small_spec))
    entry = next(e for e in campaign.entries() if e.task.role == "model")
    store = campaign.store
    store.record(entry.key, entry.task.atoms, _row_values(entry))
    old_id = store.db.write(
        entry.task.atoms,
        key_value_pairs={**_row_values(entry), "task_key": "0ldabc", "status": "ok"},
    )
    with pytest.raises(ValueError, match="2 current finished rows"):
        store.current(entry.task.label)
    report = rekey_campaign(campaign)
    assert report.superseded == 1
    assert "1 rows marked superseded" in report.summary("small")
    assert store.db.get(id=old_id).superseded_by == entry.key
    assert store.current(entry.task.label).task_key == entry.key


def test_the_rekey_verb_reports_per_campaign(small_spec, capsys):
    from alkali_layers.cli import main

    assert main(["rekey", str(small_spec)]) == 0
    assert "small: 0 results re-keyed (signed zeros), 0 rows" in capsys.readouterr().out


def test_a_row_built_on_an_equivalent_supercell_is_proved_and_rekeyed(small_spec):
    from alkali_layers.campaigns.rekey import (
        rekey_equivalent,
    )
    from alkali_layers.settings import stable_hash, structure_hash

    campaign = Campaign(load_spec(small_spec))
    models = [e for e in campaign.entries() if e.task.role == "model"]
    rotated_entry, moved_entry = models

    def old_task(entry, atoms):
        payload = entry.task.key_payload(
            entry.engine, entry.settings, structure_hash(atoms, signed_zeros=True)
        )
        return {"key": stable_hash(payload), "atoms": atoms}

    # the old code's cell: today's rotated by 60 degrees (and translated)
    rotated = rotated_entry.task.atoms.copy()
    rotated.rotate(60, "z", rotate_cell=True)
    rotated.translate([0.3, 0.1, 0.0])
    # a structure that differs by 0.01 A in one atom is not the same task
    moved = moved_entry.task.atoms.copy()
    moved.positions[0, 2] += 0.01
    old = {
        rotated_entry.task.label: old_task(rotated_entry, rotated),
        moved_entry.task.label: old_task(moved_entry, moved),
    }
    for entry in models:
        campaign.store.record(
            old[entry.task.label]["key"], entry.task.atoms, _row_values(entry)
        )

    report = rekey_equivalent(campaign, old)

    assert report.rekeyed == [rotated_entry.task.label]
    assert report.unproved[0][0] == moved_entry.task.label
    assert "not today's" in report.unproved[0][1]
    assert (
        campaign.store.find(rotated_entry.key).legacy_task_key
        == old[rotated_entry.task.label]["key"]
    )
    assert campaign.store.find(old[moved_entry.task.label]["key"]) is not None


def test_another_basis_of_the_same_lattice_is_equivalent_only_for_the_ml_engine():
    # 60 and 120 degree bases of one hexagonal lattice: the same structure for a
    # force field, not the same DFT calculation (an even Monkhorst-Pack grid samples
    # other k-points in the other basis)
    import numpy as np
    from ase import Atoms

    from alkali_layers.campaigns.rekey import same_structure_up_to_rotation

    a = 2.46
    cell60 = [[a, 0, 0], [a / 2, a * np.sqrt(3) / 2, 0], [0, 0, 10]]
    cell120 = [cell60[0], np.subtract(cell60[1], cell60[0]), cell60[2]]
    pos = [[0, 0, 5], [a / 2, a / (2 * np.sqrt(3)), 5]]
    one = Atoms("C2", positions=pos, cell=cell60, pbc=True)
    other = Atoms("C2", positions=pos, cell=cell120, pbc=True)
    assert same_structure_up_to_rotation(one, other)
    assert not same_structure_up_to_rotation(one, other, same_basis=True)
    assert same_structure_up_to_rotation(one, one.copy(), same_basis=True)
