"""Side-by-side comparison of two campaigns (e.g. ML vs DFT on identical models)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def compare_rows(
    rows_a: Sequence[dict],
    rows_b: Sequence[dict],
    quantity: str = "formation_energy_eV_per_atom",
) -> dict:
    """Match model rows by label and compare ``quantity``.

    Returns ``{"pairs": [(label, a, b, b - a), ...], "mae", "max_abs", "mean"}`` with
    the errors in the unit of ``quantity``; models missing on either side are left
    out and listed under ``"missing"``.
    """
    a = {r["label"]: r for r in rows_a if r.get(quantity) is not None}
    b = {r["label"]: r for r in rows_b if r.get(quantity) is not None}
    labels = sorted(set(a) & set(b))
    pairs = [
        (lab, a[lab][quantity], b[lab][quantity], b[lab][quantity] - a[lab][quantity])
        for lab in labels
    ]
    diffs = np.array([p[3] for p in pairs])
    return {
        "pairs": pairs,
        "mae": float(np.mean(np.abs(diffs))) if len(diffs) else None,
        "max_abs": float(np.max(np.abs(diffs))) if len(diffs) else None,
        "mean": float(np.mean(diffs)) if len(diffs) else None,
        "missing": sorted(set(a) ^ set(b)),
    }


def write_comparison(
    result: dict,
    path,
    name_a: str,
    name_b: str,
    quantity: str = "formation_energy_eV_per_atom",
) -> Path:
    """Markdown report of :func:`compare_rows` (differences in meV)."""
    path = Path(path)
    lines = [
        f"# {quantity}: {name_b} vs {name_a}",
        "",
        f"| model | {name_a} | {name_b} | difference (meV) |",
        "|---|---|---|---|",
    ]
    for label, va, vb, d in result["pairs"]:
        lines.append(f"| {label} | {va:+.3f} | {vb:+.3f} | {1000 * d:+.0f} |")
    if result["mae"] is not None:
        lines += [
            "",
            f"Mean absolute deviation {1000 * result['mae']:.0f} meV, maximum "
            f"{1000 * result['max_abs']:.0f} meV, mean (signed) "
            f"{1000 * result['mean']:+.0f} meV over {len(result['pairs'])} models.",
        ]
    if result["missing"]:
        lines += ["", f"Not in both: {', '.join(result['missing'])}"]
    path.write_text("\n".join(lines) + "\n")
    return path
