"""Charge transfer: Bader charges and plane-averaged density differences (GPAW).

Two methods, as in the multilayer-alkali literature (docs/science/charges.md);
they differ instructively (Bader partitions space geometrically,
the density difference only counts charge that moved):

* **Bader** on the all-electron density (``get_all_electron_density``, grid
  refinement 2 by default).  Partitioning by ``pybader`` (a maintained, numba-compiled
  implementation of the Henkelman grid algorithm, driven here through its Python API
  on the GPAW density array).  Net charge of an atom = nuclear charge - Bader
  population (the all-electron density includes the core), so a positive number
  means electrons given away.  The populations must add up to the electron count
  within 0.01 e, or :class:`ChargeError` is raised.
* **Plane-averaged density difference** at frozen geometry:
  ``drho(z) = rho(host + M) - rho(host) - rho(M)``, each from its own SCF on the same
  grid, averaged over the xy plane and multiplied by the cell area (e/A along z).
  ``dq_z`` of a metal plane is the integral of ``drho`` over the contiguous region
  around it where ``drho < 0`` (electrons that left; reported as a positive number
  per metal atom of the plane).

Only a DFT engine has a density: asking the ML engine for charges is an error that
names the GPAW engine.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from ..engines import GPAWSettings
from ..engines.gpaw import gpaw_calculator, with_scf_retry
from ..geometry import TAG_BOTTOM_SHEET, TAG_TOP_SHEET, metal_mask
from .energetics import model_metal

#: Allowed deviation of the summed Bader populations from the electron count (e).
CHARGE_SUM_TOLERANCE_E = 0.01


class ChargeError(RuntimeError):
    """A charge analysis that must not be reported (e.g. charge not conserved)."""


@dataclass
class BaderResult:
    """Bader analysis of one structure.

    Attributes
    ----------
    populations_e : array
        Electrons in each atom's Bader volume (all-electron, core included).
    net_charges_e : array
        Nuclear charge minus population (e); positive = electrons given away.
    volumes_A3 : array
        Bader volume of each atom.
    total_electrons : float
        Electron count of the calculation.
    gridrefinement : int
    """

    atoms: Atoms
    populations_e: np.ndarray
    net_charges_e: np.ndarray
    volumes_A3: np.ndarray
    total_electrons: float
    gridrefinement: int


def _gpaw_part(calc_or_gpw):
    """The GPAW calculator inside ``calc_or_gpw`` (a path, GPAW, or GPAW + D3)."""
    if isinstance(calc_or_gpw, str | os.PathLike):
        from gpaw import GPAW

        return GPAW(str(calc_or_gpw), txt=None)
    if hasattr(calc_or_gpw, "get_all_electron_density"):
        return calc_or_gpw
    mixer = getattr(calc_or_gpw, "mixer", None)  # SumCalculator (GPAW + D3)
    for sub in (
        getattr(mixer, "calcs", None) or getattr(calc_or_gpw, "calcs", None) or []
    ):
        if hasattr(sub, "get_all_electron_density"):
            return sub
    raise TypeError(
        f"{type(calc_or_gpw).__name__} has no electron density: charges need the DFT "
        "engine, e.g. make_calculator('gpaw', 'final', atoms=atoms) or a .gpw file"
    )


def pybader_available() -> bool:
    try:
        _import_bader()
    except ImportError:
        return False
    return True


def _import_bader():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pybader.interface import Bader
    return Bader


def bader_charges(calc_or_gpw, gridrefinement: int = 2) -> BaderResult:
    """Bader charges of the all-electron density of a converged GPAW calculation.

    Parameters
    ----------
    calc_or_gpw : GPAW calculator (possibly inside a D3 SumCalculator) or .gpw path
        A calculation whose SCF has run (its atoms are the ones analysed).
    gridrefinement : int
        Refinement of the all-electron density grid (1, 2 or 4).

    Raises
    ------
    TypeError
        For an engine without an electron density (the ML engine).
    ChargeError
        If the populations do not add up to the electron count within 0.01 e.
    """
    calc = _gpaw_part(calc_or_gpw)
    atoms = calc.get_atoms()
    rho = calc.get_all_electron_density(gridrefinement=gridrefinement)
    return bader_from_density(atoms, rho, gridrefinement)


def bader_from_density(atoms: Atoms, rho: np.ndarray, gridrefinement: int = 0):
    """Bader analysis of an all-electron density ``rho`` (electrons/A^3) of ``atoms``.

    ``rho`` spans the unit cell on a regular grid (GPAW's layout: the point (0,0,0)
    at the cell origin).  Populations must add up to the electron count of
    ``atoms`` (nuclear charges minus initial charges) within 0.01 e, else
    :class:`ChargeError`.
    """
    import contextlib

    Bader = _import_bader()
    lattice = np.ascontiguousarray(atoms.cell.array, dtype=np.float64)
    positions = np.ascontiguousarray(atoms.get_scaled_positions() @ lattice)
    file_info = {
        "filename": "",
        "prefix": "",
        "file_type": "gpaw",
        "write_function": None,
        "voxel_offset": np.zeros(3),
        "elements": atoms.get_atomic_numbers(),
    }
    bader = Bader(
        {"charge": np.ascontiguousarray(rho, dtype=np.float64)},
        lattice,
        positions,
        file_info,
    )
    with open(os.devnull, "w") as devnull:  # pybader prints progress bars
        with contextlib.redirect_stdout(devnull):
            bader(threads=1, output="none")  # no bader.p pickle in the cwd
    populations = np.asarray(bader.atoms_charge, dtype=float)
    volumes = np.asarray(bader.atoms_volume, dtype=float)
    total = float(atoms.get_atomic_numbers().sum() - atoms.get_initial_charges().sum())
    if abs(populations.sum() - total) > CHARGE_SUM_TOLERANCE_E:
        raise ChargeError(
            f"Bader populations add up to {populations.sum():.4f} e, not {total:.4f} e "
            f"(tolerance {CHARGE_SUM_TOLERANCE_E} e): refine the grid "
            "(gridrefinement=4) or raise the cutoff"
        )
    return BaderResult(
        atoms.copy(),
        populations,
        atoms.get_atomic_numbers() - populations,
        volumes,
        total,
        gridrefinement,
    )


def compile_bader() -> float:
    """Run pybader once on a small synthetic density so numba compiles and caches it.

    The first Bader analysis in a fresh environment spends ~2 minutes compiling;
    ``scripts/install.sh`` calls this so tests and campaigns start warm.  Returns
    the summed population of the test density (2 electrons: one per Gaussian).
    """
    n = 24
    cell = np.diag([6.0, 6.0, 6.0])
    grid = np.indices((n, n, n)).reshape(3, -1).T / n @ cell
    rho = np.zeros(n**3)
    centres = np.array([[1.5, 3.0, 3.0], [4.5, 3.0, 3.0]])
    for c in centres:
        d = grid - c
        d -= np.round(d / 6.0) * 6.0
        rho += np.exp(-(d**2).sum(axis=1) / (2 * 0.4**2)) / (2 * np.pi * 0.4**2) ** 1.5
    atoms = Atoms("H2", positions=centres, cell=cell, pbc=True)
    result = bader_from_density(atoms, rho.reshape(n, n, n))
    return float(result.populations_e.sum())


def part_summary(atoms: Atoms, net_charges_e) -> dict:
    """Charges per metal layer and per host part (e).

    Returns a dict with, for each metal layer (tag 11 + k, bottom to top), the total
    and per-atom net charge and whether it faces carbon ("outer") or only metal
    ("inner"); and for each carbon sheet the net charge per C (negative = electrons
    received).  MoS2 parts (per Mo, per S, electrons per Mo) appear when present.
    """
    q = np.asarray(net_charges_e)
    tags = atoms.get_tags()
    symbols = np.array(atoms.get_chemical_symbols())
    out: dict = {"layers": [], "sheets": {}}
    metal_tags = sorted(set(tags[metal_mask(atoms)].tolist()))
    for i, t in enumerate(metal_tags):
        sel = tags == t
        outer = i in (0, len(metal_tags) - 1)
        out["layers"].append(
            {
                "layer": i + 1,
                "n_atoms": int(sel.sum()),
                "net_charge_e": float(q[sel].sum()),
                "per_atom_e": float(q[sel].mean()),
                "position": "outer" if outer else "inner",
            }
        )
    for name, tag in (("bottom", TAG_BOTTOM_SHEET), ("top", TAG_TOP_SHEET)):
        sel = (tags == tag) & (symbols == "C")
        if sel.any():
            out["sheets"][name] = {
                "n_carbon": int(sel.sum()),
                "per_C_e": float(q[sel].mean()),
                "total_e": float(q[sel].sum()),
            }
    for element in ("Mo", "S"):
        sel = symbols == element
        if sel.any():
            out[f"per_{element}_e"] = float(q[sel].mean())
    if (symbols == "Mo").any():
        # electrons received by MoS2 per Mo (the 2H -> 1T' driver, ~0.46 e/Mo)
        mos2 = (symbols == "Mo") | (symbols == "S")
        out["electrons_per_Mo"] = float(-q[mos2].sum() / (symbols == "Mo").sum())
    return out


@dataclass
class DensityDifference:
    """Plane-averaged density difference along z (see the module docstring)."""

    z_A: np.ndarray
    drho_e_per_A: np.ndarray
    metal_planes_z_A: list[float]
    carbon_planes_z_A: list[float]
    dq_z_e: list[float] = field(default_factory=list)  # electrons left, per plane
    dq_z_per_atom_e: list[float] = field(default_factory=list)
    integral_e: float = 0.0


def _density(atoms: Atoms, settings: GPAWSettings, gridrefinement: int, txt=None):
    work = atoms.copy()

    def attempt(s):
        calc, dft = gpaw_calculator(s, work, txt=txt)
        work.calc = calc
        work.get_potential_energy()
        return dft.get_all_electron_density(gridrefinement=gridrefinement)

    rho, _ = with_scf_retry(settings, attempt)
    return rho


def plane_average(rho: np.ndarray, cell) -> np.ndarray:
    """Average over the xy plane times the in-plane area: e per A along z."""
    area = np.linalg.norm(np.cross(cell[0], cell[1]))
    return rho.mean(axis=(0, 1)) * area


def depletion_around(z: np.ndarray, drho: np.ndarray, z0: float) -> float:
    """Electrons that left the region ``drho < 0`` containing ``z0`` (positive)."""
    dz = z[1] - z[0]
    i = int(np.argmin(np.abs(z - z0)))
    if drho[i] >= 0:
        return 0.0
    n = len(z)
    lo = i
    while drho[(lo - 1) % n] < 0 and (i - lo) < n:
        lo -= 1
    hi = i
    while drho[(hi + 1) % n] < 0 and (hi - i) < n:
        hi += 1
    idx = np.arange(lo, hi + 1) % n
    return float(-drho[idx].sum() * dz)


def density_difference(
    atoms: Atoms,
    metal: str,
    settings: GPAWSettings,
    gridrefinement: int = 2,
    log_dir: Path | None = None,
    cube_dir: Path | None = None,
    rho_full: np.ndarray | None = None,
) -> DensityDifference:
    """``drho(z) = rho(host + M) - rho(host) - rho(M)`` at the geometry of ``atoms``.

    Three SCF calculations on the same cell (hence the same grid): the full model,
    the host without the metal, the metal without the host.  Densities are
    all-electron (cores are identical in the sum and cancel).  With ``cube_dir``
    the three densities and the difference are written as cube files.
    ``rho_full``: the all-electron density of the full model at the same settings
    and grid refinement, when it is already known (saves one SCF).
    """
    symbols = np.array(atoms.get_chemical_symbols())
    is_metal = symbols == metal
    if not is_metal.any() or is_metal.all():
        raise ValueError(f"{metal} must be present together with a host")

    def txt(name):
        return str(Path(log_dir) / f"gpaw-{name}.txt") if log_dir else None

    rho_all = (
        rho_full
        if rho_full is not None
        else _density(atoms, settings, gridrefinement, txt("full"))
    )
    rho_host = _density(atoms[~is_metal], settings, gridrefinement, txt("host"))
    rho_metal = _density(atoms[is_metal], settings, gridrefinement, txt("metal"))
    drho3d = rho_all - rho_host - rho_metal
    cell = atoms.cell.array
    nz = drho3d.shape[2]
    z = np.arange(nz) * cell[2, 2] / nz
    drho = plane_average(drho3d, cell)
    tags = atoms.get_tags()
    zpos = atoms.positions[:, 2] % cell[2, 2]
    layer_tags = sorted(set(tags[metal_mask(atoms)].tolist()))
    metal_planes = [float(zpos[tags == t].mean()) for t in layer_tags]
    carbon_planes = [
        float(zpos[tags == t].mean())
        for t in (TAG_BOTTOM_SHEET, TAG_TOP_SHEET)
        if (tags == t).any()
    ]
    dq = [depletion_around(z, drho, z0) for z0 in metal_planes]
    counts = [int((tags == t).sum()) for t in layer_tags]
    if cube_dir is not None:
        from ase.io import write

        cube_dir = Path(cube_dir)
        cube_dir.mkdir(parents=True, exist_ok=True)
        for name, data in (
            ("rho_full", rho_all),
            ("rho_host", rho_host),
            ("rho_metal", rho_metal),
            ("drho", drho3d),
        ):
            write(cube_dir / f"{name}.cube", atoms, data=data)
    return DensityDifference(
        z_A=z,
        drho_e_per_A=drho,
        metal_planes_z_A=metal_planes,
        carbon_planes_z_A=carbon_planes,
        dq_z_e=dq,
        dq_z_per_atom_e=[q / n for q, n in zip(dq, counts, strict=True)],
        integral_e=float(drho.sum() * (z[1] - z[0])),
    )


def charge_analysis(
    atoms: Atoms,
    settings: GPAWSettings,
    gridrefinement: int = 2,
    folder: Path | None = None,
    cubes: bool = False,
    with_drho: bool = True,
) -> dict:
    """Bader charges and the plane-averaged density difference of one model.

    Three GPAW SCF calculations at the geometry of ``atoms`` (no relaxation): the
    model (whose all-electron density gives the Bader charges and rho(host + M)),
    the host alone and the metal alone.  Logs (``gpaw-full.txt`` ...) and, with
    ``cubes``, the densities and drho as cube files go to ``folder``.  With
    ``with_drho=False`` only the first (the Bader charges and the total
    energy; the drho entries are empty): a third of the cost, and the model need
    not hold a metal (an empty host gives its Bader baseline).

    Returns a JSON-serializable dict: per-atom net charges (e; positive = electrons
    given away), the per-layer / per-sheet summary of :func:`part_summary`,
    ``bader_sum_error_e`` (summed populations minus electron count), the profile
    ``z_A``/``drho_e_per_A`` (e per A along z, plane-integrated), metal and carbon
    plane heights, ``dq_z_e`` per metal plane and per atom of it, and
    ``drho_integral_e`` (0 up to grid error, checked by the tests).
    """
    from ase.parallel import world

    if not isinstance(settings, GPAWSettings):
        raise TypeError(
            f"charges need the DFT engine: pass GPAWSettings (engine 'gpaw'), got "
            f"{type(settings).__name__}; the ML engine has no electron density"
        )
    metal = model_metal(atoms) if with_drho else atoms.info.get("metal", "")
    folder = Path(folder) if folder is not None else None
    if folder is not None and world.rank == 0:
        folder.mkdir(parents=True, exist_ok=True)

    def txt(name):
        return str(folder / f"gpaw-{name}.txt") if folder is not None else None

    work = atoms.copy()

    def attempt(s):
        calc, dft = gpaw_calculator(s, work, txt=txt("full"))
        work.calc = calc
        energy = work.get_potential_energy()
        return energy, dft.get_all_electron_density(gridrefinement=gridrefinement)

    (energy, rho), used = with_scf_retry(settings, attempt)
    bader = bader_from_density(atoms, rho, gridrefinement)
    if with_drho:
        dd = density_difference(
            atoms,
            metal,
            used,
            gridrefinement,
            log_dir=folder,
            cube_dir=(folder / "cubes") if (cubes and folder is not None) else None,
            rho_full=rho,
        )
    else:
        dd = DensityDifference(np.zeros(0), np.zeros(0), [], [], integral_e=None)
    return {
        "metal": metal,
        "energy_eV": float(energy),
        "symbols": atoms.get_chemical_symbols(),
        "tags": atoms.get_tags().tolist(),
        "net_charges_e": bader.net_charges_e.tolist(),
        "bader_volumes_A3": bader.volumes_A3.tolist(),
        "bader_sum_error_e": float(bader.populations_e.sum() - bader.total_electrons),
        "summary": part_summary(atoms, bader.net_charges_e),
        "z_A": dd.z_A.tolist(),
        "drho_e_per_A": dd.drho_e_per_A.tolist(),
        "metal_planes_z_A": dd.metal_planes_z_A,
        "carbon_planes_z_A": dd.carbon_planes_z_A,
        "dq_z_e": dd.dq_z_e,
        "dq_z_per_atom_e": dd.dq_z_per_atom_e,
        "drho_integral_e": dd.integral_e,
        "gridrefinement": gridrefinement,
        "gpaw_settings_used": asdict(used),
    }
