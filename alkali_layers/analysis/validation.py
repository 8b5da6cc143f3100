"""The validation report: bcc metals, graphite and stage-1 compounds, treatments side
by side with experiment and the published vdW-optPBE values (pure function of the
per-treatment results that :func:`alkali_layers.campaigns.kinds.validation.
treatment_results` reads from a campaign database)."""

from __future__ import annotations

from pathlib import Path

from ..elements import (
    ALKALI_METALS,
    GRAPHITE_A_EXP_A,
    GRAPHITE_BINDING_EXP_MEV,
    GRAPHITE_SPACING_EXP_A,
    METALS,
    PUBLISHED_FORMATION_EV,
)


def _cell(table: dict, name: str, key: str, fmt: str) -> str:
    """``fmt`` of ``table[name][key]``, or "-" where that treatment lacks it."""
    value = table.get(name, {}).get(key)
    return "-" if value is None else fmt.format(value)


def _with_std(values: dict, name: str) -> str:
    """``values[name + "_eV"]`` as "+0.123", with " +- 0.045" where the BEEF-vdW
    standard deviation ``values[name + "_std_eV"]`` is known; "-" where missing."""
    value, std = values.get(f"{name}_eV"), values.get(f"{name}_std_eV")
    if value is None:
        return "-"
    return f"{value:+.3f}" + ("" if std is None else f" +- {std:.3f}")


def _ordered(keys, order) -> list:
    """``keys`` in ``order``, unknown ones last (sorted)."""
    keys = set(keys)
    return [k for k in order if k in keys] + sorted(keys - set(order))


def write_validation_table(
    results: dict, path: Path, notes: list[str] | tuple = ()
) -> None:
    """Markdown tables: metals, graphite, compounds; treatments side by side.

    ``results`` maps treatment name -> its results (``settings``, ``protocol``,
    ``metals``, ``graphite_AB``, ``graphite_AA``, ``compounds``); a number a
    treatment lacks (not computed yet) is "-".  ``notes`` end the file.
    """
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
    metals = _ordered(
        (m for n in names for m in results[n].get("metals", {})), ALKALI_METALS
    )
    for metal in metals:
        row = [metal, f"{METALS[metal].bcc_a_A:.2f}"]
        row += [_cell(results[n]["metals"], metal, "a_A", "{:.3f}") for n in names]
        row += [f"{METALS[metal].cohesive_energy_exp_eV:.3f}"]
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
        + " | ".join(
            _cell(results[n], "graphite_AB", "spacing_A", "{:.3f}") for n in names
        )
        + " |",
        f"| interlayer binding (meV/atom) | {GRAPHITE_BINDING_EXP_MEV[0]:g}-"
        f"{GRAPHITE_BINDING_EXP_MEV[1]:g} | "
        + " | ".join(
            _cell(results[n], "graphite_AB", "binding_meV_per_atom", "{:.1f}")
            for n in names
        )
        + " |",
        "| AA interlayer distance (A) | - | "
        + " | ".join(
            _cell(results[n], "graphite_AA", "spacing_A", "{:.3f}") for n in names
        )
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
    compounds = _ordered(
        (f for n in names for f in results[n].get("compounds", {})),
        list(PUBLISHED_FORMATION_EV),
    )
    for formula in compounds:
        published = PUBLISHED_FORMATION_EV.get(formula)
        row = [formula, "-" if published is None else f"{published:+.3f}"]
        for n in names:
            compounds = results[n]["compounds"]
            row += [
                _with_std(compounds.get(formula, {}), "formation_vs_AB"),
                _with_std(compounds.get(formula, {}), "formation_vs_AA"),
                _cell(compounds, formula, "c_A", "{:.3f}"),
                _cell(compounds, formula, "a_A", "{:.3f}"),
            ]
        lines.append("| " + " | ".join(row) + " |")
    if any(
        k.endswith("_std_eV")
        for n in names
        for values in results[n].get("compounds", {}).values()
        for k in values
    ):
        lines += [
            "",
            "+- : standard deviation of E_f over the 2000-member BEEF-vdW ensemble "
            "(ase.dft.bee; Wellendorff et al., PRB 85, 235149 (2012)) at the "
            "relaxed geometries, from the treatment's error-bar campaign "
            "(layout validation_error_bars): the sensitivity to the "
            "exchange-correlation functional, not a statistical error.",
        ]
    if notes:
        lines += ["", *notes]
    path.write_text("\n".join(lines) + "\n")
