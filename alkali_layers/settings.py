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
        # + 0.0 turns -0.0 into 0.0: a coordinate that is zero up to rounding noise
        # (-9e-17 on one CPU, +2e-16 on another) rounds to either, and the two must
        # hash alike or a result computed on one machine is not found on the other
        return float(repr(float(obj) + 0.0))
    return obj


def plain(obj):
    """``obj`` with numpy scalars/arrays and dataclasses as plain JSON types."""
    return _canonical(obj)


def stable_hash(obj, length: int = 16) -> str:
    """Hex digest (sha256, ``length`` characters) of a JSON-canonical form of ``obj``.

    Dict keys are sorted and dataclasses become dicts of their fields, so the hash
    depends only on the values, never on insertion order, process or platform.
    Floats are written by ``repr`` with ``-0.0`` as ``0.0`` (before 2026-12-02 the
    sign of a zero was kept, and results keyed so are re-keyed by
    :mod:`alkali_layers.campaigns.rekey`).
    """
    return text_key(canonical_json(obj), length)


def text_key(text: str, length: int = 16) -> str:
    """:func:`hex_key` of the sha256 of ``text`` (the last step of every hash)."""
    return hex_key(hashlib.sha256(text.encode()).hexdigest(), length)


def canonical_json(obj) -> str:
    """The JSON text :func:`stable_hash` hashes (sorted keys, no spaces)."""
    return json.dumps(_canonical(obj), sort_keys=True, separators=(",", ":"))


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


def structure_fields(atoms: Atoms, decimals: int = 5) -> dict:
    """What :func:`structure_hash` hashes: numbers, positions and cell rounded to
    ``decimals`` A, pbc and tags (plain lists)."""
    return {
        "numbers": atoms.numbers.tolist(),
        "positions": np.round(atoms.positions, decimals).tolist(),
        "cell": np.round(atoms.cell.array, decimals).tolist(),
        "pbc": atoms.pbc.tolist(),
        "tags": atoms.get_tags().tolist(),
    }


def structure_hash(
    atoms: Atoms, decimals: int = 5, *, signed_zeros: bool = False
) -> str:
    """Hash of numbers, positions, cell, pbc and tags, rounded to ``decimals`` A.

    A coordinate that rounds to zero hashes as ``0.0`` whatever the sign of its
    rounding noise (see :func:`stable_hash`), so the same builder gives the same
    hash on every CPU.  ``signed_zeros=True`` gives the hash as computed before
    2026-12-02, when such a coordinate kept its sign (``-0.0``): the key of results
    stored then, under which readers still find them.
    """
    fields = structure_fields(atoms, decimals)
    if not signed_zeros:
        return stable_hash(fields)
    return text_key(json.dumps(fields, sort_keys=True, separators=(",", ":")))


def structure_hashes(atoms: Atoms) -> tuple[str, str]:
    """(today's :func:`structure_hash`, the signed-zero one of results stored
    before 2026-12-02): the two keys under which a stored result is looked up."""
    return structure_hash(atoms), structure_hash(atoms, signed_zeros=True)
