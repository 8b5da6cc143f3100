"""Side-by-side comparison of two campaigns (e.g. ML vs DFT on identical models)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def compare_rows(
    rows_a: Sequence[dict],
    rows_b: Sequence[dict],
    quantity: str = "formation_energy_eV_per_metal_atom",
) -> dict:
    """Match model rows by label and compare ``quantity``.

    Labels are compared without their builder prefix (a spec with several groups
    labels a model ``bilayer_graphene-Li-1L-AA``, one with a single group
    ``Li-1L-AA``: the same model).

    Returns ``{"pairs": [(label, a, b, b - a), ...], "mae", "max_abs", "mean"}`` with
    the errors in the unit of ``quantity``; models missing on either side are left
    out and listed under ``"missing"`` (both sides), ``"only_a"`` and ``"only_b"``.
    """
    a = {model_name(r): r for r in rows_a if r.get(quantity) is not None}
    b = {model_name(r): r for r in rows_b if r.get(quantity) is not None}
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
        "only_a": sorted(set(a) - set(b)),
        "only_b": sorted(set(b) - set(a)),
    }


def model_name(row: dict) -> str:
    """The row's ``model`` name where a layout gives one (e.g. "heterostructure":
    metal, layers, loading, packing, phase), else its label without the
    ``<builder>-`` prefix a spec may give it."""
    if row.get("model"):
        return str(row["model"])
    label = str(row["label"])
    prefix = f"{row.get('builder', '')}-"
    return label[len(prefix) :] if prefix != "-" and label.startswith(prefix) else label


#: how each compared quantity is printed: (value format, difference unit, scale)
QUANTITY_FORMATS = {
    "formation_energy_eV_per_metal_atom": ("{:+.3f}", "meV", 1000.0),
    "gallery_height_A": ("{:.3f}", "A", 1.0),
    "gallery_force_eV_A": ("{:+.3f}", "eV/A", 1.0),
    # total energy of the cell: comparable only between campaigns that compute it
    # with one treatment and settings (e.g. one factor of a relaxation protocol)
    "energy_eV": ("{:.4f}", "meV", 1000.0),
    # heterostructures (layout "heterostructure"): per metal atom and per Mo
    "intercalation_energy_eV": ("{:+.3f}", "meV", 1000.0),
    "dE_2H_minus_1Tp_eV_per_Mo": ("{:+.3f}", "meV", 1000.0),
}


#: models finished in one campaign only are named up to this many, else counted
MAX_LISTED = 12


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
    for side, name in (("only_a", name_a), ("only_b", name_b)):
        only = result.get(side, [])
        if 0 < len(only) <= MAX_LISTED:
            lines += ["", f"Only in {name}: {', '.join(only)}"]
        elif only:  # e.g. a DFT subset of a large ML grid
            lines += ["", f"Only in {name}: {len(only)} models"]
    return lines + [""]


def write_comparison(
    result: dict,
    path,
    name_a: str,
    name_b: str,
    quantity: str = "formation_energy_eV_per_metal_atom",
    more: Sequence[tuple[str, dict]] = (),
    notes: Sequence[str] = (),
) -> Path:
    """Markdown report of :func:`compare_rows`: formation energies with differences
    in meV, gallery heights in A; ``more`` adds ``(quantity, result)`` sections,
    ``notes`` lines under the title (e.g. what each campaign is)."""
    path = Path(path)
    lines = [f"# {name_b} vs {name_a}", "", *notes, *([""] if notes else [])]
    for q, res in ((quantity, result), *more):
        lines += _section(res, name_a, name_b, q)
    path.write_text("\n".join(lines))
    return path


#: columns of the engine-vs-reference summary (one row per engine)
ENGINE_COLUMNS: tuple[str, ...] = (
    "engine",
    "n_models",
    "formation_mae_meV_per_metal_atom",
    "formation_max_abs_meV_per_metal_atom",
    "formation_mean_meV_per_metal_atom",
    "sign_disagreements",
    "gallery_height_mae_A",
    "gallery_height_max_abs_A",
)


def engine_summary(
    name: str, rows: Sequence[dict], reference_rows: Sequence[dict]
) -> dict:
    """One engine against the reference, model by model (matched by label).

    Formation-energy errors in meV per metal atom (engine - reference), the number
    of models whose E_f has the other sign than the reference's, and gallery-height
    errors in A.  Models finished on only one side are left out.
    """
    ef = compare_rows(reference_rows, rows)
    heights = compare_rows(reference_rows, rows, "gallery_height_A")
    signs = sum(1 for _, a, b, _ in ef["pairs"] if (a < 0) != (b < 0))

    def scaled(value, scale):
        return None if value is None else scale * value

    return {
        "engine": name,
        "n_models": len(ef["pairs"]),
        "formation_mae_meV_per_metal_atom": scaled(ef["mae"], 1000.0),
        "formation_max_abs_meV_per_metal_atom": scaled(ef["max_abs"], 1000.0),
        "formation_mean_meV_per_metal_atom": scaled(ef["mean"], 1000.0),
        "sign_disagreements": signs,
        "gallery_height_mae_A": heights["mae"],
        "gallery_height_max_abs_A": heights["max_abs"],
        "formation_error_meV_by_model": {
            lab: 1000.0 * d for lab, _, _, d in ef["pairs"]
        },
        "gallery_height_error_A_by_model": {
            lab: d for lab, _, _, d in heights["pairs"]
        },
    }


def _per_model_lines(ordered: Sequence[dict]) -> list[str]:
    """Model-by-model errors (E_f in meV per metal atom, gallery height in A)."""
    labels = sorted(
        {lab for s in ordered for lab in s.get("formation_error_meV_by_model", {})}
    )
    if not labels:
        return []
    lines = [
        "",
        "## Model by model: E_f error (meV per metal atom) / gallery-height error (A)",
        "",
        "| engine | " + " | ".join(labels) + " |",
        "|" + "---|" * (len(labels) + 1),
    ]
    for s in ordered:
        ef = s.get("formation_error_meV_by_model", {})
        gh = s.get("gallery_height_error_A_by_model", {})
        cells = [
            ""
            if lab not in ef
            else f"{ef[lab]:+.0f} / {gh.get(lab, float('nan')):+.2f}"
            for lab in labels
        ]
        lines.append(f"| {s['engine']} | " + " | ".join(cells) + " |")
    return lines


def write_engine_summary(
    summaries: Sequence[dict], directory, reference_name: str
) -> Path:
    """``table.md``/``table.csv`` (one row per engine, best E_f first) and
    ``formation_mae.png`` (+ .csv) in ``directory``; returns the Markdown path."""
    import csv

    from .figures import plt, save_figure

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ordered = sorted(
        summaries,
        key=lambda s: (
            s["formation_mae_meV_per_metal_atom"] is None,
            s["formation_mae_meV_per_metal_atom"] or 0.0,
        ),
    )

    def cell(value) -> str:
        if value is None:
            return ""
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    with (directory / "table.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(ENGINE_COLUMNS)
        for s in ordered:
            writer.writerow([cell(s[c]) for c in ENGINE_COLUMNS])
    lines = [
        f"# Fast engines vs {reference_name}",
        "",
        "Same cells, each relaxed by its own engine; errors are engine - reference, "
        "formation energies per metal atom (vs the bcc metal and the pristine host "
        "of the same engine), gallery heights carbon plane to carbon plane.  "
        "sign_disagreements counts models whose E_f has the other sign.",
        "",
        "| " + " | ".join(ENGINE_COLUMNS) + " |",
        "|" + "---|" * len(ENGINE_COLUMNS),
    ]
    for s in ordered:
        lines.append("| " + " | ".join(cell(s[c]) for c in ENGINE_COLUMNS) + " |")
    lines += _per_model_lines(ordered)
    path = directory / "table.md"
    path.write_text("\n".join(lines) + "\n")
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(ordered) + 1.5))
    names = [s["engine"] for s in ordered]
    mae = [s["formation_mae_meV_per_metal_atom"] or 0.0 for s in ordered]
    ax.barh(names, mae, color="#2166ac")
    ax.invert_yaxis()
    ax.set_xlabel(f"mean |E_f - E_f({reference_name})| (meV per metal atom)")
    save_figure(
        fig,
        directory / "formation_mae.png",
        ["engine", "formation_mae_meV_per_metal_atom"],
        zip(names, mae, strict=True),
    )
    return path
