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


def path_step_voltages(
    n_metal: Sequence[int],
    energy_eV: Sequence[float],
    mu_metal_eV: float,
    ensembles_eV: Sequence[Sequence[float]] | None = None,
    mu_ensemble_eV: Sequence[float] | None = None,
) -> list[dict]:
    """Voltage of each step between consecutive compositions of a path (V vs M+/M).

    The compositions are taken in order of ``n_metal``; step ``n1 -> n2`` has
    ``V = -[E(n2) - E(n1) - (n2 - n1) mu_M] / (n2 - n1)`` (:func:`average_voltage_V`),
    whether or not it lies on the convex hull (the hull is
    :func:`voltage_profile`).  With BEEF-vdW ensembles of every energy
    (``ensembles_eV[i]`` the 2000 total energies of structure i, ``mu_ensemble_eV``
    those of the metal per atom) each member goes through the same formula and
    ``voltage_std_V`` is their standard deviation (docs/science/dft.md); None
    otherwise.

    Returns
    -------
    list of dict
        ``n1``, ``n2``, ``voltage_V``, ``voltage_std_V`` per step.
    """
    n = [int(x) for x in n_metal]
    if len(n) != len(energy_eV) or len(set(n)) != len(n):
        raise ValueError("one energy per composition, each n_metal once")
    order = sorted(range(len(n)), key=n.__getitem__)
    with_std = ensembles_eV is not None and mu_ensemble_eV is not None
    steps = []
    for a, b in zip(order[:-1], order[1:], strict=True):
        dn = n[b] - n[a]
        std = None
        if with_std:
            members = average_voltage_V(
                np.asarray(ensembles_eV[b], float),
                np.asarray(ensembles_eV[a], float),
                dn,
                np.asarray(mu_ensemble_eV, float),
            )
            std = float(np.std(members))
        steps.append(
            {
                "n1": n[a],
                "n2": n[b],
                "voltage_V": float(
                    average_voltage_V(energy_eV[b], energy_eV[a], dn, mu_metal_eV)
                ),
                "voltage_std_V": std,
            }
        )
    return steps


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


# ------------------------------------------------------------------ filling reports
#: Hosts of the hard-carbon study, in table order: title of ``voltage_<host>.png``
#: and heading of ``protocol_check.md`` (runs/hard_carbon/campaign.toml).
HOST_FIGURE_TITLES = {
    "wedge": "wedge pore (3.4 x 0.78 nm)",
    "closed": "1.0 nm closed pore (0.98 x 0.85 nm, 64 C)",
    "closed-wide": "1.0 nm closed pore (0.98 x 1.70 nm, 128 C)",
}
HOST_TITLES = {
    "closed": "the 1.0 nm closed pore (64 C)",
    "closed-wide": "the 1.0 nm closed pore, twice the area (128 C)",
    "wedge": "the wedge pore (C244H12)",
}
#: The protocol whose filling is the result where it has run (the others are drawn
#: dotted for comparison).
RESULT_PROTOCOL = "strict"
FILLING_TABLE_NOTE = (
    "Voltage profiles from sequential filling (7net-0 + D3(BJ)); voltages "
    "in V vs M+/M along the lower convex hull of E(n) - n mu_M (mu_M = relaxed "
    "bcc metal, same engine); capacities in mAh/g per gram of host (C + H) "
    "unless 'total'; plateau = steps in (0, 0.1] V, sloping > 0.1 V; capacity "
    "counted down to 0 V."
)


def filling_summary(
    n_metal: Sequence[float],
    energy_eV: Sequence[float],
    mu_metal_eV: float,
    metal: str,
    host_counts: Mapping[str, float],
) -> dict:
    """Scalar summary of a filling path E(n) (database columns, units in names).

    ``n_metal_max``; ``first_step_V``, the first hull step (V vs M+/M, None when
    the hull has no step); ``stored_capacity_host_mAh_g`` /
    ``stored_capacity_total_mAh_g``, the capacity above 0 V per gram of host (C + H)
    / of host + metal; ``sloping_mAh_g``, ``plateau_mAh_g`` and ``plateau_V``
    (:func:`split_slope_plateau`, host basis).
    """
    prof = voltage_profile(n_metal, energy_eV, mu_metal_eV, metal, host_counts)
    total = voltage_profile(
        n_metal, energy_eV, mu_metal_eV, metal, host_counts, "total"
    )
    split = split_slope_plateau(prof)
    return {
        "n_metal_max": int(max(n_metal)),
        "first_step_V": prof.steps[0].voltage_V if prof.steps else None,
        "stored_capacity_host_mAh_g": prof.capacity_mAh_g,
        "stored_capacity_total_mAh_g": total.capacity_mAh_g,
        "sloping_mAh_g": split.sloping_mAh_g,
        "plateau_mAh_g": split.plateau_mAh_g,
        "plateau_V": split.plateau_voltage_V,
    }


