"""JSON files that readers never see half-written."""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_json_atomic(path: Path, data: dict) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one.

    The JSON goes to a temporary file in the same folder, is flushed to disk, then
    renamed over ``path`` (an atomic replace on POSIX file systems).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("w") as fh:
        json.dump(data, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> dict | None:
    """The JSON content of ``path``, or None when it does not exist."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None
