"""Tables and figures of diffusion coefficients, from stored rows (no engines).

Rows of the ``diffusion`` kind carry the harmonic-TST result in ``data["htst"]``
(:class:`~alkali_layers.calculators.diffusion.HTSTResult`: Vineyard prefactor in
THz, D(T) in cm^2/s on a temperature grid); rows of the ``md_diffusion`` kind the
MSD analyses in ``data["runs"]``
(:class:`~alkali_layers.calculators.diffusion.MSDResult`).  For vacancy pathways
D is the vacancy diffusivity (per vacancy), labelled in ``diffusing_species``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..elements import ALKALI_METALS  # noqa: E402
from .barriers import (  # noqa: E402
    PATHWAY_ORDER,
    pathway_order_key,
    pathway_panels,
)
from .figures import save_figure  # noqa: E402
from .tables import write_csv, write_markdown  # noqa: E402

#: harmonic TST is trusted only when the barrier is this many k_B T or more
MIN_EA_OVER_KT = 3.0
#: lower edge (cm^2/s) of the Arrhenius plots: slower is "does not move"
D_FLOOR_CM2_S = 1e-20
_STYLES = ("-", "--", ":", "-.")
DIFFUSION_COLUMNS: tuple[str, ...] = (
    "pathway",
    "metal",
    "spacing_A",
    "diffusing_species",
    "barrier_fwd_eV",
    "prefactor_THz",
    "D_300K_cm2_s",
    "Ea_over_kT_300K",
    "hop_length_A",
    "hop_multiplicity",
    "diffusion_dimension",
    "hessian_atoms",
    "saddle_imaginary_THz",
    "note",
)
MD_COLUMNS: tuple[str, ...] = (
    "pathway",
    "metal",
    "T_K",
    "T_mean_K",
    "duration_ps",
    "n_hops",
    "D_md_cm2_s",
    "D_md_err_cm2_s",
    "D_hops_cm2_s",
    "D_hops_err_cm2_s",
    "D_tracer_md_cm2_s",
    "D_htst_cm2_s",
    "ratio_md_htst",
    "D_htst_nn_cm2_s",
    "ratio_md_htst_nn",
)


def _sig(x, digits: int = 3):
    if x is None:
        return None
    x = float(x)
    if x == 0 or not math.isfinite(x):
        return x
    return float(f"{x:.{digits}g}")


def diffusion_table(rows: Sequence[dict]) -> list[dict]:
    """One row per ``diffusion`` task: barrier, prefactor, D(300 K), and a note
    saying why a D is missing or not to be trusted."""
    out = []
    for row in sorted(rows, key=pathway_order_key):
        entry = {c: row.get(c) for c in DIFFUSION_COLUMNS}
        htst = (row.get("data") or {}).get("htst") or {}
        note = ""
        if not row.get("band_converged", False):
            note = "band not converged"
        elif not htst:
            note = row.get("reason") or "no harmonic TST"
        elif htst.get("prefactor_THz") is None:
            note = htst.get("reason", "")
        elif (row.get("Ea_over_kT_300K") or 0) < MIN_EA_OVER_KT:
            note = f"E_a < {MIN_EA_OVER_KT:g} kT at 300 K: harmonic TST not valid"
        entry["note"] = note
        for c in ("barrier_fwd_eV",):
            if entry[c] is not None:
                entry[c] = round(float(entry[c]), 3)
        for c in ("prefactor_THz", "D_300K_cm2_s", "saddle_imaginary_THz"):
            entry[c] = _sig(entry[c])
        if entry["Ea_over_kT_300K"] is not None:
            entry["Ea_over_kT_300K"] = round(float(entry["Ea_over_kT_300K"]), 1)
        if entry.get("spacing_A") is not None:
            entry["spacing_A"] = round(float(entry["spacing_A"]), 3)
        if row.get("hop_length_A") is not None:
            entry["hop_length_A"] = round(float(row["hop_length_A"]), 3)
        out.append(entry)
    return out


HESSIAN_COLUMNS: tuple[str, ...] = (
    "pathway",
    "metal",
    "spacing_A",
    "hessian_atoms",
    "prefactor_THz",
    "prefactor_hop_only_THz",
    "ratio",
    "D_300K_cm2_s",
    "D_300K_hop_only_cm2_s",
    "note",
)


def hessian_convergence(rows: Sequence[dict]) -> list[dict]:
    """Rows with a Hessian larger than the hopping atom (``hessian_shell`` > 0):
    their prefactor against the hopping atom's own block (same band, same
    barrier), and D(300 K) from both."""
    from ..calculators.diffusion import (
        diffusion_coefficient_cm2_s,
        hop_rate_per_s,
    )

    out = []
    for row in sorted(rows, key=pathway_order_key):
        if not (row.get("hessian_shell") or 0) > 0:
            continue
        nu = row.get("prefactor_THz")
        nu1 = row.get("prefactor_hop_only_THz")
        d1 = None
        if nu1 is not None and row.get("barrier_fwd_eV") is not None:
            k = hop_rate_per_s(nu1, row["barrier_fwd_eV"], 300.0)
            d1 = float(
                diffusion_coefficient_cm2_s(
                    k,
                    row["hop_length_A"],
                    row["hop_multiplicity"],
                    row["diffusion_dimension"],
                )
            )
        htst = (row.get("data") or {}).get("htst") or {}
        out.append(
            {
                "pathway": row.get("pathway"),
                "metal": row.get("metal"),
                "spacing_A": row.get("spacing_A"),
                "hessian_atoms": row.get("hessian_atoms"),
                "prefactor_THz": _sig(nu),
                "prefactor_hop_only_THz": _sig(nu1),
                "ratio": _sig(nu / nu1, 2) if nu and nu1 else None,
                "D_300K_cm2_s": _sig(row.get("D_300K_cm2_s")),
                "D_300K_hop_only_cm2_s": _sig(d1),
                "note": "" if nu is not None else htst.get("reason", row.get("reason")),
            }
        )
    return out


def _label(row: dict) -> str:
    spacing = row.get("spacing_A")
    return f"{row['metal']} {spacing:g} A" if spacing else str(row["metal"])


def plot_arrhenius(rows: Sequence[dict], path, title: str = "") -> Path | None:
    """log10 D against 1000/T, one panel per pathway, one line per metal (and
    spacing); only rows with a prefactor and E_a >= MIN_EA_OVER_KT k_B T at 300 K.
    Vacancy pathways show the vacancy diffusivity."""
    usable = []
    for row in sorted(rows, key=pathway_order_key):
        htst = (row.get("data") or {}).get("htst") or {}
        if htst.get("prefactor_THz") is None:
            continue
        if (row.get("Ea_over_kT_300K") or 0) < MIN_EA_OVER_KT:
            continue
        usable.append((row, htst))
    pathways = [p for p in PATHWAY_ORDER if any(r["pathway"] == p for r, _ in usable)]
    if not pathways:
        return None
    fig, axes = pathway_panels(len(pathways), panel_height_in=3.4)
    csv_rows = []
    for ax, pathway in zip(axes, pathways, strict=False):
        species = "metal atom"
        spacings = sorted(
            {r.get("spacing_A") or 0.0 for r, _ in usable if r["pathway"] == pathway}
        )
        for row, htst in usable:
            if row["pathway"] != pathway:
                continue
            species = htst.get("diffusing_species", species)
            t = htst["temperatures_K"]
            d = htst["D_cm2_s"]
            metal = row.get("metal")
            color = f"C{ALKALI_METALS.index(metal)}" if metal in ALKALI_METALS else None
            spacing = row.get("spacing_A") or 0.0
            style = _STYLES[spacings.index(spacing) % len(_STYLES)]
            ax.semilogy(
                [1000.0 / x for x in t],
                d,
                style,
                color=color,
                label=_label(row),
                lw=1.2,
            )
            csv_rows += [
                (pathway, _label(row), x, y) for x, y in zip(t, d, strict=True)
            ]
        ax.set_title(f"{pathway.replace('_', ' ')} (D of the {species})", fontsize=8)
        ax.set_xlabel("1000 / T (1/K)")
        ax.set_ylabel("D (cm$^2$/s)")
        low, high = ax.get_ylim()
        if low < D_FLOOR_CM2_S < high:
            ax.set_ylim(bottom=D_FLOOR_CM2_S)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, ncol=2)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path, ("pathway", "model", "T_K", "D_cm2_s"), csv_rows)


def md_comparison(
    md_rows: Sequence[dict],
    htst_rows: Sequence[dict],
    shell_rows: Sequence[dict] = (),
) -> list[dict]:
    """MD diffusivities next to harmonic TST at the same temperature and pathway.

    ``D_md_cm2_s`` is the collective (vacancy) MSD diffusivity for vacancy paths and
    the tracer one otherwise; ``D_htst_cm2_s`` from the same pathway's ``diffusion``
    row (prefactor and barrier), None when it has no prefactor;
    ``D_htst_nn_cm2_s`` from a row of ``shell_rows`` (Hessian with neighbours).
    """
    from ..calculators.diffusion import HTSTResult

    def models(rows) -> dict:
        out = {}
        for r in rows:
            htst = (r.get("data") or {}).get("htst")
            key = (r.get("pathway"), r.get("metal"), r.get("spacing_A"))
            out[key] = HTSTResult.from_dict(htst) if htst else None
        return out

    main, nn = models(htst_rows), models(shell_rows)
    out = []
    for row in md_rows:
        key = (row.get("pathway"), row.get("metal"), row.get("spacing_A"))
        model, model_nn = main.get(key), nn.get(key)
        species = (model or model_nn).diffusing_species if (model or model_nn) else ""
        vacancy = species == "vacancy"
        for run in (row.get("data") or {}).get("runs", []):
            t = run["temperature_K"]
            d_md = run["D_collective_cm2_s"] if vacancy else run["D_tracer_cm2_s"]
            err = run["D_collective_err"] if vacancy else run["D_tracer_err"]
            d_htst = model.D_at(t) if model else None
            d_nn = model_nn.D_at(t) if model_nn else None
            out.append(
                {
                    "pathway": row.get("pathway"),
                    "metal": row.get("metal"),
                    "T_K": t,
                    "T_mean_K": round(run["mean_temperature_K"]),
                    "duration_ps": round(run["duration_ps"], 2),
                    "n_hops": run["n_hops"],
                    "D_md_cm2_s": _sig(d_md),
                    "D_md_err_cm2_s": _sig(err, 2),
                    "D_hops_cm2_s": _sig(run["D_hops_cm2_s"]),
                    "D_hops_err_cm2_s": _sig(run["D_hops_err"], 2),
                    "D_tracer_md_cm2_s": _sig(run["D_tracer_cm2_s"]),
                    "D_htst_cm2_s": _sig(d_htst),
                    "ratio_md_htst": _sig(d_md / d_htst, 2) if d_htst else None,
                    "D_htst_nn_cm2_s": _sig(d_nn),
                    "ratio_md_htst_nn": _sig(d_md / d_nn, 2) if d_nn else None,
                }
            )
    return out


def plot_msd(md_rows: Sequence[dict], path, title: str = "") -> Path | None:
    """MSD (A^2) against time lag: per-atom (tracer) and collective (vacancy)."""
    runs = [
        (row, run) for row in md_rows for run in (row.get("data") or {}).get("runs", [])
    ]
    if not runs:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.0, 3.5))
    csv_rows = []
    for row, run in runs:
        label = f"{row.get('metal')} {run['temperature_K']:g} K"
        t = run["msd_time_ps"]
        left.plot(t, run["msd_tracer_A2"], label=label)
        right.plot(t, run["msd_collective_A2"], label=label)
        csv_rows += [
            (row.get("pathway"), label, x, a, b)
            for x, a, b in zip(
                t, run["msd_tracer_A2"], run["msd_collective_A2"], strict=True
            )
        ]
    left.set_title("per-atom MSD of the mobile layer", fontsize=8)
    right.set_title("|sum of displacements|$^2$ (vacancy MSD)", fontsize=8)
    for ax in (left, right):
        ax.set_xlabel("time lag (ps)")
        ax.set_ylabel("MSD (A$^2$)")
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(
        fig,
        path,
        ("pathway", "run", "lag_ps", "msd_tracer_A2", "msd_collective_A2"),
        csv_rows,
    )


def write_diffusion_outputs(
    rows: Sequence[dict], md_rows: Sequence[dict], root, title: str
) -> list[dict]:
    """diffusion.md/.csv, arrhenius.png, md_vs_htst.md/.csv and msd.png."""
    root = Path(root)
    convergence = hessian_convergence(rows)
    shell_rows = [r for r in rows if (r.get("hessian_shell") or 0) > 0]
    rows = [r for r in rows if not (r.get("hessian_shell") or 0) > 0]
    table = diffusion_table(rows)
    notes = [
        "Harmonic transition-state theory: k = nu* exp(-E_a / k_B T) with the "
        "Vineyard prefactor nu* = prod nu_i(minimum) / prod nu_j(saddle, real "
        "modes) (G. H. Vineyard, J. Phys. Chem. Solids 3, 121 (1957)), Gamma-point "
        "Hessian of the NEB cell (central differences, 0.01 A) over the hopping "
        "atom and the free atoms within hessian_shell x d_nn of it (hessian_atoms; "
        "the others held in place at both states); E_a = barrier_fwd_eV. D = z a^2 "
        "k / (2 d) with z = hop_multiplicity, a = hop_length_A, d = "
        "diffusion_dimension, in cm^2/s. diffusing_species 'vacancy': D is the "
        "vacancy diffusivity (per vacancy); the metal's tracer D is f c_v D_v (c_v "
        "vacancy site fraction, f correlation factor), not given here. In-plane D "
        "for layers (only in-layer hops computed).",
        f"A D is not to be trusted where E_a < {MIN_EA_OVER_KT:g} k_B T (note); "
        "empty prefactor: the Hessian block has no single unstable mode at the "
        "saddle or a soft/imaginary mode at the minimum (reason in note).",
    ]
    write_markdown(
        table, root / "diffusion.md", f"{title}: diffusion", notes, DIFFUSION_COLUMNS
    )
    write_csv(table, root / "diffusion.csv", columns=DIFFUSION_COLUMNS)
    plot_arrhenius(rows, root / "arrhenius.png", title)
    if convergence:
        write_markdown(
            convergence,
            root / "hessian_convergence.md",
            f"{title}: prefactor vs Hessian size",
            [
                "prefactor_THz: Hessian over the hopping atom and the free atoms "
                "within hessian_shell x d_nn (hessian_atoms); prefactor_hop_only_THz: "
                "the hopping atom's own 3x3 block of the same Hessian (the main "
                "table's approximation); ratio = prefactor / hop-only prefactor. "
                "Same band and barrier for both.",
            ],
            HESSIAN_COLUMNS,
        )
        write_csv(convergence, root / "hessian_convergence.csv", HESSIAN_COLUMNS)
    if md_rows:
        comparison = md_comparison(md_rows, rows, shell_rows)
        md_notes = [
            "MD: Langevin dynamics (ase.md.Langevin, 2 fs; strong friction to "
            "equilibrate, then 0.002/fs) of the relaxed initial state with the "
            "path's fixed atoms held; D_md = slope of the MSD / (2 d), averaged over "
            "time origins, of the vacancy (|sum of the mobile atoms' displacements|"
            "^2) for vacancy paths; D_md_err from 3 blocks; D_hops = n_hops a^2 / "
            "(2 d t) with its Poisson error; D_tracer_md: per-atom MSD of the "
            "mobile atoms. D_htst: the same pathway's harmonic TST at T (the hopping "
            "atom's Hessian); D_htst_nn: with its neighbours in the Hessian "
            "(hessian_convergence.md).",
        ]
        write_markdown(
            comparison,
            root / "md_vs_htst.md",
            f"{title}: MD vs harmonic TST",
            md_notes,
            MD_COLUMNS,
        )
        write_csv(comparison, root / "md_vs_htst.csv", columns=MD_COLUMNS)
        plot_msd(md_rows, root / "msd.png", title)
    return table