@dataclass
class FillingRecord:
    """One stored filling, as a report reads it.

    Attributes
    ----------
    host : str
        The host's name in the study ("wedge", "closed", "closed-wide").
    metal : str
    protocol : str
        Name of the filling protocol ("strict", "fine", "coarse").
    filling : dict
        :meth:`~alkali_layers.workflows.filling.FillingResult.to_dict` (steps with
        ``n_metal``, ``energy_eV``, ``label``, ``converged``, ``force_calls``,
        ``wall_s``; ``mu_metal_eV``, ``host_counts``, ``settings``, ``wall_s``).
    layers_fit : int, optional
    complete : bool
        False for a filling shown from its checkpoint.
    """

    host: str
    metal: str
    protocol: str
    filling: dict
    layers_fit: int | None = None
    complete: bool = True

    def profile(self, basis: str = "host") -> VoltageProfile:
        steps = self.filling["steps"]
        return voltage_profile(
            [s["n_metal"] for s in steps],
            [s["energy_eV"] for s in steps],
            self.filling["mu_metal_eV"],
            self.metal,
            self.filling["host_counts"],
            basis,
        )


def filling_table_row(record: FillingRecord) -> dict:
    """The ``table.md`` row of a filling (rounded for reading)."""
    d = record.filling
    prof = record.profile()
    total = record.profile("total")
    split = split_slope_plateau(prof)
    n = [s["n_metal"] for s in d["steps"]]
    return dict(
        host=f"{record.host} pore",
        metal=record.metal,
        protocol=record.protocol,
        n_host_atoms=sum(d["host_counts"].values()),
        n_metal_max=max(n),
        atoms_per_step=d["settings"]["atoms_per_step"],
        layers_fit=record.layers_fit,
        first_step_V=round(prof.steps[0].voltage_V, 3) if prof.steps else None,
        capacity_host_mAh_g=round(prof.capacity_mAh_g, 1),
        capacity_total_mAh_g=round(total.capacity_mAh_g, 1),
        sloping_mAh_g=round(split.sloping_mAh_g, 1),
        plateau_mAh_g=round(split.plateau_mAh_g, 1),
        plateau_V=None
        if split.plateau_voltage_V is None
        else round(split.plateau_voltage_V, 3),
        path=" > ".join(s["label"] for s in d["steps"][1:]),
        all_converged=all(s["converged"] for s in d["steps"]),
        complete=record.complete,
        wall_min=round(d["wall_s"] / 60, 1),
    )


def _by_host_metal(records: Sequence[FillingRecord]) -> dict:
    out: dict = {}
    for r in records:
        out.setdefault((r.host, r.metal), []).append(r)
    return out


