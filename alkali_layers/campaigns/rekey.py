"""Re-key results stored under a key today's code no longer gives the same task.

Until 2026-12-02 :func:`~alkali_layers.settings.structure_hash` wrote a coordinate
that rounds to zero as ``0.0`` or ``-0.0``, following the sign of its rounding noise
(a builder's ``-9e-17`` on one CPU is ``+2e-16`` on another).  The same task then had
a different key on a different machine, and a campaign moved to a new machine found
only part of its finished results (graphene_mos2: 45 of 116 rows).  Keys now write
every zero as ``0.0``; this module finds the rows stored under an old key.

A row is re-keyed only when its old key is *proved* to be the key of the task's
present structure: the key is recomputed with every sign assignment of the
zero coordinates (``2**n`` hashes for ``n`` zeros) until one equals the stored key.
So a row whose structure really differs (a builder that changed since) is never
adopted; it stays in the database and the task runs again.  The old key is kept in
the row (``legacy_task_key``).

The lattice search had a second machine dependence: symmetry-equivalent supercells
tied up to rounding noise and the noise chose (AVX-512 and AVX2 machines chose
differently: graphene_mos2 rebuilt on an AVX-512 machine matched 40 of 116 committed
keys, with numpy's AVX-512 off and OpenBLAS's Haswell kernels 116 of 116).  Ties are
now broken by the integer matrices, so today's structure may be another, equivalent
supercell than the one a row was computed on.  :func:`rekey_equivalent` takes the
structures the old code built (``scripts/migrations/dump_task_structures.py``, run
with the old commit and numerics) and re-keys a row only when (1) its key is the
old structure's key with today's settings, and (2) the old structure is today's
structure rotated or reflected: same cell lengths and volume (for DFT also the same
angles: another basis changes the k-points of an even Monkhorst-Pack grid), every
atom matched with its species and tag within ``tol_A`` (pymatgen's
StructureMatcher, no scaling, no supercells).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io.jsonio import decode

from ..engines import MLIPSettings
from ..settings import (
    canonical_json,
    stable_hash,
    structure_fields,
    structure_hash,
    text_key,
)

#: At most this many zero coordinates are tried (2**20 ~ 1e6 hashes, ~10-30 s).
MAX_ZEROS = 20

_MARK = "@zero@"


def legacy_structure_hashes(atoms, max_zeros: int = MAX_ZEROS) -> Iterator[str]:
    """Every structure hash the old (signed-zero) code could have given ``atoms``.

    The all-positive assignment (today's hash) comes first.  Raises ``ValueError``
    when ``atoms`` has more than ``max_zeros`` coordinates that round to zero.
    """
    fields = structure_fields(atoms)
    n_zeros = 0
    for name in ("positions", "cell"):
        for row in fields[name]:
            for i, value in enumerate(row):
                if value == 0.0:
                    row[i] = _MARK
                    n_zeros += 1
    if n_zeros > max_zeros:
        raise ValueError(
            f"{n_zeros} zero coordinates: 2**{n_zeros} sign assignments are too many "
            f"to try (at most {max_zeros})"
        )
    text = canonical_json(fields)
    pieces = re.split(re.escape(json.dumps(_MARK)), text)
    head, last = pieces[:-1], pieces[-1]
    for signs in itertools.product(("0.0", "-0.0"), repeat=n_zeros):
        joined = "".join(itertools.chain.from_iterable(zip(head, signs, strict=True)))
        joined += last
        yield text_key(joined)


def legacy_task_keys(entry, max_zeros: int = MAX_ZEROS) -> Iterator[str]:
    """Every key the old code could have given the campaign ``entry``'s task."""
    task = entry.task
    for structure in legacy_structure_hashes(task.atoms, max_zeros):
        yield stable_hash(task.key_payload(entry.engine, entry.settings, structure))


@dataclass
class RekeyReport:
    """What :func:`rekey_campaign` did: labels re-keyed, and labels whose rows
    under another key could not be proved to hold the same task (with why)."""

    rekeyed: list[str] = field(default_factory=list)
    unproved: list[tuple[str, str]] = field(default_factory=list)
    superseded: int = 0

    def summary(self, name: str, why: str = "signed zeros") -> str:
        lines = [
            f"{name}: {len(self.rekeyed)} results re-keyed ({why}), "
            f"{len(self.unproved)} rows under another key left as they are"
            + (
                f"; {self.superseded} rows marked superseded by a current one"
                if self.superseded
                else ""
            )
        ]
        lines += [f"  left: {label}: {reason}" for label, reason in self.unproved]
        return "\n".join(lines)


def rekey_campaign(campaign, max_zeros: int = MAX_ZEROS) -> RekeyReport:
    """Re-key the rows of ``campaign`` stored under a signed-zero key.

    Looks only at tasks without a row under their present key that have a row of
    the same label, task kind and engine settings under another key.  Finished
    results are never dropped: a row is either re-keyed (proved identical) or left.
    """
    report = RekeyReport()
    store = campaign.store
    with store.lock():
        for entry in campaign.entries():
            if entry.task.atoms is None or store.find(entry.key) is not None:
                continue
            engine_hash = entry.engine.settings_hash()
            old = {
                row.task_key
                for row in store.rows(label=entry.task.label)
                if row.get("task_kind", entry.task.kind) == entry.task.kind
                and row.get("engine_settings_hash", engine_hash) == engine_hash
            }
            if not old:
                continue
            try:
                match = next(
                    (k for k in legacy_task_keys(entry, max_zeros) if k in old), None
                )
            except ValueError as err:
                report.unproved.append((entry.task.label, str(err)))
                continue
            if match is None:
                report.unproved.append(
                    (
                        entry.task.label,
                        "a different structure or setting (not a sign of zero)",
                    )
                )
                continue
            store.rekey(match, entry.key)
            report.rekeyed.append(entry.task.label)
        report.superseded = mark_superseded(campaign)
    return report


def mark_superseded(campaign) -> int:
    """Mark the finished rows that a task's current row replaces (same label,
    another key) as ``superseded_by`` it; returns how many were marked.  Rows
    collected since 2026-12-02 are marked when written."""
    n = 0
    for entry in campaign.entries():
        row = campaign.store.find(entry.key)
        if row is not None and row.get("status") == "ok":
            n += campaign.store.supersede(entry.task.label, entry.key)
    return n


def same_structure_up_to_rotation(
    a: Atoms, b: Atoms, tol_A: float = 1e-3, same_basis: bool = False
) -> bool:
    """True when ``b`` is ``a`` rotated or reflected (and translated), its cell
    possibly another basis of the same lattice with the same lengths: equal cell
    lengths and volume, and every atom of one matched by an atom of the same
    element and tag in the other within ``tol_A``.  ``same_basis``: the cells must
    also have the same angles (a Monkhorst-Pack grid with an even number of points
    samples other k-points in another basis of the same lattice, so a DFT result is
    only the same calculation in the same basis)."""
    from ase.geometry import cell_to_cellpar
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Lattice, Structure

    if len(a) != len(b) or not (a.pbc == b.pbc).all():
        return False
    pa, pb = cell_to_cellpar(a.cell.array), cell_to_cellpar(b.cell.array)
    # the same lattice in another basis (60 vs 120 degrees) is allowed: equal cell
    # lengths keep the k-point grids of a k-point density equal
    if np.abs(np.sort(pa[:3]) - np.sort(pb[:3])).max() > tol_A:
        return False
    if same_basis and np.abs(pa - pb).max() > tol_A:  # angles too (deg)
        return False
    if abs(abs(a.cell.volume) - abs(b.cell.volume)) > tol_A * abs(a.cell.volume) ** (
        2 / 3
    ):
        return False
    kinds = sorted(set(zip(a.numbers.tolist(), a.get_tags().tolist(), strict=True)))
    if kinds != sorted(
        set(zip(b.numbers.tolist(), b.get_tags().tolist(), strict=True))
    ):
        return False
    # one stand-in element per (element, tag): the matcher compares species only
    stand_in = {kind: i + 1 for i, kind in enumerate(kinds)}

    def structure(x: Atoms) -> Structure:
        species = [
            stand_in[k]
            for k in zip(x.numbers.tolist(), x.get_tags().tolist(), strict=True)
        ]
        return Structure(
            Lattice(x.cell.array), species, x.positions, coords_are_cartesian=True
        )

    volume_per_atom = abs(a.cell.volume) / len(a)
    matcher = StructureMatcher(
        ltol=tol_A / max(pa[:3]),
        stol=tol_A / volume_per_atom ** (1 / 3),
        angle_tol=0.01,
        primitive_cell=False,
        scale=False,
        attempt_supercell=False,
    )
    return bool(matcher.fit(structure(a), structure(b)))


def rekey_equivalent(
    campaign, old_tasks: dict[str, dict], tol_A: float = 1e-3
) -> RekeyReport:
    """Re-key rows computed on a supercell equivalent to today's choice.

    Parameters
    ----------
    campaign : Campaign
    old_tasks : dict
        label -> ``{"key": old task key, "atoms": Atoms}``: the structures the old
        code built (``scripts/migrations/dump_task_structures.py``).
    tol_A : float
        Largest distance (A) between matched atoms and between cell lengths.
    """
    report = RekeyReport()
    store = campaign.store
    campaign_keys = {e.key for e in campaign.entries()}
    with store.lock():
        for entry in campaign.entries():
            task = entry.task
            old = old_tasks.get(task.label)
            if task.atoms is None or old is None or store.find(entry.key) is not None:
                continue
            row = store.find(old["key"])
            if row is None:  # moved once already, to a key that is stale now
                moved = store.rows(legacy_task_key=old["key"])
                row = moved[0] if len(moved) == 1 else None
            if row is None or row.task_key in campaign_keys:
                continue
            old_atoms = old["atoms"]
            payload = task.key_payload(
                entry.engine,
                entry.settings,
                structure_hash(old_atoms, signed_zeros=True),
            )
            if stable_hash(payload) != old["key"]:
                report.unproved.append(
                    (
                        task.label,
                        "the old key is not the old structure's key with "
                        "today's settings",
                    )
                )
            elif not same_structure_up_to_rotation(
                old_atoms,
                task.atoms,
                tol_A,
                same_basis=not isinstance(entry.engine, MLIPSettings),
            ):
                report.unproved.append(
                    (task.label, f"the old structure is not today's (tol {tol_A} A)")
                )
            else:
                store.rekey(row.task_key, entry.key)
                report.rekeyed.append(task.label)
    return report


def read_old_tasks(path) -> dict[str, dict]:
    """label -> ``{"key", "atoms"}`` from a dump of
    ``scripts/migrations/dump_task_structures.py`` ({} when the file is missing)."""
    path = Path(path)
    if not path.is_file():
        return {}
    raw = json.loads(path.read_text())
    return {
        label: {"key": t["key"], "atoms": decode(t["atoms"])}
        for label, t in raw.items()
    }
