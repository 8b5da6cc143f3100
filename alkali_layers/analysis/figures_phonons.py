"""Phonon figures from stored results: band structure + DOS, F_vib(T).

Drawn with matplotlib (Agg) from :class:`~alkali_layers.calculators.phonons.
PhononResult` data, so that a table rebuild needs only the database (phonopy's own
``plot_band_structure_and_dos`` needs the live ``Phonopy`` object with its force
constants).  Frequencies in THz (imaginary drawn negative), F_vib in eV per atom.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path) -> Path:
    """Write ``fig`` as the PNG ``path`` (its folder created), close it, return path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_bands_dos(result, title: str, path: Path) -> Path:
    """Band structure along the stored path and the total DOS, side by side."""
    fig, (ax, ax_dos) = plt.subplots(
        1, 2, figsize=(7, 4), sharey=True, gridspec_kw={"width_ratios": [3, 1]}
    )
    band = result.band
    offset, ticks, labels = 0.0, [0.0], []
    names = list(band["labels"])
    name_iter = iter(names)
    labels.append(next(name_iter, ""))
    for i, (d, f) in enumerate(
        zip(band["distances"], band["frequencies_THz"], strict=True)
    ):
        d = np.asarray(d)
        f = np.asarray(f)
        x = d - d[0] + offset
        ax.plot(x, f, color="tab:blue", lw=0.8)
        offset = x[-1]
        ticks.append(offset)
        end = next(name_iter, "")
        if not band["path_connections"][i]:
            start = next(name_iter, "")
            end = f"{end}|{start}" if start else end
        labels.append(end)
    ax.set_xticks(ticks[: len(labels)])
    ax.set_xticklabels(labels[: len(ticks)])
    for t in ticks:
        ax.axvline(t, color="0.8", lw=0.5)
    ax.axhline(0, color="k", lw=0.5)
    ax.axhline(-result.imaginary_tolerance_THz, color="tab:red", lw=0.5, ls=":")
    ax.set_xlim(0, offset)
    ax.set_ylabel("frequency (THz)")
    verdict = "stable" if result.dynamically_stable else "UNSTABLE"
    ax.set_title(f"{title}: {verdict}, lowest {result.lowest_frequency_THz:.2f} THz")
    ax_dos.plot(result.dos["dos_per_THz"], result.dos["frequency_THz"], color="k")
    ax_dos.set_xlabel("DOS (states/THz/cell)")
    return _save(fig, path)


def plot_free_energies(results: dict, n_atoms: dict, path: Path) -> Path:
    """F_vib(T) per atom (eV/atom) of every result, one line each."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, r in results.items():
        f = np.asarray(r.free_energy_eV) / n_atoms[label]
        ax.plot(r.temperatures_K, f, label=label, lw=1)
    ax.axvline(300, color="0.6", lw=0.5, ls="--")
    ax.set_xlabel("T (K)")
    ax.set_ylabel("F_vib (eV/atom, zero-point energy included)")
    ax.legend(fontsize=6, ncol=2)
    return _save(fig, path)


def plot_profiles_temperature(curves: dict, temperature_K: float, path: Path) -> Path:
    """Voltage vs capacity at 0 K (hull steps) and at ``temperature_K`` (lattice gas).

    ``curves``: label -> (profile_0K, (q, V)) as returned by
    :func:`alkali_layers.analysis.thermo.filling_profiles`.
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (label, (profile, (q, v))) in enumerate(curves.items()):
        color = f"C{i}"
        q0, v0 = profile.curve()
        ax.plot(q0, v0, color=color, lw=1, ls="--", label=f"{label} 0 K")
        ax.plot(q, v, color=color, lw=1.5, label=f"{label} {temperature_K:g} K")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel(f"capacity (mAh/g, {next(iter(curves.values()))[0].basis} basis)")
    ax.set_ylabel("V vs M+/M")
    ax.set_title("closed pore: hull steps as ideal lattice gases (no F_vib)")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_voltage_steps_temperature(rows: list[dict], temperature_K: float, path: Path):
    """Voltage steps vs metal atoms per carbon at 0 K and ``temperature_K``.

    ``rows``: :func:`alkali_layers.analysis.thermo.formation_rows_at_temperature`.
    Each (host, metal, stacking) series is a stepped curve, dashed at 0 K.
    """
    tag = f"{temperature_K:g}K"
    series: dict[tuple, list[dict]] = {}
    for r in rows:
        series.setdefault((r["host"], r["metal"], r["stacking"]), []).append(r)
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (key, members) in enumerate(sorted(series.items())):
        members = sorted(members, key=lambda r: r["x_metal_per_C"])
        color = f"C{i % 10}"
        for column, style, suffix in (
            ("voltage_step_V", "--", "0 K"),
            (f"voltage_step_V_{tag}", "-", f"{temperature_K:g} K"),
        ):
            xs, vs, x_prev = [], [], 0.0
            for r in members:
                if r.get(column) is None:
                    continue
                xs += [x_prev, r["x_metal_per_C"]]
                vs += [r[column], r[column]]
                x_prev = r["x_metal_per_C"]
            ax.plot(xs, vs, ls=style, color=color, label=f"{key[1]} {key[0]} {suffix}")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("metal atoms per carbon")
    ax.set_ylabel("voltage step (V vs M+/M)")
    ax.legend(fontsize=6, ncol=2)
    return _save(fig, path)


def plot_pore_profiles(curves: dict, temperature_K: float, path: Path) -> Path:
    """Voltage vs capacity of one pore filling under several treatments.

    ``curves``: legend label -> (q, V) lists (mAh/g, V vs M+/M), drawn in order
    (the first dashed: the 0 K hull).
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (label, (q, v)) in enumerate(curves.items()):
        ax.plot(
            q,
            v,
            color=f"C{i}",
            lw=1 if i == 0 else 1.5,
            ls="--" if i == 0 else "-",
            label=label,
        )
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("capacity (mAh/g of host)")
    ax.set_ylabel("V vs M+/M")
    ax.set_title(f"closed pore at 0 K and {temperature_K:g} K")
    ax.legend(fontsize=7)
    return _save(fig, path)
