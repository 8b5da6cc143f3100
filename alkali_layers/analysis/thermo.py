"""Free energies at temperature: vibrational (harmonic) and configurational (ideal
lattice gas) corrections to formation energies and voltages
(docs/science/phonons.md).  Pure functions of stored numbers; no calculators.

Vibrational
    ``E_f(T) = E_f(0) + dF_vib(T) / n`` (eV per metal atom) with
    ``dF_vib = F_vib(host + n M) - n_C f_C(T) - n f_M(T)``: ``F_vib`` the harmonic
    vibrational free energy of the model cell (eV, zero-point energy included),
    ``f_C`` that of the pristine host per carbon (same stacking; a perfect host's
    F_vib is extensive like its energy) and ``f_M`` that of bcc metal per atom.
    "0 K" means the static energies (no zero-point energy), as in every other table
    of the project; the ``_300K`` columns include zero-point energy and thermal
    vibrations.  Voltage steps follow from ``E_f(T)`` exactly as at 0 K
    (:func:`alkali_layers.analysis.voltage.successive_voltage_steps_V`).

Configurational (ideal lattice gas)
    N equivalent, independent sites, n occupied, c = n/N:
    ``S = -k_B N [c ln c + (1 - c) ln(1 - c)]``; the metal's chemical potential in
    the host gains ``-T dS/dn = k_B T ln(c / (1 - c))``, so a hull step at ``V0``
    becomes ``V(c) = V0 - (k_B T / e) ln(c / (1 - c))`` (no interactions between the
    atoms of the step beyond those in ``V0``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from ase.formula import Formula
from ase.units import kB

from .voltage import successive_voltage_steps_V

#: Boltzmann constant (eV/K), ase.units.kB (CODATA).
KB_EV_K = float(kB)
CARBON_HOSTS = ("graphite", "bilayer_graphene")


def harmonic_free_energy_eV(
    frequencies_THz: Sequence[float], temperature_K: float, cutoff_THz: float = 0.1
) -> float:
    """``sum_nu [h nu / 2 + k_B T ln(1 - exp(-h nu / k_B T))]`` (eV) of a mode set.

    Modes below ``cutoff_THz`` (acoustic modes at Γ, imaginary modes, given as
    negative numbers) are left out, as phonopy does.  Used for the Γ-point-only
    F_vib of a large cell (its 3N Γ frequencies stand for the whole zone).
    h = ``ase.units._hplanck`` / ``ase.units._e`` (eV s), k_B = ``ase.units.kB``.
    """
    from ase.units import _e, _hplanck

    if temperature_K < 0:
        raise ValueError(f"temperature must be >= 0 K, got {temperature_K!r}")
    nu = np.asarray(frequencies_THz, dtype=float)
    e = (_hplanck / _e) * 1e12 * nu[nu >= cutoff_THz]  # h nu (eV)
    total = 0.5 * e.sum()
    if temperature_K > 0:
        total += (
            KB_EV_K
            * temperature_K
            * np.log1p(-np.exp(-e / (KB_EV_K * temperature_K))).sum()
        )
    return float(total)


def lattice_gas_mu_shift_eV(c: float | np.ndarray, temperature_K: float):
    """``k_B T ln(c / (1 - c))`` (eV per metal atom), 0 < c < 1."""
    c = np.asarray(c, dtype=float)
    if np.any((c <= 0) | (c >= 1)):
        raise ValueError("occupation c must lie strictly between 0 and 1")
    if temperature_K < 0:
        raise ValueError(f"temperature must be >= 0 K, got {temperature_K!r}")
    out = KB_EV_K * temperature_K * np.log(c / (1.0 - c))
    return float(out) if out.ndim == 0 else out


def lattice_gas_entropy_eV_K(n_sites: int, c: float) -> float:
    """``-k_B N [c ln c + (1 - c) ln(1 - c)]`` (eV/K) of N sites at occupation c."""
    if n_sites < 1:
        raise ValueError(f"n_sites must be >= 1, got {n_sites!r}")
    if not 0 <= c <= 1:
        raise ValueError(f"occupation must lie in [0, 1], got {c!r}")
    terms = [x * math.log(x) for x in (c, 1.0 - c) if x > 0]
    return -KB_EV_K * n_sites * sum(terms)


def lattice_gas_step_V(
    voltage_V: float, temperature_K: float, n_points: int = 41, c_min: float = 0.005
) -> tuple[np.ndarray, np.ndarray]:
    """(occupation c, voltage V) across one hull step at ``voltage_V`` and T.

    ``V(c) = V0 - (k_B T / e) ln(c / (1 - c))`` for ``c`` in ``[c_min, 1 - c_min]``.
    """
    c = np.linspace(c_min, 1.0 - c_min, n_points)
    return c, voltage_V - lattice_gas_mu_shift_eV(c, temperature_K)


def profile_at_temperature(
    steps: Sequence, temperature_K: float, n_points: int = 41
) -> tuple[list[float], list[float]]:
    """Voltage profile (capacity mAh/g, V) with every hull step an ideal lattice gas.

    ``steps``: objects with ``voltage_V``, ``capacity1_mAh_g``, ``capacity2_mAh_g``
    (:class:`alkali_layers.analysis.hard_carbon.VoltageStep`).  Within a step the
    capacity is linear in the occupation of the step's sites.
    """
    q_all: list[float] = []
    v_all: list[float] = []
    for s in steps:
        c, v = lattice_gas_step_V(s.voltage_V, temperature_K, n_points)
        q = s.capacity1_mAh_g + c * (s.capacity2_mAh_g - s.capacity1_mAh_g)
        q_all += q.tolist()
        v_all += v.tolist()
    return q_all, v_all


def filling_profiles(filling: dict, temperature_K: float, basis: str = "host"):
    """0 K hull profile of a stored pore filling and its ideal-lattice-gas version.

    ``filling``: the JSON of a finished filling (``metal``, ``mu_metal_eV``,
    ``host_counts``, ``steps`` with ``n_metal`` and ``energy_eV``; the files of
    ``runs/hard_carbon/results``).  Returns ``(profile_0K, (q, V) at T)``: the
    :class:`~alkali_layers.analysis.hard_carbon.VoltageProfile` and the curve of
    :func:`profile_at_temperature` over its steps above ``cutoff_V`` (0 V).
    Vibrational free energies are *not* included (no phonons of the pore models).
    """
    from .hard_carbon import voltage_profile

    steps = filling["steps"]
    profile = voltage_profile(
        [s["n_metal"] for s in steps],
        [s["energy_eV"] for s in steps],
        filling["mu_metal_eV"],
        filling["metal"],
        filling["host_counts"],
        basis=basis,
    )
    stored = [s for s in profile.steps if s.voltage_V > profile.cutoff_V]
    return profile, profile_at_temperature(stored, temperature_K)


def filling_profiles_vibrational(
    filling: dict,
    f_vib_eV: dict[int, float],
    f_metal_per_atom_eV: float,
    temperature_K: float,
    basis: str = "host",
    energies_eV: dict[int, float] | None = None,
    mu_metal_eV: float | None = None,
):
    """Hull profiles of a pore filling at 0 K and at T with harmonic F_vib.

    Only the steps whose ``n_metal`` has an F_vib enter (the 0 K hull structures,
    whose phonons were computed; the empty pore, n = 0, is required).  At T every
    energy becomes a free energy, ``E(n) -> E(n) + F_vib(n, T)`` (eV per pore cell,
    zero-point energy included), and the metal reference
    ``mu_M -> mu_M + f_M(T)`` (bcc metal, eV per atom), so a hull step n1 -> n2 is

        V(T) = -[F(n2) - F(n1) - (n2 - n1) (mu_M + f_M(T))] / [(n2 - n1) e].

    Its ideal-lattice-gas version (:func:`profile_at_temperature`) is centred on
    V(T): configurational entropy broadens a step, it does not move its midpoint.

    Parameters
    ----------
    filling : dict
        The JSON of a finished filling (see :func:`filling_profiles`).
    f_vib_eV : dict
        ``{n_metal: F_vib(T) of that structure (eV per cell)}``.
    f_metal_per_atom_eV : float
        F_vib(T) of the bcc metal per atom (eV), same engine.
    temperature_K : float
        T (K), > 0; only used for the lattice gas (F_vib is given at T already).
    energies_eV, mu_metal_eV : optional
        Static energies ``{n_metal: E}`` and the metal's energy per atom to use
        instead of the filling's (e.g. those of the structures re-relaxed before
        their phonons, so that E and F_vib belong to the same geometry).

    Returns
    -------
    (profile_0K, profile_T, (q, V) at T)
        ``profile_0K``: static energies of the same structures;
        ``profile_T``: F_vib included, steps at V(T);
        ``(q, V)``: ``profile_T``'s steps above its cutoff as ideal lattice gases.
    """
    from .hard_carbon import voltage_profile

    if 0 not in f_vib_eV:
        raise ValueError("F_vib of the empty pore (n_metal = 0) is required")
    steps = [s for s in filling["steps"] if int(s["n_metal"]) in f_vib_eV]
    missing = sorted(set(f_vib_eV) - {int(s["n_metal"]) for s in steps})
    if missing:
        raise ValueError(f"no filling step with n_metal = {missing}")
    n = [int(s["n_metal"]) for s in steps]
    energy = {int(s["n_metal"]): s["energy_eV"] for s in steps}
    if energies_eV is not None:
        if set(energies_eV) != set(n):
            raise ValueError(
                f"energies_eV for n_metal {sorted(energies_eV)}, F_vib for {sorted(n)}"
            )
        energy = {int(k): float(v) for k, v in energies_eV.items()}
    mu = filling["mu_metal_eV"] if mu_metal_eV is None else float(mu_metal_eV)
    e0 = [energy[k] for k in n]
    e_t = [energy[k] + f_vib_eV[k] for k in n]
    args = (filling["metal"], filling["host_counts"])
    static = voltage_profile(n, e0, mu, *args, basis=basis)
    hot = voltage_profile(n, e_t, mu + f_metal_per_atom_eV, *args, basis=basis)
    stored = [s for s in hot.steps if s.voltage_V > hot.cutoff_V]
    return static, hot, profile_at_temperature(stored, temperature_K)


def capacity_between_mAh_g(
    q: Sequence[float], v: Sequence[float], low_V: float = 0.0, high_V: float = np.inf
) -> float:
    """Capacity (mAh/g) of a sampled profile stored at ``low_V < V <= high_V``.

    ``q`` increasing within each step (steps may restart at a higher voltage);
    between two samples the voltage is taken linear in capacity.
    """
    q = np.asarray(q, dtype=float)
    v = np.asarray(v, dtype=float)
    total = 0.0
    for i in range(len(q) - 1):
        dq = q[i + 1] - q[i]
        if dq <= 0:
            continue
        lo, hi = sorted((v[i], v[i + 1]))
        if hi == lo:
            total += dq if low_V < lo <= high_V else 0.0
            continue
        inside = max(0.0, min(hi, high_V) - max(lo, low_V))
        total += dq * inside / (hi - lo)
    return float(total)


def vibrational_formation_shift_eV_per_metal_atom(
    f_model_eV: float,
    n_metal: int,
    n_carbon: int,
    f_host_per_carbon_eV: float,
    f_metal_per_atom_eV: float,
) -> float:
    """``dF_vib / n = [F(model) - n_C f_C - n f_M] / n`` (eV per metal atom)."""
    if n_metal <= 0:
        raise ValueError(f"n_metal must be positive, got {n_metal!r}")
    return (
        f_model_eV - n_carbon * f_host_per_carbon_eV - n_metal * f_metal_per_atom_eV
    ) / n_metal


def _counts(formula: str) -> dict[str, int]:
    return dict(Formula(formula).count())


def _free_energy(row: dict, temperature_K: float) -> float | None:
    data = (row.get("data") or {}).get("phonons")
    if not data:
        return None
    return float(
        np.interp(temperature_K, data["temperatures_K"], data["free_energy_eV"])
    )


def formation_rows_at_temperature(rows: list[dict], temperature_K: float) -> list[dict]:
    """Formation energies and voltage steps at 0 K and ``temperature_K``.

    ``rows``: campaign rows (``label``, ``formula``, ``energy_eV``, ``host``,
    ``metal``, ``stacking`` and ``data["phonons"]``) of models *and* their
    references in one campaign: bcc metals (``host = "bulk"``) and pristine hosts
    (``host`` graphite or bilayer_graphene without metal, same stacking).  Models
    whose references are missing are left out.

    Returns one dict per model: ``label, metal, host, stacking, n_metal, n_carbon,
    x_metal_per_C, formation_energy_eV_per_metal_atom``, the same ``_<T>K``,
    ``delta_<T>K_eV_per_metal_atom`` and the voltage steps of successive compositions of
    one (host, metal, stacking) series (``voltage_step_V``, ``voltage_step_V_<T>K``).
    """
    tag = f"{temperature_K:g}K"
    metals: dict[str, tuple[float, float]] = {}
    hosts: dict[tuple[str, str], tuple[float, float]] = {}
    models = []
    for row in rows:
        f = _free_energy(row, temperature_K)
        if f is None or row.get("energy_eV") is None:
            continue
        counts = _counts(row["formula"])
        metal = row.get("metal") or ""
        host = row.get("host", "")
        if host == "bulk" and metal and set(counts) == {metal}:
            n = counts[metal]
            metals[metal] = (row["energy_eV"] / n, f / n)
        elif host in CARBON_HOSTS and set(counts) == {"C"}:
            n = counts["C"]
            hosts[(host, row.get("stacking", ""))] = (row["energy_eV"] / n, f / n)
        elif host in CARBON_HOSTS and metal and counts.get(metal):
            models.append((row, counts, f))
    out = []
    for row, counts, f in models:
        metal = row["metal"]
        key = (row["host"], row.get("stacking", ""))
        if metal not in metals or key not in hosts:
            continue
        (mu, f_m), (e_c, f_c) = metals[metal], hosts[key]
        n, n_c = counts[metal], counts.get("C", 0)
        ef0 = (row["energy_eV"] - n_c * e_c - n * mu) / n
        shift = vibrational_formation_shift_eV_per_metal_atom(f, n, n_c, f_c, f_m)
        out.append(
            {
                "label": row["label"],
                "host": row["host"],
                "metal": metal,
                "stacking": key[1],
                "n_metal": n,
                "n_carbon": n_c,
                "x_metal_per_C": n / n_c,
                "formation_energy_eV_per_metal_atom": ef0,
                f"formation_energy_eV_per_metal_atom_{tag}": ef0 + shift,
                f"delta_{tag}_eV_per_metal_atom": shift,
            }
        )
    series: dict[tuple, list[dict]] = {}
    for r in out:
        series.setdefault((r["host"], r["metal"], r["stacking"]), []).append(r)
    for members in series.values():
        members.sort(key=lambda r: r["x_metal_per_C"])
        x = [r["x_metal_per_C"] for r in members]
        v0 = successive_voltage_steps_V(
            x, [r["formation_energy_eV_per_metal_atom"] for r in members]
        )
        vt = successive_voltage_steps_V(
            x, [r[f"formation_energy_eV_per_metal_atom_{tag}"] for r in members]
        )
        for r, a, b in zip(members, v0, vt, strict=True):
            r["voltage_step_V"] = a
            r[f"voltage_step_V_{tag}"] = b
    return out
