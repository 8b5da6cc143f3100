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


#: how each compared quantity is printed: (value format, difference unit, scale)
QUANTITY_FORMATS = {
    "formation_energy_eV_per_atom": ("{:+.3f}", "meV", 1000.0),
    "gallery_height_A": ("{:.3f}", "A", 1.0),
}


def _section(result: dict, name_a: str, name_b: str, quantity: str) -> list[str]:
    value, unit, scale = QUANTITY_FORMATS.get(quantity, ("{:.4g}", "", 1.0))
    size = "{:.0f}" if unit == "meV" else "{:.3f}"  # magnitudes
    diff = size.replace("{:", "{:+")  # signed differences
    lines = [
        f"## {quantity}",
        "",
        f"| model | {name_a} | {name_b} | difference ({unit}) |",
        "|---|---|---|---|",
    ]
    for label, va, vb, d in result["pairs"]:
        lines.append(
            f"| {label} | {value.format(va)} | {value.format(vb)} | "
            f"{diff.format(scale * d)} |"
        )
    if result["mae"] is not None:
        lines += [
            "",
            f"Mean absolute deviation {size.format(scale * result['mae'])} "
            f"{unit}, maximum {size.format(scale * result['max_abs'])} {unit}, "
            f"mean (signed) {diff.format(scale * result['mean'])} {unit} over "
            f"{len(result['pairs'])} models.",
        ]
    if result["missing"]:
        lines += ["", f"Not in both: {', '.join(result['missing'])}"]
    return lines + [""]


def write_comparison(
    result: dict,
    path,
    name_a: str,
    name_b: str,
    quantity: str = "formation_energy_eV_per_atom",
    more: Sequence[tuple[str, dict]] = (),
) -> Path:
    """Markdown report of :func:`compare_rows`: formation energies with differences
    in meV, gallery heights in A; ``more`` adds ``(quantity, result)`` sections."""
    path = Path(path)
    lines = [f"# {name_b} vs {name_a}", ""]
    for q, res in ((quantity, result), *more):
        lines += _section(res, name_a, name_b, q)
    path.write_text("\n".join(lines))
    return path
