"""Graphene/metal/MoS2 heterostructures: intercalation energy, 2H vs 1T', charge.

Conventions (docs/science.md, "Energies" and "Charge transfer"):

* **Concentration** ``x = n_metal / n_Mo`` (metal atoms per MoS2 formula unit).
* **Intercalation energy per metal atom** (eV)::

      E_int = [E(het + n M) - E(het) - n mu_M] / n

  ``E(het)`` the relaxed *empty* heterostructure of the same MoS2 phase and the
  same supercell, ``mu_M`` the energy per atom of the relaxed bcc metal.
  Negative = the metal prefers the gallery to bulk metal.
* **Phase preference** at one loading, per Mo (eV)::

      dE_2H-1T' = [E(2H + n M) - E(1T' + n M)] / n_Mo

  in one supercell (the builder gives 2H and 1T' of a metal and packing the same
  cell); positive = 1T' is lower.  The loading where it changes sign (linear
  interpolation between neighbouring x) is where 1T' wins.
* **Charge on MoS2** per Mo (e): electrons received by the MoS2 layer, ``-sum of
  the net (Bader) charges of Mo and S / n_Mo``, and per S plane (the plane facing
  the metal and the far one); :data:`~alkali_layers.elements.
  MOS2_1TPRIME_ELECTRONS_PER_MO` (0.46 e/Mo) is the 2H -> 1T' criterion of the
  published charge analysis.

Error bars: when the rows carry BEEF-vdW ensembles (GPAW campaigns with
``error_bars``: ``data["beef_ensemble_eV"]``, 2000 total energies), every member
goes through the same formula and ``intercalation_energy_std_eV`` /
``dE_2H_minus_1Tp_std_eV_per_Mo`` are the standard deviations of those ensembles
(the sensitivity to the exchange-correlation functional; docs/science/energies.md).

Pure functions of stored numbers (no engines): the layout "heterostructure" of
:mod:`alkali_layers.campaigns.kinds.heterostructure` calls them on database rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..elements import ALKALI_METALS, MOS2_1TPRIME_ELECTRONS_PER_MO
from .tables import with_error_columns

HETEROSTRUCTURE_COLUMNS = (
    "metal",
    "n_layers",
    "packing",
    "phase",
    "n_metal",
    "x_per_Mo",
    "n_atoms",
    "graphene_strain_pct",
    "mos2_strain_pct",
    "metal_strain_pct",
    "intercalation_energy_eV",
    "dE_2H_minus_1Tp_eV_per_Mo",
    "favours_1Tprime",
    "charge_per_Mo_e",
    "charge_per_S_upper_e",
    "charge_per_S_lower_e",
    "above_0_46_e",
    "converged",
)


def x_per_mo(n_metal: int, n_mo: int) -> float:
    """Metal atoms per Mo, ``n_metal / n_Mo``; ``ValueError`` without Mo."""
    if n_mo <= 0:
        raise ValueError(f"x per Mo needs at least one Mo atom, got n_Mo={n_mo}")
    if n_metal < 0:
        raise ValueError(f"n_metal must be >= 0, got {n_metal}")
    return n_metal / n_mo


def intercalation_energy_eV_per_metal(
    energy_eV: float, empty_energy_eV: float, n_metal: int, mu_metal_eV: float
) -> float:
    """``[E(het + n M) - E(het) - n mu_M] / n`` in eV per metal atom (n >= 1)."""
    if n_metal < 1:
        raise ValueError("the intercalation energy needs at least one metal atom")
    return (energy_eV - empty_energy_eV - n_metal * mu_metal_eV) / n_metal


def phase_energy_difference_eV_per_Mo(
    energy_2h_eV: float, energy_1tp_eV: float, n_mo: int
) -> float:
    """``[E(2H) - E(1T')] / n_Mo`` (eV per Mo; positive = 1T' lower)."""
    if n_mo <= 0:
        raise ValueError(f"n_Mo must be positive, got {n_mo}")
    return (energy_2h_eV - energy_1tp_eV) / n_mo


def crossover_x(xs: Sequence[float], d_e: Sequence[float]) -> float | None:
    """First loading where ``d_e`` (2H - 1T', per Mo) turns positive.

    Points are sorted by x; between the last negative and the first positive value
    the crossing is interpolated linearly.  Returns ``xs[0]`` when 1T' is already
    lower at the smallest x, None when it never is.
    """
    pairs = sorted(zip(xs, d_e, strict=True))
    for i, (x, d) in enumerate(pairs):
        if d > 0:
            if i == 0:
                return float(x)
            x0, d0 = pairs[i - 1]
            return float(x0 + (x - x0) * (0.0 - d0) / (d - d0))
    return None


def mos2_charges(atoms, net_charges_e) -> dict:
    """Electrons received by MoS2: per Mo, and per S plane (e per S).

    Parameters
    ----------
    atoms : ase.Atoms
        A heterostructure (MoS2 below the metal, graphene on top) or a MoS2 layer.
    net_charges_e : array
        Net charge of each atom (nuclear charge minus Bader population, e;
        positive = electrons given away).

    Returns
    -------
    dict
        ``electrons_per_Mo`` (-(sum over Mo and S) / n_Mo), ``per_Mo_e`` (mean net
        charge of Mo), ``per_S_upper_e`` and ``per_S_lower_e`` (mean net charge of
        the S plane above / below the Mo plane; "upper" faces the metal) and
        ``above_0_46_e`` (electrons_per_Mo >= 0.46).
    """
    q = np.asarray(net_charges_e, float)
    symbols = np.array(atoms.get_chemical_symbols())
    mo, s = symbols == "Mo", symbols == "S"
    if not mo.any():
        raise ValueError("no Mo atoms: not a MoS2 model")
    if len(q) != len(atoms):
        raise ValueError(f"{len(q)} charges for {len(atoms)} atoms")
    z_mo = atoms.positions[mo, 2].mean()
    upper = s & (atoms.positions[:, 2] > z_mo)
    lower = s & (atoms.positions[:, 2] < z_mo)
    electrons = float(-(q[mo].sum() + q[s].sum()) / mo.sum())
    return {
        "electrons_per_Mo": electrons,
        "per_Mo_e": float(q[mo].mean()),
        "per_S_upper_e": float(q[upper].mean()) if upper.any() else None,
        "per_S_lower_e": float(q[lower].mean()) if lower.any() else None,
        "above_0_46_e": electrons >= MOS2_1TPRIME_ELECTRONS_PER_MO,
    }


def beef_ensemble(row: dict) -> np.ndarray | None:
    """The BEEF-vdW ensemble of total energies (eV) stored with a row, or None."""
    ensemble = (row.get("data") or {}).get("beef_ensemble_eV")
    return None if ensemble is None else np.asarray(ensemble, float)


def _std(ensemble) -> float | None:
    return None if ensemble is None else round(float(np.std(ensemble)), 4)


def heterostructure_columns(table: Sequence[dict]) -> tuple[str, ...]:
    """:data:`HETEROSTRUCTURE_COLUMNS` with the error-bar columns that some row of
    ``table`` carries, each right after its value."""
    return with_error_columns(HETEROSTRUCTURE_COLUMNS, list(table))


def _cell_key(row: dict) -> tuple:
    """Identity of a heterostructure's cell that does not depend on its basis.

    Rows of one cell pair up (the empty reference, the other phase at the same
    loading): Mo and C per cell and graphene's principal strains (%, to 0.01),
    which fix the coincidence cell of graphene and MoS2 up to rotation.  Not the
    integer supercell matrices: another basis of the same cell (a row computed
    before the machine-independent keys of 2026-12-02 and re-keyed as equivalent)
    has other matrices, and the phases of one cell strain MoS2 differently.
    """
    strains = row.get("graphene_principal_strains_pct") or ()
    if isinstance(strains, str):
        strains = json.loads(strains)
    return (
        int(row.get("n_Mo", 0)),
        int(row.get("n_carbon", 0)),
        tuple(sorted(round(float(s), 2) for s in strains)),
    )


def _metal_of(row: dict) -> str:
    return row.get("metal") or row.get("cell_metal") or ""


def heterostructure_table(
    rows: Iterable[dict],
    mu_metal_eV: dict[str, float],
    mu_metal_ensemble_eV: dict[str, np.ndarray] | None = None,
) -> list[dict]:
    """Table rows of every loaded heterostructure with its energies.

    Parameters
    ----------
    rows : iterable of dict
        Database rows (key-value pairs plus ``energy_eV`` and ``n_atoms``) of
        ``graphene_mos2`` models; the empty ones (n_layers 0) are the references.
    mu_metal_eV : dict
        Energy per atom of the relaxed bcc metal, by symbol.
    mu_metal_ensemble_eV : dict, optional
        BEEF-vdW ensemble of the energy per atom of the bcc metal, by symbol; with
        the ensembles of the rows (``data["beef_ensemble_eV"]``) it gives the error
        bars ``intercalation_energy_std_eV`` and ``dE_2H_minus_1Tp_std_eV_per_Mo``
        (None where an ensemble is missing).

    Returns
    -------
    list of dict
        One row per loaded model (sorted by metal, packing, phase, x) with
        ``intercalation_energy_eV`` (None without its empty reference or mu_M),
        ``dE_2H_minus_1Tp_eV_per_Mo`` and ``favours_1Tprime`` where both phases
        of the same cell and loading exist (with the ensemble of that difference,
        ``dE_2H_minus_1Tp_members_eV_per_Mo``, an array or None: not a column), and
        the charge columns when the row holds ``charge_per_Mo_e``.
    """
    rows = [r for r in rows if r.get("host") == "graphene_mos2"]
    mu_ensembles = mu_metal_ensemble_eV or {}
    empty_rows = [
        r
        for r in rows
        if int(r.get("n_layers", 0)) == 0 and r.get("energy_eV") is not None
    ]
    empty = {(_cell_key(r), r["phase"]): r for r in empty_rows}
    loaded = [r for r in rows if int(r.get("n_layers", 0)) > 0]
    by_loading = {
        (_metal_of(r), _cell_key(r), int(r["n_metal"]), r.get("packing"), r["phase"]): r
        for r in loaded
    }
    table = []
    for r in loaded:
        metal = _metal_of(r)
        n_metal, n_mo = int(r["n_metal"]), int(r["n_Mo"])
        cell = _cell_key(r)
        ref = empty.get((cell, r["phase"]))
        e_int = e_int_ensemble = None
        if ref is not None and metal in mu_metal_eV and r.get("energy_eV"):
            e_int = intercalation_energy_eV_per_metal(
                float(r["energy_eV"]), ref["energy_eV"], n_metal, mu_metal_eV[metal]
            )
            members = (beef_ensemble(r), beef_ensemble(ref), mu_ensembles.get(metal))
            if all(m is not None for m in members):
                e_int_ensemble = intercalation_energy_eV_per_metal(
                    members[0], members[1], n_metal, members[2]
                )
        key = (metal, cell, n_metal, r.get("packing"))
        two_h, one_tp = by_loading.get((*key, "2H")), by_loading.get((*key, "1T'"))
        d_e = d_e_ensemble = None
        if two_h is not None and one_tp is not None:
            d_e = phase_energy_difference_eV_per_Mo(
                float(two_h["energy_eV"]), float(one_tp["energy_eV"]), n_mo
            )
            pair = (beef_ensemble(two_h), beef_ensemble(one_tp))
            if pair[0] is not None and pair[1] is not None:
                d_e_ensemble = phase_energy_difference_eV_per_Mo(*pair, n_mo)
        charge = r.get("charge_per_Mo_e")
        table.append(
            {
                "metal": metal,
                "n_layers": int(r["n_layers"]),
                "packing": r.get("packing", ""),
                "phase": r["phase"],
                "n_metal": n_metal,
                "x_per_Mo": round(x_per_mo(n_metal, n_mo), 4),
                "n_Mo": n_mo,
                "n_atoms": r.get("n_atoms"),
                "graphene_strain_pct": r.get("graphene_strain_pct"),
                "mos2_strain_pct": r.get("mos2_strain_pct"),
                "metal_strain_pct": r.get("metal_strain_pct"),
                "intercalation_energy_eV": None if e_int is None else round(e_int, 4),
                "intercalation_energy_std_eV": _std(e_int_ensemble),
                "dE_2H_minus_1Tp_eV_per_Mo": None if d_e is None else round(d_e, 4),
                "dE_2H_minus_1Tp_std_eV_per_Mo": _std(d_e_ensemble),
                "dE_2H_minus_1Tp_members_eV_per_Mo": d_e_ensemble,
                "favours_1Tprime": None if d_e is None else bool(d_e > 0),
                "charge_per_Mo_e": charge,
                "charge_per_S_upper_e": r.get("charge_per_S_upper_e"),
                "charge_per_S_lower_e": r.get("charge_per_S_lower_e"),
                "above_0_46_e": (
                    None
                    if charge is None
                    else bool(charge >= MOS2_1TPRIME_ELECTRONS_PER_MO)
                ),
                "converged": r.get("converged"),
                "label": r.get("label", ""),
            }
        )
    order = {m: i for i, m in enumerate(ALKALI_METALS)}
    table.sort(
        key=lambda t: (
            order.get(t["metal"], 99),
            t["packing"],
            t["phase"],
            t["x_per_Mo"],
        )
    )
    return table


def free_layer_phase_energies(
    rows: Iterable[dict], with_std: bool = False
) -> dict[str, float] | dict[str, tuple[float, float | None]]:
    """E(phase) - E(2H) in eV per Mo of free-standing MoS2 layers (``mos2`` rows).

    Rows of the ``mos2`` builder (host "mos2") give the energy per Mo of each phase;
    returns ``{phase: E/n_Mo - E_2H/n_Mo}`` for every phase present with 2H (the
    lowest of several rows of a phase is taken).  With ``with_std`` each value is
    ``(difference, std)``, ``std`` the standard deviation of the difference over
    the BEEF-vdW ensembles of the two rows (None without ensembles).
    """
    per_mo: dict[str, tuple[float, np.ndarray | None]] = {}
    for r in rows:
        if r.get("host") != "mos2" or r.get("energy_eV") is None:
            continue
        n_mo = int(r["n_Mo"])
        e = float(r["energy_eV"]) / n_mo
        if e < per_mo.get(r["phase"], (np.inf, None))[0]:
            ensemble = beef_ensemble(r)
            per_mo[r["phase"]] = (e, None if ensemble is None else ensemble / n_mo)
    if "2H" not in per_mo:
        return {}
    e_2h, ens_2h = per_mo["2H"]
    out: dict = {}
    for phase, (e, ens) in per_mo.items():
        if phase == "2H":
            continue
        std = None if ens is None or ens_2h is None else _std(ens - ens_2h)
        out[phase] = (e - e_2h, std) if with_std else e - e_2h
    return out


def crossovers(table: Sequence[dict]) -> list[dict]:
    """Per metal and packing: the loading x where 1T' becomes lower than 2H
    (:func:`crossover_x` through the 2H rows' ``dE_2H_minus_1Tp_eV_per_Mo``).

    Where every point carries the BEEF-vdW ensemble of its difference
    (``dE_2H_minus_1Tp_members_eV_per_Mo``), the crossing is found for each member
    too: ``x_1Tprime_wins_std`` is the standard deviation of the members' crossings
    and ``members_crossing_fraction`` the fraction of members that cross within
    the computed range at all (a member already positive at the smallest x counts
    as crossing there, as for the value itself).
    """
    out = []
    groups: dict[tuple, list] = {}
    for t in table:
        if t["phase"] == "2H" and t["dE_2H_minus_1Tp_eV_per_Mo"] is not None:
            groups.setdefault((t["metal"], t["packing"]), []).append(t)
    for (metal, packing), items in groups.items():
        xs = [t["x_per_Mo"] for t in items]
        d_e = [t["dE_2H_minus_1Tp_eV_per_Mo"] for t in items]
        entry = {
            "metal": metal,
            "packing": packing,
            "x_range": [min(xs), max(xs)],
            "x_1Tprime_wins": crossover_x(xs, d_e),
        }
        members = [t.get("dE_2H_minus_1Tp_members_eV_per_Mo") for t in items]
        if all(m is not None for m in members):
            per_member = np.asarray(members, float).T  # (n_members, n_points)
            crossings = [crossover_x(xs, list(m)) for m in per_member]
            found = [x for x in crossings if x is not None]
            entry["x_1Tprime_wins_std"] = (
                round(float(np.std(found)), 4) if found else None
            )
            entry["members_crossing_fraction"] = round(len(found) / len(crossings), 4)
        out.append(entry)
    return out


def write_heterostructure_figures(table: Sequence[dict], root: Path) -> list[Path]:
    """Intercalation energy vs x (one curve per metal, packing, phase), 2H - 1T'
    vs x, and charge per Mo vs x with the 0.46 e/Mo line when charges exist."""
    from .figures import plt, save_figure

    root = Path(root)
    paths = []
    fig, ax = plt.subplots(figsize=(6, 4))
    data = []
    curves: dict[tuple, list] = {}
    for t in table:
        if t["intercalation_energy_eV"] is not None:
            curves.setdefault((t["metal"], t["packing"], t["phase"]), []).append(t)
    for (metal, packing, phase), items in curves.items():
        items = sorted(items, key=lambda t: t["x_per_Mo"])
        xs = [t["x_per_Mo"] for t in items]
        ys = [t["intercalation_energy_eV"] for t in items]
        style = "-o" if phase == "2H" else "--s"
        ax.plot(xs, ys, style, label=f"{metal} {packing} {phase}")
        data += [
            (metal, packing, phase, t["n_layers"], x, y)
            for t, x, y in zip(items, xs, ys, strict=True)
        ]
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_xlabel("x (metal atoms per Mo)")
    ax.set_ylabel("intercalation energy (eV per metal atom)")
    ax.set_title("graphene/M/MoS2 vs bcc metal + empty heterostructure")
    if curves:
        ax.legend(fontsize=7)
    paths.append(
        save_figure(
            fig,
            root / "intercalation_energy.png",
            ("metal", "packing", "phase", "n_layers", "x_per_Mo", "E_int_eV"),
            data,
        )
    )

    fig, ax = plt.subplots(figsize=(6, 4))
    data = []
    curves = {}
    for t in table:
        if t["phase"] == "2H" and t["dE_2H_minus_1Tp_eV_per_Mo"] is not None:
            curves.setdefault((t["metal"], t["packing"]), []).append(t)
    for (metal, packing), items in curves.items():
        items = sorted(items, key=lambda t: t["x_per_Mo"])
        xs = [t["x_per_Mo"] for t in items]
        ys = [t["dE_2H_minus_1Tp_eV_per_Mo"] for t in items]
        ax.plot(xs, ys, "-o", label=f"{metal} {packing}")
        data += [(metal, packing, x, y) for x, y in zip(xs, ys, strict=True)]
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_xlabel("x (metal atoms per Mo)")
    ax.set_ylabel("E(2H) - E(1T') (eV per Mo); > 0: 1T' lower")
    if curves:
        ax.legend(fontsize=7)
    paths.append(
        save_figure(
            fig,
            root / "phase_difference.png",
            ("metal", "packing", "x_per_Mo", "dE_2H_minus_1Tp_eV_per_Mo"),
            data,
        )
    )

    charged = [t for t in table if t.get("charge_per_Mo_e") is not None]
    if charged:
        fig, ax = plt.subplots(figsize=(6, 4))
        groups: dict[tuple, list] = {}
        for t in charged:
            groups.setdefault((t["metal"], t["phase"]), []).append(t)
        for (metal, phase), items in sorted(groups.items()):
            items = sorted(items, key=lambda t: t["x_per_Mo"])
            ax.plot(
                [t["x_per_Mo"] for t in items],
                [t["charge_per_Mo_e"] for t in items],
                "o-" if phase == "2H" else "s--",
                label=f"{metal} {phase}",
            )
        ax.set_xlim(left=0.0)
        ax.set_ylim(bottom=0.0, top=max(0.6, *(t["charge_per_Mo_e"] for t in charged)))
        ax.axhline(MOS2_1TPRIME_ELECTRONS_PER_MO, color="red", ls="--", lw=1)
        ax.set_xlabel("x (metal atoms per Mo)")
        ax.set_ylabel("electrons received per Mo (Bader)")
        ax.legend(fontsize=7)
        paths.append(
            save_figure(
                fig,
                root / "charge_per_Mo.png",
                ("metal", "n_layers", "packing", "phase", "x_per_Mo", "charge_e"),
                [
                    (
                        t["metal"],
                        t["n_layers"],
                        t["packing"],
                        t["phase"],
                        t["x_per_Mo"],
                        t["charge_per_Mo_e"],
                    )
                    for t in charged
                ],
            )
        )
    return paths
