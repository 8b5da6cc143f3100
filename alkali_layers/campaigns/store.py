"""The result store: one ASE database per campaign, written by one process.

Every row carries ``task_key`` (the content address of its task), ``role`` ("model" or
"reference"), ``status`` ("ok" or "failed", with ``reason``) and the engine-settings
hash.  A finished ("ok") result is never overwritten; a failed one is replaced only
when a task is retried.  Each write is one SQLite transaction, so a campaign killed
at any moment leaves every finished row intact.  Browse with
``ase db runs/<campaign>/results.db -w``.
"""

from __future__ import annotations

import fcntl
import json
import math
from contextlib import contextmanager
from pathlib import Path

import ase.db
import numpy as np
from ase import Atoms

# names ase.db reserves for its own columns
_RESERVED = {
    "id",
    "unique_id",
    "ctime",
    "mtime",
    "user",
    "calculator",
    "energy",
    "natoms",
    "formula",
    "charge",
    "magmom",
    "fmax",
    "smax",
    "volume",
    "mass",
    "pbc",
    "age",
    "key",
    "value",
    "numbers",
    "positions",
    "cell",
    "tags",
}


def _kvp_value(value):
    """Convert a value into something ase.db accepts as a key-value pair."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return value
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        value = value.tolist()
    return json.dumps(value, separators=(",", ":"))


def to_key_value_pairs(values: dict) -> dict:
    """ase.db-compatible key-value pairs: scalars kept, lists as JSON, None dropped."""
    out = {}
    for key, value in values.items():
        if key in _RESERVED:
            raise ValueError(f"{key!r} is reserved by ase.db; rename the column")
        v = _kvp_value(value)
        if v is not None:
            out[key] = v
    return out


class ResultStore:
    """An ASE database of task results keyed by ``task_key``.

    Parameters
    ----------
    path : str or Path
        SQLite database file, created with its directory by the first write: reading
        a campaign that has never run (``alkali-layers status``) leaves no empty
        database behind.
    """

    def __init__(self, path):
        self.path = Path(path)
        # ASE's own lock file (results.db.lock) is not used: a writer killed with
        # SIGKILL while holding it left it behind and every later write waited for
        # ever.  Writes are serialised by :meth:`lock` (an fcntl lock, released by
        # the kernel when its process dies) and SQLite's own transactions.
        self.db = ase.db.connect(str(self.path), append=True, use_lock_file=False)

    def _select(self, **selection):
        """Rows matching ``selection``; none (and no file made) before the first
        write.  ASE's SQLite backend creates the file on any first access."""
        if not self.path.exists():
            return iter(())
        return self.db.select(**selection)

    def find(self, task_key: str):
        """The row of ``task_key`` or None."""
        rows = list(self._select(task_key=task_key))
        if len(rows) > 1:
            raise RuntimeError(
                f"{self.path}: {len(rows)} rows share task_key {task_key}"
            )
        return rows[0] if rows else None

    def is_done(self, task_key: str) -> bool:
        row = self.find(task_key)
        return row is not None and row.get("status") == "ok"

    def record(
        self,
        task_key: str,
        atoms: Atoms,
        values: dict,
        data: dict | None = None,
        status: str = "ok",
    ) -> int:
        """Write one result row; refuse to overwrite a finished result.

        A previous *failed* row of the same task is replaced (retry); a previous ok
        row raises ``RuntimeError`` (finished results are never overwritten).
        """
        old = self.find(task_key)
        if old is not None:
            if old.get("status") == "ok":
                raise RuntimeError(
                    f"task {task_key} already has a finished result (row {old.id}); "
                    "it is never overwritten"
                )
            self.db.delete([old.id])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kvp = to_key_value_pairs({**values, "task_key": task_key, "status": status})
        row_id = self.db.write(atoms, key_value_pairs=kvp, data=data or {})
        if status == "ok" and values.get("label"):
            self.supersede(values["label"], task_key)
        return row_id

    def supersede(self, label: str, task_key: str) -> int:
        """Mark the other finished rows labelled ``label`` as superseded by the row
        of ``task_key`` (``superseded_by``; they are kept, never dropped: an
        earlier structure or setting of the same model).  Returns how many."""
        n = 0
        for row in self._select(label=label, status="ok"):
            if row.task_key != task_key and row.get("superseded_by") != task_key:
                self.db.update(row.id, superseded_by=task_key)
                n += 1
        return n

    def current(self, label: str):
        """The finished row labelled ``label`` that no other has superseded.

        Raises
        ------
        ValueError
            None, or several (rows written before superseding was recorded: run
            ``alkali-layers rekey`` on the campaign, which marks them).
        """
        rows = [
            r
            for r in self._select(label=label, status="ok")
            if not r.get("superseded_by")
        ]
        if len(rows) > 1:
            raise ValueError(
                f"{self.path}: {len(rows)} current finished rows labelled {label!r} "
                "(earlier ones not marked superseded: run alkali-layers rekey on the "
                "campaign)"
            )
        if not rows:
            known = sorted({r.label for r in self._select(status="ok")})
            raise ValueError(
                f"{self.path}: 0 current finished rows labelled {label!r}; labels: "
                f"{', '.join(known)}"
            )
        return rows[0]

    def record_failure(
        self, task_key: str, atoms: Atoms | None, values: dict, reason: str
    ) -> int:
        """Write (or replace) a failed row with its ``reason``."""
        return self.record(
            task_key,
            atoms if atoms is not None else Atoms(),
            {**values, "reason": reason},
            status="failed",
        )

    @contextmanager
    def lock(self):
        """Exclusive lock (``results.db.collect.lock``) held while importing results.

        Two collectors started at once take turns instead of interleaving their
        check-then-write sequences (which could write a row twice).
        """
        lock_path = self.path.with_name(self.path.name + ".collect.lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def rekey(self, old_key: str, new_key: str) -> None:
        """Move the row of ``old_key`` to ``new_key`` (the key it was first written
        under kept as ``legacy_task_key``); used by
        :mod:`~alkali_layers.campaigns.rekey` only."""
        if self.find(new_key) is not None:
            raise RuntimeError(f"{self.path}: task_key {new_key} already has a row")
        row = self.find(old_key)
        if row is None:
            raise KeyError(f"{self.path}: no row with task_key {old_key}")
        first = row.get("legacy_task_key") or old_key  # the key it was written under
        self.db.update(row.id, task_key=new_key, legacy_task_key=first)

    def delete(self, task_key: str) -> None:
        """Remove the row of ``task_key`` (only for an explicit ``--force`` rerun)."""
        row = self.find(task_key)
        if row is not None:
            self.db.delete([row.id])

    def rows(self, **selection) -> list:
        """All rows matching ``selection`` (ase.db keyword selection)."""
        return list(self._select(**selection))

    def __len__(self) -> int:
        return self.db.count() if self.path.exists() else 0