def write_filling_figures(
    records: Sequence[FillingRecord], root, engine_text: str = "7net-0 + D3(BJ)"
) -> list[dict]:
    """``table.csv``/``table.md`` and ``voltage_<host>.png`` (+ ``.csv``) in
    ``root``; returns the table rows.

    Per host (in :data:`HOST_FIGURE_TITLES` order, then any other) and metal (Li to
    Cs): the :data:`RESULT_PROTOCOL` filling is the result (solid line) and the
    other protocols are drawn dotted; without a result-protocol filling, the other
    one is the result.
    """
    import csv
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..elements import ALKALI_METALS
    from .figures import save_figure

    root = Path(root)
    colors = dict(zip(ALKALI_METALS, plt.cm.tab10.colors, strict=False))
    grouped = _by_host_metal(records)
    hosts = list(HOST_FIGURE_TITLES) + sorted(
        {h for h, _ in grouped} - set(HOST_FIGURE_TITLES)
    )
    table = []
    for host in hosts:
        curves = []
        for metal in ALKALI_METALS:
            runs = grouped.get((host, metal), [])
            result = [r for r in runs if r.protocol == RESULT_PROTOCOL]
            others = [r for r in runs if r.protocol != RESULT_PROTOCOL]
            curves += [(r, True) for r in result]
            curves += [(r, not result) for r in others]
        if not curves:
            continue
        fig, ax = plt.subplots(figsize=(5.2, 3.8))
        curve_rows = []
        for record, solid in curves:
            row = filling_table_row(record)
            table.append(row)
            q, v = record.profile().curve()
            label = record.metal
            if not record.complete:
                label += f" (to n = {row['n_metal_max']}, unfinished)"
            if record.protocol != RESULT_PROTOCOL:
                label += f" ({record.protocol})"
            ax.plot(
                q,
                v,
                "-" if solid else ":",
                lw=1.6 if solid else 1.0,
                color=colors[record.metal],
                label=label if solid else None,
            )
            curve_rows += [
                (record.metal, record.protocol, qi, vi)
                for qi, vi in zip(q, v, strict=True)
            ]
        if not all(solid for _, solid in curves):
            ax.plot([], [], ":", color="0.3", lw=1.0, label="production protocol")
        ax.axhspan(
            0.0, PLATEAU_THRESHOLD_V, color="0.9", zorder=0, label="plateau (0-0.1 V)"
        )
        ax.axhline(0.0, color="0.4", lw=0.8)
        ax.set_xlabel("capacity (mAh/g, per gram of host C + H)")
        ax.set_ylabel("voltage (V vs M$^+$/M)")
        ax.set_title(f"{HOST_FIGURE_TITLES.get(host, host)}, {engine_text}", fontsize=9)
        ax.legend(frameon=False, fontsize=8)
        save_figure(
            fig,
            root / f"voltage_{host}.png",
            ["metal", "protocol", "capacity_host_mAh_g", "voltage_V"],
            curve_rows,
        )
    if table:
        cols = list(table[0])
        with (root / "table.csv").open("w", newline="") as fh:
            w = csv.DictWriter(fh, cols)
            w.writeheader()
            w.writerows(table)
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in table]
        (root / "table.md").write_text(
            FILLING_TABLE_NOTE + "\n\n" + "\n".join(lines) + "\n"
        )
    return table


