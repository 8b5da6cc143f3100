"""Content hashes: stable, and never a string that reads as a number."""

import hashlib
import json

import ase.db
import pytest

from alkali_layers.settings import hex_key, stable_hash


def test_a_numeric_looking_digest_prefix_is_replaced_and_others_kept():
    # a task key of runs/graphene_mos2 (K 1L x=1 1T') was all digits and ase.db
    # refused to store it as a string: the run stopped
    assert hex_key("2789620706623993" + "ab" * 24) != "2789620706623993"
    assert hex_key("12e4" + "0" * 60, 4) != "12e4"
    assert hex_key("87f643b7b5088c4d" + "0" * 48) == "87f643b7b5088c4d"
    raw = {
        i: hashlib.sha256(json.dumps(i).encode()).hexdigest()[:3] for i in range(300)
    }
    numeric = [
        i
        for i, k in raw.items()
        if k.isdigit() or k[1:2] == "e" and k.replace("e", "").isdigit()
    ]
    assert numeric, "some 3-character prefixes read as numbers"
    for i in range(300):
        key = stable_hash(i, length=3)
        with pytest.raises(ValueError):
            float(key)
        if i not in numeric:
            assert key == raw[i], "a key that was valid before must not change"


def test_every_key_can_be_stored_in_ase_db(tmp_path):
    with ase.db.connect(tmp_path / "k.db") as db:
        for i in range(100):
            db.write(ase.Atoms(), task_key=stable_hash(i, length=2))
    assert db.count() == 100


def test_a_zero_coordinate_hashes_alike_whatever_the_sign_of_its_noise():
    # a builder gave -9e-17 on one CPU and +2e-16 on another: both round to zero,
    # and the task key must not depend on which (it kept the sign before 2026-12-02)
    from ase import Atoms

    from alkali_layers.settings import structure_hash

    a = Atoms("H2", positions=[[-9e-17, 0.0, 0.0], [1.0, 0.0, 0.0]], cell=[5, 5, 5])
    b = Atoms("H2", positions=[[2e-16, 0.0, 0.0], [1.0, 0.0, 0.0]], cell=[5, 5, 5])
    assert structure_hash(a) == structure_hash(b)
    assert stable_hash([-0.0]) == stable_hash([0.0])
    c = Atoms("H2", positions=[[2e-5, 0.0, 0.0], [1.0, 0.0, 0.0]], cell=[5, 5, 5])
    assert structure_hash(c) != structure_hash(a)
