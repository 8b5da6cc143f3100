import pytest
from ase.build import bulk

from alkali_layers.campaigns.store import ResultStore, to_key_value_pairs


def test_store_records_finds_and_never_overwrites(tmp_path):
    store = ResultStore(tmp_path / "sub" / "results.db")
    atoms = bulk("Na", "bcc", a=4.23)
    store.record(
        "k1",
        atoms,
        {
            "label": "bulk-Na",
            "supercell": [[1, 0], [0, 1]],
            "skipped": None,
            "energy_per_unit_eV": -1.3,
        },
    )
    row = store.find("k1")
    assert row.status == "ok" and row.label == "bulk-Na"
    assert row.supercell == "[[1,0],[0,1]]" and "skipped" not in row
    assert store.is_done("k1") and not store.is_done("k2")
    with pytest.raises(RuntimeError, match="never overwritten"):
        store.record("k1", atoms, {"label": "again"})
    assert len(store) == 1


def test_failed_rows_are_replaced_on_retry(tmp_path):
    store = ResultStore(tmp_path / "results.db")
    store.record_failure("k", None, {"label": "x"}, "builder: no supercell")
    assert store.find("k").reason == "builder: no supercell"
    assert not store.is_done("k")
    store.record("k", bulk("K", "bcc", a=5.23), {"label": "x"})
    assert store.is_done("k") and len(store) == 1


def test_reserved_column_names_are_refused():
    with pytest.raises(ValueError, match="reserved"):
        to_key_value_pairs({"energy": 1.0})


def test_a_stale_ase_lock_file_left_by_a_killed_writer_does_not_block(tmp_path):
    """A writer SIGKILLed inside an ASE db write leaves results.db.lock behind;
    the store must not wait for it (it serialises writes with its fcntl lock)."""
    import threading

    from ase import Atoms

    from alkali_layers.campaigns.store import ResultStore

    store = ResultStore(tmp_path / "results.db")
    (tmp_path / "results.db.lock").write_text("")  # what a killed writer leaves
    done = threading.Event()

    def write():
        with store.lock():
            store.record("k1", Atoms("H"), {"label": "x"}, {})
        done.set()

    threading.Thread(target=write, daemon=True).start()
    assert done.wait(20), "a stale results.db.lock blocked the store"
    assert store.find("k1") is not None


def test_a_new_finished_row_of_a_label_supersedes_the_earlier_one(tmp_path):
    # a model rebuilt on another structure (a changed builder, another supercell
    # choice) gets a new key; the old row is kept but is no longer "the" model
    store = ResultStore(tmp_path / "results.db")
    atoms = bulk("Na", "bcc", a=4.23)
    store.record("old1", atoms, {"label": "bulk-Na", "energy_eV": -1.0})
    assert store.current("bulk-Na").task_key == "old1"
    store.record("new1", atoms, {"label": "bulk-Na", "energy_eV": -1.1})
    assert store.find("old1").superseded_by == "new1"  # kept, marked
    assert store.current("bulk-Na").task_key == "new1"
    assert len(store) == 2
    with pytest.raises(ValueError, match="0 current finished rows labelled 'x'"):
        store.current("x")
