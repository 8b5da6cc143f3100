"""Formation energies and voltage steps (docs/science/energies.md).

Formation energy per metal atom (eV)::

    E_f = [E(host + n M) - E(host) - n * mu_M] / n

with ``mu_M`` the energy per atom of the relaxed bcc metal and ``E(host)`` the relaxed
pristine host in the same supercell.  Negative = stable against bulk metal plus the
empty host.

Voltage between two compositions of one host (V vs M+/M)::

    V = -[E(n2) - E(n1) - (n2 - n1) * mu_M] / ((n2 - n1) e)

Compositions modelled in different supercells are compared per host atom: with
``x = n / N_C`` metal atoms per carbon, the formation energy per carbon is
``x * E_f`` and ``V(x1 -> x2) = -(x2 E_f2 - x1 E_f1) / (x2 - x1)``.  The pristine
host (x = 0) has zero formation energy, so the first step is ``V = -E_f``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def formation_energy_eV_per_metal_atom(
    energy_eV: float, n_metal: int, host_energy_eV: float, mu_metal_eV: float
) -> float:
    """``[E - E_host - n mu] / n`` (eV per metal atom); see the module docstring."""
    if n_metal <= 0:
        raise ValueError(f"n_metal must be positive, got {n_metal!r}")
    return (energy_eV - host_energy_eV - n_metal * mu_metal_eV) / n_metal


def voltage_step_V(x1: float, ef1_eV: float, x2: float, ef2_eV: float) -> float:
    """Average voltage (V) of the step from ``x1`` to ``x2`` metal atoms per host atom.

    Parameters
    ----------
    x1, x2 : float
        Metal atoms per host atom (per carbon), ``x1 < x2``; ``x1 = 0`` is the empty
        host (then ``ef1_eV`` is ignored).
    ef1_eV, ef2_eV : float
        Formation energies per metal atom at ``x1`` and ``x2``.
    """
    if not x2 > x1 >= 0:
        raise ValueError(f"need 0 <= x1 < x2, got x1={x1!r}, x2={x2!r}")
    g1 = 0.0 if x1 == 0 else x1 * ef1_eV
    return -(x2 * ef2_eV - g1) / (x2 - x1)


def successive_voltage_steps_V(
    x: Sequence[float], ef_eV: Sequence[float | None]
) -> list[float | None]:
    """Voltage of each step ``(previous composition -> this one)``.

    ``x`` must be increasing; the first step starts from the empty host.  A step
    whose end points are missing (``None`` or NaN formation energy) is ``None``.
    """
    out: list[float | None] = []
    prev_x, prev_ef = 0.0, 0.0
    for xi, ei in zip(x, ef_eV, strict=True):
        ok_prev = prev_ef is not None and not (
            isinstance(prev_ef, float) and math.isnan(prev_ef)
        )
        ok_this = ei is not None and not math.isnan(ei)
        out.append(
            voltage_step_V(prev_x, prev_ef, xi, ei) if ok_prev and ok_this else None
        )
        prev_x, prev_ef = xi, ei
    return out
