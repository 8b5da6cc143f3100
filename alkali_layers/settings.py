"""Stable hashing of settings and structures (the identity of every stored result)."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
from ase import Atoms


def _canonical(obj):
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: _canonical(getattr(obj, f.name)) for f in dataclasses.fields(obj)
        }
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items())}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _canonical(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(repr(float(obj)))
    return obj


def plain(obj):
    """``obj`` with numpy scalars/arrays and dataclasses as plain JSON types."""
    return _canonical(obj)


def stable_hash(obj, length: int = 16) -> str:
    """Hex digest (sha256, ``length`` characters) of a JSON-canonical form of ``obj``.

    Dict keys are sorted and dataclasses become dicts of their fields, so the hash
    depends only on the values, never on insertion order, process or platform.
    """
    text = json.dumps(_canonical(obj), sort_keys=True, separators=(",", ":"))
    return hex_key(hashlib.sha256(text.encode()).hexdigest(), length)


def hex_key(digest: str, length: int = 16) -> str:
    """The first ``length`` characters of the hex ``digest``, never a number.

    A prefix such as ``2789620706623993`` or ``12e4`` would be read back as a
    number (ase.db refuses to store it as a string; spreadsheets convert it): such
    a prefix is replaced by that of the digest's own sha256, repeatedly.  Keys that
    were valid before are unchanged.
    """
    key = digest[:length]
    while _reads_as_number(key):
        digest = hashlib.sha256(digest.encode()).hexdigest()
        key = digest[:length]
    return key


def _reads_as_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def structure_hash(atoms: Atoms, decimals: int = 5) -> str:
    """Hash of numbers, positions, cell, pbc and tags, rounded to ``decimals`` A."""
    return stable_hash(
        {
            "numbers": atoms.numbers.tolist(),
            "positions": np.round(atoms.positions, decimals).tolist(),
            "cell": np.round(atoms.cell.array, decimals).tolist(),
            "pbc": atoms.pbc.tolist(),
            "tags": atoms.get_tags().tolist(),
        }
    )
