"""Where a result came from: package versions and the source revision.

Every stored result carries :func:`provenance` so that a number can be traced to
the exact code that made it: the package versions that determine the numbers and,
for a git checkout, the commit and whether the working tree had uncommitted
changes (``git_dirty``; a dirty result cannot be reproduced from the commit alone).
"""

from __future__ import annotations

import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

#: packages whose versions determine the numbers
PACKAGES: tuple[str, ...] = (
    "alkali-layers",
    "ase",
    "sevenn",
    "torch",
    "dftd3",
    "dftd4",
    "numpy",
    "gpaw",
    "gpaw-data",
)


def engine_versions() -> dict[str, str]:
    """Versions of the packages that determine the numbers ("not installed")."""
    out = {}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


@lru_cache(maxsize=1)
def source_revision() -> dict[str, object]:
    """``{"git_commit": sha or "unknown", "git_dirty": bool or None}`` of the code.

    Read from the git checkout that holds this package (tracked files only: an
    untracked results file does not make the tree dirty); "unknown"/None when the
    package is not a git checkout (e.g. installed from a wheel) or git is missing.
    """
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(
                ["git", "-C", str(root), *args],
                capture_output=True,
                text=True,
                timeout=10,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return {"git_commit": "unknown", "git_dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}


def provenance() -> dict[str, object]:
    """Package versions (``version_<pkg>``) and the source revision, flat."""
    values: dict[str, object] = {
        "version_" + pkg.replace("-", "_"): v for pkg, v in engine_versions().items()
    }
    values.update(source_revision())
    return values