def write_protocol_check(records: Sequence[FillingRecord], root) -> bool:
    """``protocol_check.md``: the production protocol ("cheap": any protocol but
    :data:`RESULT_PROTOCOL`) against the strict one, per host and metal, over the
    steps both have done; False (nothing written) when no pair exists."""
    from pathlib import Path

    from ..elements import ALKALI_METALS

    lines = [
        "# Filling protocol check, 7net-0 + D3(BJ)",
        "",
        "cheap = the production protocol (rank candidates by single points, relax the "
        "best 1-2, BFGS capped at 30 steps, fmax 0.1 eV/A); strict = rank by 5-step "
        "pre-relaxations, relax the best 3 to fmax 0.05 eV/A without a cap (7 "
        "candidates per step). Same step sizes, candidate generator and seed, same "
        "mu_M. Voltages in V vs M+/M along the lower hull; capacities per gram of "
        "host (C + H). A strict run still in progress is compared over the steps it "
        "has done (marked 'partial').",
    ]
    grouped = _by_host_metal(records)
    details = []
    for host in ("closed", "wedge"):
        rows = []
        for metal in ALKALI_METALS:
            runs = grouped.get((host, metal), [])
            cheap = [r for r in runs if r.protocol != RESULT_PROTOCOL and r.complete]
            strict = [r for r in runs if r.protocol == RESULT_PROTOCOL]
            if not cheap or not strict:
                continue
            pair = (cheap[0], strict[0])
            n_done = (
                None if pair[1].complete else pair[1].filling["steps"][-1]["n_metal"]
            )
            for name, rec in zip(("cheap", "strict"), pair, strict=True):
                d = rec.filling
                steps = [
                    st for st in d["steps"] if n_done is None or st["n_metal"] <= n_done
                ]
                wall_s = (
                    d["wall_s"] if n_done is None else sum(st["wall_s"] for st in steps)
                )
                prof = voltage_profile(
                    [st["n_metal"] for st in steps],
                    [st["energy_eV"] for st in steps],
                    d["mu_metal_eV"],
                    metal,
                    d["host_counts"],
                )
                split = split_slope_plateau(prof)
                volts = ", ".join(
                    f"{st.voltage_V:+.3f} ({st.n1:g}->{st.n2:g})" for st in prof.steps
                )
                rows.append(
                    f"| {metal} | {name}{'' if rec.complete else ' (partial)'} | "
                    f"{wall_s / 60:.1f} | "
                    f"{sum(st['force_calls'] for st in steps)} | {volts or '-'} | "
                    f"{split.plateau_mAh_g:.1f} | {split.sloping_mAh_g:.1f} |"
                )
            by_n = [{st["n_metal"]: st for st in r.filling["steps"]} for r in pair]
            details += [
                "",
                f"## {host} pore, {metal}: step by step",
                "",
                f"| n {metal} | cheap: configuration | strict: configuration | "
                "E strict - E cheap (eV) | cheap: force calls | strict: force calls |",
                "|---|---|---|---|---|---|",
            ]
            for n in sorted(set(by_n[0]) & set(by_n[1])):
                a, b = by_n[0][n], by_n[1][n]
                details.append(
                    f"| {n} | {a['label']} | {b['label']} | "
                    f"{b['energy_eV'] - a['energy_eV']:+.3f} | {a['force_calls']} | "
                    f"{b['force_calls']} |"
                )
        if rows:
            lines += [
                "",
                f"## {HOST_TITLES.get(host, host)}",
                "",
                "| metal | protocol | wall (min) | force calls "
                "| hull steps: V (n1->n2) | plateau (mAh/g) | sloping (mAh/g) |",
                "|---|---|---|---|---|---|---|",
                *rows,
            ]
    if not details:
        return False
    (Path(root) / "protocol_check.md").write_text("\n".join(lines + details) + "\n")
    return True


def write_pore_scan(rows: Sequence[Mapping], root) -> list[dict]:
    """``pore_scan.png`` (+ ``.csv``): the voltage of filling a closed pore
    completely vs its width, and the layers that fit (rows as
    :func:`pore_size_scan` takes them); returns the scan rows as dicts."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..elements import ALKALI_METALS
    from .figures import save_figure

    colors = dict(zip(ALKALI_METALS, plt.cm.tab10.colors, strict=False))
    scan = [asdict(r) for r in pore_size_scan(rows)]
    if not scan:
        return []
    metals = sorted({r["metal"] for r in scan})
    fig, ax1 = plt.subplots(figsize=(5.0, 3.6))
    ax2 = ax1.twinx()
    for metal in metals:
        mine = [r for r in scan if r["metal"] == metal]
        ws = [r["width_nm"] for r in mine]
        ax1.plot(
            ws,
            [
                r["voltage_V"] if r["voltage_V"] is not None else float("nan")
                for r in mine
            ],
            "o-",
            color=colors[metal],
            label=metal,
        )
        ax2.step(ws, [r["layers_fit"] for r in mine], where="mid", color="0.3", ls="--")
    ax1.axhspan(0.0, PLATEAU_THRESHOLD_V, color="0.9", zorder=0)
    ax1.axhline(0.0, color="0.4", lw=0.8)
    ax1.set_xlabel("pore width (nm, carbon plane to plane)")
    ref = "M" if len(metals) > 1 else metals[0]
    ax1.set_ylabel(f"pore-filling voltage (V vs {ref}$^+$/{ref})")
    ax2.set_ylabel(f"{', '.join(metals)} layers that fit (dashed)")
    ax1.set_title(
        f"{', '.join(metals)} in closed slit pores, 7net-0 + D3(BJ)", fontsize=9
    )
    cols = list(scan[0])
    save_figure(
        fig, Path(root) / "pore_scan.png", cols, ([r[c] for c in cols] for r in scan)
    )
    return scan


__all__ = [
    "ASSUMPTIONS_PLATEAU",
    "FillingRecord",
    "filling_summary",
    "filling_table_row",
    "write_filling_figures",
    "write_pore_scan",
    "write_protocol_check",
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
