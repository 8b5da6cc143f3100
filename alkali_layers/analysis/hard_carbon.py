"""Hard-carbon analysis: voltage profiles of pore filling, slope/plateau, pore volume.

Pure functions of stored numbers; no calculators (docs/science.md, "Energies",
"Capacity" and "Hard-carbon experimental figures").

Voltage profile
    For a host with ``n`` metal atoms of total energy ``E(n)`` (eV), the grand
    potential relative to the empty host and bulk metal is
    ``g(n) = E(n) - E(0) - n * mu_M`` with ``mu_M`` the energy per atom of the relaxed
    bcc metal computed with the same engine.  The equilibrium profile follows the
    **lower convex hull** of ``g(n)``: between hull vertices ``n1 < n2`` the voltage is
    ``V = -[g(n2) - g(n1)] / (n2 - n1)`` (V vs M+/M, one electron per metal atom);
    configurations above the hull do not appear.  Capacities are gravimetric,
    ``Q = n F / (3.6 m)`` (mAh/g) through :mod:`alkali_layers.analysis.capacity`, on
    the **host basis** by default (``m`` = mass of the carbon and hydrogen of the
    model) or the total basis (metal included).  Steps at ``V <= cutoff_V`` (default
    0 V: metal plating) store nothing and are excluded from the capacity.

Slope and plateau
    Sloping capacity: steps above ``threshold_V`` (0.1 V); plateau capacity: steps
    with ``cutoff_V < V <= threshold_V`` (the experimental definition,
    docs/science.md, "Hard-carbon experimental figures": plateau below 0.1 V vs
    Na+/Na).  The plateau voltage is the capacity-weighted mean voltage of the
    plateau steps.

Pore volume
    ``V_p = 1 / rho_true - 1 / rho_skeleton`` (cm^3/g): the closed-pore volume per
    gram from the true (He pycnometry) density of the hard carbon and the density of
    its dense carbon skeleton (graphite 2.26 g/cm^3 by default).  Assumes that He
    does not enter closed pores and that the walls have the skeleton density.
    ``Q_plateau = V_p * f * rho_M * F / (3.6 M)``: every closed pore filled (fraction
    ``f``) with metal at bulk density.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from ..elements import check_metal, metal_data
from .capacity import BASES, FARADAY_C_MOL, capacity_mAh_g, composition_capacity_mAh_g

AVOGADRO_PER_MOL = 6.02214076e23
#: Density of graphite (g/cm^3), the default skeleton density
#: (docs/science.md, "Capacity").
GRAPHITE_DENSITY_G_CM3 = 2.26
#: Plateau threshold (V vs M+/M),
#: docs/science.md, "Hard-carbon experimental figures".
PLATEAU_THRESHOLD_V = 0.1

ASSUMPTIONS_PORE_VOLUME = (
    "closed-pore volume V_p = 1/rho_true - 1/rho_skeleton: He (true density) does "
    "not enter closed pores; pore walls have the skeleton density (graphite "
    "2.26 g/cm3 unless given)"
)
ASSUMPTIONS_PLATEAU = (
    "plateau capacity Q = V_p * fill_fraction * rho_M * F / (3.6 M): closed pores "
    "filled with metal at bulk density (rho_M from the element table's bcc "
    "lattice constant unless given), one electron per metal atom, per gram of carbon"
)


# --------------------------------------------------------------------------- hull
def lower_convex_hull(n: Sequence[float], g: Sequence[float]) -> list[int]:
    """Indices of the vertices of the lower convex hull of points ``(n, g)``.

    Points are sorted by ``n`` (for equal ``n`` the lowest ``g`` is kept); collinear
    interior points are dropped.  Returns indices into the input, ordered by ``n``.
    """
    n = np.asarray(n, dtype=float)
    g = np.asarray(g, dtype=float)
    if n.shape != g.shape or n.ndim != 1 or len(n) == 0:
        raise ValueError("n and g must be 1D sequences of the same, non-zero length")
    if not (np.all(np.isfinite(n)) and np.all(np.isfinite(g))):
        raise ValueError("n and g must be finite")
    order = np.lexsort((g, n))
    best: dict[float, int] = {}
    for i in order:
        best.setdefault(float(n[i]), int(i))
    idx = [best[k] for k in sorted(best)]
    hull: list[int] = []
    for i in idx:
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = (n[b] - n[a]) * (g[i] - g[a]) - (g[b] - g[a]) * (n[i] - n[a])
            if cross <= 1e-12:
                hull.pop()
            else:
                break
        hull.append(i)
    return hull


@dataclass
class VoltageStep:
    """One step of a voltage profile between hull vertices ``n1 -> n2``."""

    n1: float
    n2: float
    voltage_V: float
    capacity1_mAh_g: float
    capacity2_mAh_g: float


@dataclass
class VoltageProfile:
    """Voltage profile along the lower convex hull of ``g(n) = E(n) - E(0) - n mu``.

    Attributes
    ----------
    metal : str
    basis : str
        "host" (carbon + hydrogen mass) or "total" (metal included).
    n_metal, g_eV : list of float
        All input points (``g`` relative to the empty host and bulk metal).
    hull : list of int
        Indices of the hull vertices.
    steps : list of VoltageStep
        Successive hull steps (all of them, including those at or below 0 V).
    cutoff_V : float
        Steps at or below this voltage do not count as stored capacity.
    """

    metal: str
    basis: str
    n_metal: list[float]
    g_eV: list[float]
    hull: list[int]
    steps: list[VoltageStep] = field(default_factory=list)
    cutoff_V: float = 0.0

    def curve(self) -> tuple[list[float], list[float]]:
        """(capacity_mAh_g, voltage_V) points of the stepped profile for plotting."""
        q, v = [], []
        for s in self.steps:
            q += [s.capacity1_mAh_g, s.capacity2_mAh_g]
            v += [s.voltage_V, s.voltage_V]
        return q, v

    @property
    def capacity_mAh_g(self) -> float:
        """Total capacity down to ``cutoff_V`` (mAh/g)."""
        return sum(
            s.capacity2_mAh_g - s.capacity1_mAh_g
            for s in self.steps
            if s.voltage_V > self.cutoff_V
        )

    def to_dict(self) -> dict:
        return asdict(self)


def voltage_profile(
    n_metal: Sequence[float],
    energy_eV: Sequence[float],
    mu_metal_eV: float,
    metal: str,
    host_counts: Mapping[str, float],
    basis: str = "host",
    cutoff_V: float = 0.0,
) -> VoltageProfile:
    """Voltage profile (V vs M+/M) vs capacity along the lower convex hull.

    Parameters
    ----------
    n_metal : sequence of int
        Metal atoms of each configuration; must include 0 (the empty host).
    energy_eV : sequence of float
        Total energies ``E(n)`` (eV), same engine as ``mu_metal_eV``.
    mu_metal_eV : float
        Energy per atom of the relaxed bcc metal (eV).
    metal : str
        Li, Na, K, Rb or Cs.
    host_counts : mapping
        Atoms of each element of the host (e.g. ``{"C": 244, "H": 12}``).
    basis : {"host", "total"}
        Capacity per mass of host (default) or of host plus metal.
    cutoff_V : float
        Lower voltage cutoff of the stored capacity (default 0 V).

    Returns
    -------
    VoltageProfile
    """
    check_metal(metal)
    if basis not in BASES:
        raise ValueError(f"unknown basis {basis!r}; allowed: {', '.join(BASES)}")
    n = np.asarray(n_metal, dtype=float)
    e = np.asarray(energy_eV, dtype=float)
    if n.shape != e.shape or len(n) == 0:
        raise ValueError("n_metal and energy_eV must have the same non-zero length")
    if np.any(n < 0):
        raise ValueError("n_metal must be >= 0")
    zero = np.nonzero(n == 0)[0]
    if not len(zero):
        raise ValueError("the profile needs the empty host (n_metal = 0)")
    e0 = float(e[zero].min())
    g = e - e0 - n * float(mu_metal_eV)
    hull = lower_convex_hull(n, g)
    host = {k: v for k, v in host_counts.items() if k != metal}

    def q(count: float) -> float:
        return float(
            composition_capacity_mAh_g({**host, metal: float(count)}, metal, basis)
        )

    steps = []
    for a, b in zip(hull[:-1], hull[1:], strict=True):
        v = -(g[b] - g[a]) / (n[b] - n[a])
        steps.append(VoltageStep(float(n[a]), float(n[b]), float(v), q(n[a]), q(n[b])))
    return VoltageProfile(
        metal=metal,
        basis=basis,
        n_metal=n.tolist(),
        g_eV=g.tolist(),
        hull=[int(i) for i in hull],
        steps=steps,
        cutoff_V=float(cutoff_V),
    )


@dataclass
class SlopePlateau:
    """Capacity above and below the plateau threshold (mAh/g) and plateau voltage."""

    sloping_mAh_g: float
    plateau_mAh_g: float
    plateau_voltage_V: float | None
    threshold_V: float
    cutoff_V: float

    @property
    def total_mAh_g(self) -> float:
        return self.sloping_mAh_g + self.plateau_mAh_g


def split_slope_plateau(
    profile: VoltageProfile, threshold_V: float = PLATEAU_THRESHOLD_V
) -> SlopePlateau:
    """Sloping (> ``threshold_V``) and plateau (``cutoff < V <= threshold``) capacity.

    The plateau voltage is the capacity-weighted mean of the plateau steps (``None``
    when there is no plateau).
    """
    slope = plateau = weighted = 0.0
    for s in profile.steps:
        dq = s.capacity2_mAh_g - s.capacity1_mAh_g
        if s.voltage_V <= profile.cutoff_V:
            continue
        if s.voltage_V > threshold_V:
            slope += dq
        else:
            plateau += dq
            weighted += dq * s.voltage_V
    return SlopePlateau(
        sloping_mAh_g=slope,
        plateau_mAh_g=plateau,
        plateau_voltage_V=weighted / plateau if plateau > 0 else None,
        threshold_V=float(threshold_V),
        cutoff_V=profile.cutoff_V,
    )


def average_voltage_V(
    energy_filled_eV: float, energy_empty_eV: float, n_metal: int, mu_metal_eV: float
) -> float:
    """Average voltage of filling a host with ``n_metal`` atoms in one step (V).

    ``-[E(filled) - E(empty) - n mu] / n``; for a pore filled with metal this is the
    voltage of the pore-filling plateau in the pore-size scan.
    """
    if n_metal <= 0:
        raise ValueError(f"n_metal must be positive, got {n_metal!r}")
    return -(energy_filled_eV - energy_empty_eV - n_metal * mu_metal_eV) / n_metal


# --------------------------------------------------------------------------- volume
def metal_density_g_cm3(metal: str) -> float:
    """Bulk density (g/cm^3) of the bcc metal from the element table.

    ``M / (N_A V_atom)`` with the bcc lattice constant of ``ase.data`` (low
    temperature): Na 1.009 g/cm^3 (room-temperature experiment: 0.968).
    """
    data = metal_data(metal)
    return data.mass_g_mol / (AVOGADRO_PER_MOL * data.atomic_volume_A3 * 1e-24)


def metal_volumetric_capacity_mAh_cm3(
    metal: str, density_g_cm3: float | None = None
) -> float:
    """Charge of one cm^3 of bulk metal, mAh/cm^3 (``rho F / (3.6 M)``).

    Na at 0.968 g/cm^3 (room temperature): 1128 mAh/cm^3 (docs/science.md,
    "Capacity"); at the element table's density (1.009 g/cm^3): 1176 mAh/cm^3.
    """
    rho = metal_density_g_cm3(metal) if density_g_cm3 is None else density_g_cm3
    if not rho > 0:
        raise ValueError(f"density must be positive, got {density_g_cm3!r} g/cm3")
    return rho * capacity_mAh_g(1.0, metal_data(metal).mass_g_mol)


def closed_pore_volume_cm3_g(
    true_density_g_cm3: float, skeleton_density_g_cm3: float = GRAPHITE_DENSITY_G_CM3
) -> float:
    """Closed-pore volume per gram, ``1/rho_true - 1/rho_skeleton`` (cm^3/g).

    Assumptions: see :data:`ASSUMPTIONS_PORE_VOLUME`.  Worked example
    (docs/science.md, "Hard-carbon experimental figures": flash-heated hard
    carbon): true density 1.49 g/cm^3 gives 1/1.49 - 1/2.26 = 0.229 cm^3/g;
    2.13 g/cm^3 gives 0.027 cm^3/g.
    """
    for name, value in (
        ("true_density_g_cm3", true_density_g_cm3),
        ("skeleton_density_g_cm3", skeleton_density_g_cm3),
    ):
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    if true_density_g_cm3 > skeleton_density_g_cm3:
        raise ValueError(
            f"true density {true_density_g_cm3} g/cm3 exceeds the skeleton density "
            f"{skeleton_density_g_cm3} g/cm3: no closed pores possible"
        )
    return 1.0 / true_density_g_cm3 - 1.0 / skeleton_density_g_cm3


def plateau_capacity_from_pore_volume(
    pore_volume_cm3_g: float,
    metal: str = "Na",
    fill_fraction: float = 1.0,
    density_g_cm3: float | None = None,
) -> float:
    """Plateau capacity (mAh per g of carbon) from filling closed pores with metal.

    ``Q = V_p * fill_fraction * rho_M * F / (3.6 M)``; assumptions in
    :data:`ASSUMPTIONS_PLATEAU`.  Worked examples (docs/science.md,
    "Hard-carbon experimental figures"): the flash-heated carbon at 1.49 g/cm^3
    (V_p = 0.229 cm^3/g) with Na at 0.968 g/cm^3 gives 258 mAh/g (measured plateau
    255 mAh/g); the ultra-micropore carbon (0.365 cm^3/g) gives 412 mAh/g (measured
    total 346 mAh/g).
    """
    if not (math.isfinite(pore_volume_cm3_g) and pore_volume_cm3_g >= 0):
        raise ValueError(
            f"pore_volume_cm3_g must be >= 0, got {pore_volume_cm3_g!r} cm3/g"
        )
    if not 0 <= fill_fraction <= 1:
        raise ValueError(f"fill_fraction must be within [0, 1], got {fill_fraction!r}")
    return (
        pore_volume_cm3_g
        * fill_fraction
        * metal_volumetric_capacity_mAh_cm3(metal, density_g_cm3)
    )


# --------------------------------------------------------------------------- scan
@dataclass
class PoreScanRow:
    """One pore width of a pore-size scan."""

    metal: str
    width_nm: float
    layers_fit: int
    n_metal: int | None = None
    voltage_V: float | None = None
    capacity_host_mAh_g: float | None = None
    plateau: bool | None = None


def pore_size_scan(
    rows: Sequence[Mapping],
    threshold_V: float = PLATEAU_THRESHOLD_V,
) -> list[PoreScanRow]:
    """Plateau voltage and layers that fit vs pore width.

    Parameters
    ----------
    rows : sequence of mappings
        One per width with ``metal``, ``width_nm``, ``layers_fit`` and, where the
        filled pore was computed, ``energy_filled_eV``, ``energy_empty_eV``,
        ``n_metal``, ``mu_metal_eV`` and ``host_counts``.

    Returns
    -------
    list of PoreScanRow
        Sorted by metal and width; ``voltage_V`` is the average voltage of filling
        the pore completely (:func:`average_voltage_V`), ``plateau`` whether it lies
        in ``(0, threshold_V]``.
    """
    out = []
    for r in rows:
        row = PoreScanRow(str(r["metal"]), float(r["width_nm"]), int(r["layers_fit"]))
        if r.get("energy_filled_eV") is not None and r.get("n_metal"):
            row.n_metal = int(r["n_metal"])
            row.voltage_V = average_voltage_V(
                r["energy_filled_eV"],
                r["energy_empty_eV"],
                row.n_metal,
                r["mu_metal_eV"],
            )
            counts = {**dict(r["host_counts"]), row.metal: row.n_metal}
            row.capacity_host_mAh_g = composition_capacity_mAh_g(
                counts, row.metal, "host"
            )
            row.plateau = 0.0 < row.voltage_V <= threshold_V
        out.append(row)
    return sorted(out, key=lambda x: (x.metal, x.width_nm))


__all__ = [
    "ASSUMPTIONS_PLATEAU",
    "ASSUMPTIONS_PORE_VOLUME",
    "FARADAY_C_MOL",
    "PoreScanRow",
    "SlopePlateau",
    "VoltageProfile",
    "VoltageStep",
    "average_voltage_V",
    "closed_pore_volume_cm3_g",
    "lower_convex_hull",
    "metal_density_g_cm3",
    "metal_volumetric_capacity_mAh_cm3",
    "plateau_capacity_from_pore_volume",
    "pore_size_scan",
    "split_slope_plateau",
    "voltage_profile",
]
