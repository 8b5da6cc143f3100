"""The validation report: bcc metals, graphite and stage-1 compounds, treatments side
by side with experiment and the published vdW-optPBE values (pure function of the
results of :func:`alkali_layers.workflows.validation.run_validation`)."""

from __future__ import annotations

from pathlib import Path

from ..elements import (
    GRAPHITE_A_EXP_A,
    GRAPHITE_BINDING_EXP_MEV,
    GRAPHITE_SPACING_EXP_A,
)


def _cell(table: dict, name: str, key: str, fmt: str) -> str:
    """``fmt`` of ``table[name][key]``, or "-" where that treatment lacks it."""
    value = table.get(name, {}).get(key)
    return "-" if value is None else fmt.format(value)


def write_validation_table(results: dict, path: Path) -> None:
    """Markdown tables: metals, graphite, compounds; treatments side by side."""
    names = list(results)
    lines = ["# Validation of the GPAW engine", ""]
    first = results[names[0]]
    s = first["settings"]
    protocol = first.get("protocol", {"layered_cell": "c", "li_semicore": False})
    cells = (
        "c and the in-plane lattice"
        if protocol["layered_cell"] == "ac"
        else "c only, in-plane a = 2.46 A"
    )
    lines += [
        f"GPAW PW {s['ecut_eV']:g} eV, k-point density {s['kpt_density']:g}, "
        f"Fermi-Dirac {s['smearing_eV']:g} eV; structures relaxed to 0.01 eV/A "
        f"(cells included; graphite and compounds: {cells}); Li 1s "
        + ("in the valence (li-sc setup)" if protocol["li_semicore"] else "frozen")
        + ". References: see alkali_layers/workflows/validation.py.",
        "",
    ]
    lines += [
        "## bcc metals",
        "",
        "| metal | a exp (A) | "
        + " | ".join(f"a {n} (A)" for n in names)
        + " | E_coh exp (eV) | "
        + " | ".join(f"E_coh {n} (eV)" for n in names)
        + " |",
        "|" + "---|" * (2 + 2 * len(names) + 0) + "---|",
    ]
    for metal in first["metals"]:
        row = [metal, f"{first['metals'][metal]['a_exp_A']:.2f}"]
        row += [_cell(results[n]["metals"], metal, "a_A", "{:.3f}") for n in names]
        row += [f"{first['metals'][metal]['cohesive_exp_eV']:.3f}"]
        row += [
            _cell(results[n]["metals"], metal, "cohesive_eV", "{:.3f}") for n in names
        ]
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "## Graphite",
        "",
        "| quantity | experiment | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
        f"| AB interlayer distance (A) | {GRAPHITE_SPACING_EXP_A} | "
        + " | ".join(f"{results[n]['graphite_AB']['spacing_A']:.3f}" for n in names)
        + " |",
        f"| interlayer binding (meV/atom) | {GRAPHITE_BINDING_EXP_MEV[0]:g}-"
        f"{GRAPHITE_BINDING_EXP_MEV[1]:g} | "
        + " | ".join(
            f"{results[n]['graphite_AB']['binding_meV_per_atom']:.1f}" for n in names
        )
        + " |",
        "| AA interlayer distance (A) | - | "
        + " | ".join(f"{results[n]['graphite_AA']['spacing_A']:.3f}" for n in names)
        + " |",
        f"| AB in-plane a (A) | {GRAPHITE_A_EXP_A} | "
        + " | ".join(_cell(results[n], "graphite_AB", "a_A", "{:.3f}") for n in names)
        + " |",
        "",
        "## Stage-1 compounds (eV per metal atom)",
        "",
        "| compound | published (vdW-optPBE) | "
        + " | ".join(
            f"{n} vs AB graphite | {n} vs AA graphite | {n} c (A) | {n} a (A)"
            for n in names
        )
        + " |",
        "|---|---|" + "---|---|---|---|" * len(names),
    ]
    for formula in first["compounds"]:
        row = [formula, f"{first['compounds'][formula]['published_eV']:+.3f}"]
        for n in names:
            compounds = results[n]["compounds"]
            row += [
                _cell(compounds, formula, "formation_vs_AB_eV", "{:+.3f}"),
                _cell(compounds, formula, "formation_vs_AA_eV", "{:+.3f}"),
                _cell(compounds, formula, "c_A", "{:.3f}"),
                _cell(compounds, formula, "a_A", "{:.3f}"),
            ]
        lines.append("| " + " | ".join(row) + " |")
    path.write_text("\n".join(lines) + "\n")
