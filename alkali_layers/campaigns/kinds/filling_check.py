"""A stored pore filling recomputed with the campaign's engine: layout "filling_check".

The check of the fast engine's pore-filling voltages against DFT as a campaign (it
replaces the hand-run GPAW spot checks of the hard-carbon study).  A spec lists

* ``bulk_metal`` models with the ``relax`` task: mu_M with the campaign's engine;
* ``filling_structure`` models (:func:`~alkali_layers.campaigns.kinds.phonons.
  filling_structure`) with the ``single_point`` task: the structures of one stored
  filling path (``runs/hard_carbon/results/<filling>.traj``), each at the geometry
  the filling's engine relaxed it to (``relax`` instead re-relaxes them).

The layout writes, per filling, the voltage of every step between consecutive
computed compositions and of the whole path in one step (0 -> n_max) with the
campaign's engine, next to the same steps from the filling's own energies (its JSON:
``steps[].energy_eV``, ``mu_metal_eV``), their difference, the BEEF-vdW standard
deviation where the engine computed ensembles (``[engine] error_bars``), and the
lower-convex-hull profile of both: ``table.md``/``table.csv`` and
``filling_check.png`` (+ ``.csv``).  Conventions: V vs M+/M per step,
:func:`~alkali_layers.analysis.hard_carbon.path_step_voltages`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...analysis.hard_carbon import path_step_voltages, voltage_profile
from ...analysis.heterostructure import beef_ensemble
from ...analysis.tables import write_csv, write_markdown
from ...engines.settings import energy_settings
from ..registry import register_layout
from .heterostructure import (
    metal_chemical_potential_ensembles,
    metal_chemical_potentials,
)

FILLING_CHECK_COLUMNS = (
    "filling",
    "metal",
    "step",
    "n1",
    "n2",
    "voltage_filling_V",
    "voltage_V",
    "voltage_std_V",
    "delta_V",
)


def _round(value, digits: int = 3):
    return None if value is None else round(float(value), digits)


def _fillings(rows) -> dict[str, dict]:
    """{filling: {"source": traj path, "points": {n_metal: (E, ensemble)}}}."""
    out: dict[str, dict] = {}
    for r in rows:
        if r.get("filling") is None or r.get("energy_eV") is None:
            continue
        entry = out.setdefault(r["filling"], {"points": {}})
        entry["source"] = str(r["source"]).split("#")[0]
        entry["points"][int(r["n_metal"])] = (float(r["energy_eV"]), beef_ensemble(r))
    return out


def filling_check_table(rows) -> tuple[list[dict], list[str]]:
    """Table rows (:data:`FILLING_CHECK_COLUMNS`) and notes from model rows.

    Steps join consecutive compositions computed by the campaign ("step"), and
    the whole path 0 -> n_max ("whole"); ``voltage_filling_V`` uses the filling's
    stored energies and mu_M at the same compositions, ``delta_V`` = campaign -
    filling.  A filling whose empty pore (n = 0) or metal reference is not
    finished yet is listed in the notes, not in the table.
    """
    mu_by_metal = metal_chemical_potentials(rows)
    mu_ensembles = metal_chemical_potential_ensembles(rows)
    table: list[dict] = []
    notes: list[str] = []
    for name, entry in sorted(_fillings(rows).items()):
        stored = json.loads(Path(entry["source"]).with_suffix(".json").read_text())
        metal = stored["metal"]
        points = entry["points"]
        if 0 not in points or metal not in mu_by_metal or len(points) < 2:
            missing = [] if 0 in points else ["the empty pore"]
            missing += [] if metal in mu_by_metal else [f"bcc {metal}"]
            missing += [] if len(points) >= 2 else ["a second composition"]
            notes.append(f"* {name}: waiting for {', '.join(missing)}")
            continue
        mu, mu_ensemble = mu_by_metal[metal], mu_ensembles.get(metal)
        ns = sorted(points)
        energies = [points[n][0] for n in ns]
        ensembles = [points[n][1] for n in ns]
        if any(e is None for e in ensembles) or mu_ensemble is None:
            ensembles, mu_ensemble = None, None
        filling_energy = {int(s["n_metal"]): s["energy_eV"] for s in stored["steps"]}
        unknown = [n for n in ns if n not in filling_energy]
        if unknown:
            raise ValueError(f"{name}: n_metal {unknown} are not steps of the filling")
        ref = [filling_energy[n] for n in ns]
        ref_mu = float(stored["mu_metal_eV"])
        whole = [0, ns[-1]]
        pairs = [
            (
                "step",
                path_step_voltages(ns, energies, mu, ensembles, mu_ensemble),
                path_step_voltages(ns, ref, ref_mu),
            ),
            (
                "whole",
                path_step_voltages(
                    whole,
                    [points[n][0] for n in whole],
                    mu,
                    None if ensembles is None else [points[n][1] for n in whole],
                    mu_ensemble,
                ),
                path_step_voltages(whole, [filling_energy[n] for n in whole], ref_mu),
            ),
        ]
        for kind, ours, theirs in pairs:
            for a, b in zip(ours, theirs, strict=True):
                table.append(
                    {
                        "filling": name,
                        "metal": metal,
                        "step": kind,
                        "n1": a["n1"],
                        "n2": a["n2"],
                        "voltage_filling_V": _round(b["voltage_V"]),
                        "voltage_V": _round(a["voltage_V"]),
                        "voltage_std_V": _round(a["voltage_std_V"]),
                        "delta_V": _round(a["voltage_V"] - b["voltage_V"]),
                    }
                )
        deltas = [r["delta_V"] for r in table if r["filling"] == name]
        deltas = deltas[: len(ns) - 1]  # the consecutive steps
        notes.append(
            f"* {name} ({stored.get('engine', 'filling engine')}, mu_{metal} "
            f"{ref_mu:.4f} eV/atom; this campaign: mu_{metal} {mu:.4f} eV/atom): "
            f"campaign - filling over {len(deltas)} steps: mean "
            f"{np.mean(deltas):+.3f} V, mean |dV| {np.mean(np.abs(deltas)):.3f} V."
        )
        host = stored["host_counts"]
        for label, e, m in (("filling", ref, ref_mu), ("campaign", energies, mu)):
            profile = voltage_profile(ns, e, m, metal, host)
            hull = ", ".join(
                f"{s.n1:g} -> {s.n2:g} at {s.voltage_V:+.3f} V" for s in profile.steps
            )
            notes.append(f"  * lower convex hull, {label}: {hull}")
    return table, notes


def write_filling_check(campaign) -> list[dict]:
    """table.md, table.csv and filling_check.png (+ .csv); returns the table rows."""
    rows, failed = campaign.model_rows()
    table, notes = filling_check_table(rows)
    root = Path(campaign.root)
    spec = campaign.spec
    write_csv(table, root / "table.csv", FILLING_CHECK_COLUMNS)
    head = [
        f"Engine of this campaign: {spec.engine.describe()}; voltage_filling_V: the "
        "filling's own energies and mu_M at the same compositions (its engine is "
        "named below).  V vs M+/M per step n1 -> n2: -[E(n2) - E(n1) - (n2 - n1) "
        "mu_M] / (n2 - n1); 'whole' is the path in one step, 0 -> n_max; delta_V = "
        "voltage_V - voltage_filling_V.",
    ]
    if any(r["voltage_std_V"] is not None for r in table):
        head.append(
            "voltage_std_V: standard deviation over the 2000-member BEEF-vdW ensemble "
            "(ase.dft.bee; Wellendorff et al., PRB 85, 235149 (2012)), every member "
            "through the same formula: the sensitivity to the exchange-correlation "
            "functional, not a statistical error."
        )
    if failed:
        notes += ["", "Failed models:", *[f"* {lab}: {why}" for lab, why in failed]]
    write_markdown(
        table,
        root / "table.md",
        spec.title or spec.name,
        [*head, "", *notes],
        FILLING_CHECK_COLUMNS,
    )
    if table:
        energy = energy_settings(spec.engine)
        _plot(table, root / "filling_check.png", energy.describe())
    return table


def _plot(table: list[dict], path: Path, engine: str) -> Path:
    """Step voltages vs metal atoms: the filling's and this campaign's (legend:
    ``engine``, wrapped; error bars where the engine gave ensembles), one panel per
    filling."""
    import textwrap

    from ...analysis.figures import plt, save_figure

    names = sorted({r["filling"] for r in table})
    fig, axes = plt.subplots(
        1, len(names), figsize=(5 * len(names), 3.6), squeeze=False
    )
    data = []
    for ax, name in zip(axes[0], names, strict=True):
        steps = [r for r in table if r["filling"] == name and r["step"] == "step"]
        for r in steps:
            mid = 0.5 * (r["n1"] + r["n2"])
            ax.plot([r["n1"], r["n2"]], [r["voltage_filling_V"]] * 2, color="C0")
            ax.plot([r["n1"], r["n2"]], [r["voltage_V"]] * 2, color="C3")
            if r["voltage_std_V"] is not None:
                ax.errorbar(mid, r["voltage_V"], yerr=r["voltage_std_V"], color="C3")
            data.append(
                (name, r["n1"], r["n2"], r["voltage_filling_V"], r["voltage_V"],
                 r["voltage_std_V"])
            )  # fmt: skip
        ax.plot([], [], color="C0", label="the filling's own engine")
        ax.plot([], [], color="C3", label=textwrap.fill(f"this campaign: {engine}", 45))
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_xlabel("metal atoms in the pore")
        ax.set_ylabel("step voltage (V vs M+/M)")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    return save_figure(
        fig,
        path,
        ("filling", "n1", "n2", "voltage_filling_V", "voltage_V", "voltage_std_V"),
        data,
    )


register_layout("filling_check", write_filling_check)
