"""Relaxation protocols: atoms, plus the gallery height or the cell where it matters.

Cell modes
----------
``"fixed"``
    Atomic positions only.  For bilayer slabs (vacuum along z) this already relaxes
    the gallery height, because the two sheets move freely along z.
``"c"``
    Atomic positions and the length of the c axis (``FrechetCellFilter`` with only the
    zz strain free): the gallery height of 3D-periodic graphite and stage-1 GIC cells.
    The in-plane cell stays at the graphene lattice.
``"ab"``
    Atomic positions and the in-plane cell (xx, yy, xy strains free) of a slab with
    vacuum along z: the in-plane lattice of bilayer and heterostructure models, which
    stretches when the carbon sheets take up the metal's electrons (as in LiC6,
    ``runs/validation/diagnosis.md``).
``"hydrostatic"``
    Atomic positions and an isotropic scaling of the cell (bulk bcc metals).

The default mode follows ``atoms.info["host"]``: "bulk" -> hydrostatic,
"graphite" -> ``RelaxSettings.layered_cell`` ("c" unless set), anything with vacuum
(bilayers, pores, heterostructures) -> ``RelaxSettings.slab_cell`` ("fixed" unless
set).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS, FIRE, LBFGS
from ase.optimize.fire2 import FIRE2
from ase.optimize.ode import ODE12r
from ase.optimize.precon import Exp, PreconLBFGS

from ..geometry import DEFAULT_MIN_RATIO, CollapseWatch, has_gallery
from ..settings import stable_hash
from .gallery import GalleryCoordinate, prescan_gallery
from .guards import (
    ModelFailure,
    check_energy,
    check_forces,
    check_geometry,
    energy_bounds,
    largest_force,
)

CELL_MODES = ("fixed", "c", "ac", "ab", "hydrostatic")
#: cell degrees of freedom of layered bulk hosts (graphite, stage-1 GICs)
LAYERED_CELL_MODES = ("c", "ac")
#: cell modes of slabs (``RelaxSettings.slab_cell``)
SLAB_CELL_MODES = ("fixed", "ab")
OPTIMIZERS = {
    "BFGS": BFGS,
    "LBFGS": LBFGS,
    "FIRE": FIRE,
    "PreconLBFGS": PreconLBFGS,
    "FIRE2": FIRE2,
    "ODE12r": ODE12r,
}
#: optimizers that take a preconditioner (``RelaxSettings.precon``)
PRECON_OPTIMIZERS = ("PreconLBFGS", "ODE12r")
#: preconditioners of ``ase.optimize.precon`` selectable by name
PRECONS = ("Exp",)
#: A DFT relaxation (``relax(..., stall=True)``) whose lowest energy has improved by
#: less than ``STALL_ENERGY_EV_PER_ATOM`` (eV per atom) over ``STALL_STEPS`` optimizer
#: steps has reached the noise floor of its SCF forces and ends there, at its
#: lowest-energy step, provided the median fmax of those steps met
#: ``STALL_FMAX_EV_A`` (eV/A; the customary model criterion: noise, not a slope).
#: Measured on the pristine AA bilayer with GPAW (vdW-optPBE, 400 eV, SCF to 2e-4
#: eV): for 44 BFGS steps after the energy had settled to 1e-5 eV and the gallery to
#: 0.001 A, fmax scattered between 0.004 and 0.07 eV/A (spikes to 1.4) and never
#: held below the references' 0.005 eV/A.
STALL_STEPS = 10
STALL_ENERGY_EV_PER_ATOM = 1e-5
STALL_FMAX_EV_A = 0.05


@dataclass(frozen=True)
class RelaxSettings:
    """Settings of a relaxation (part of a result's identity).

    Attributes
    ----------
    fmax_eV_A : float
        Convergence criterion on the largest atomic force, eV/A (with a cell filter
        also on the virial, stress x volume, in eV).  The default 0.02 is tighter than
        the customary 0.05 because the gallery height is a very soft coordinate: the
        van der Waals forces on a sheet 0.3 A from its optimum are below 0.05 eV/A, and
        measured here a Na 3-layer bilayer stopped at 0.05 eV/A 0.1 eV (11 meV/Na)
        above its 0.02 eV/A energy.
    max_steps : int
        Step cap; a relaxation that reaches it is stored with ``converged=False``.
    optimizer : str
        One of BFGS, LBFGS, FIRE, FIRE2, PreconLBFGS (with an Armijo line search),
        ODE12r (ASE optimizers; the last two take ``precon``).  BFGS stays the
        default: on the bilayer models with 7net-0 + D3(BJ) no other one reached
        its minima with fewer force calls (``benchmarks/README.md``,
        ``bench_optimizer.py``).
    precon : {None, "Exp"}
        Preconditioner of PreconLBFGS and ODE12r (``ase.optimize.precon.Exp``:
        an inverse-Hessian guess from the bond graph with its energy scale ``mu``
        fitted to the structure, Packwood et al., J. Chem. Phys. 144, 164109
        (2016)).  None keeps each optimizer's own default (PreconLBFGS: Exp from
        100 atoms up, none below; ODE12r: none).  Applied to position-only
        relaxations (cell mode ``"fixed"``); with a cell filter the optimizer runs
        with its default.  Enters the settings hash only when set.
    gallery_prescan : bool
        Before optimizing a bilayer model, scan the metal-carbon distance rigidly
        (:func:`prescan_gallery`) and start from the best one: a few single points
        that save tens of optimizer steps when the starting height is off.
    layered_cell : {"c", "ac"}
        Cell degrees of freedom of layered bulk cells (graphite, stage-1 GICs): the
        stacking axis only (``"c"``, the in-plane lattice stays at the builder's
        2.46 A) or the in-plane lattice too (``"ac"``).  Measured in
        runs/validation/diagnosis.md: with ``"c"`` LiC6 is held at the graphite
        lattice and comes out 67 meV/Li (PBE + D3(BJ)) to 126 meV/Li (vdW-optPBE) too
        high; the intercalated lattice is 1-2 % wider.
    slab_cell : {"fixed", "ab"}
        Cell degrees of freedom of cells with vacuum (bilayer graphene, pores,
        heterostructures): none (``"fixed"``: the builder's lattice, graphene at
        2.46 A) or the in-plane cell (``"ab"``), the slab counterpart of
        ``layered_cell = "ac"``.  Enters the settings hash only when ``"ab"``.
    gallery_coordinate : bool
        Relax the gallery height of bilayer models (sheet tags 1 and 2) as one more
        coordinate (:class:`~.gallery.GalleryCoordinate`), whose generalized force,
        the net force on the sheets, must also fall below ``fmax_eV_A``.  A per-atom
        criterion alone does not pin the gallery: measured with GPAW on Rb x 1 layer
        in AB bilayer graphene, every atom below 0.05 eV/A left the sheets pushed
        together by 0.19 eV/A in a gallery 1.6 A too wide, 131 meV/Rb above the
        minimum.  Models without a gallery (bulk metal, graphite, pores) relax as
        usual.  Not with PreconLBFGS or ODE12r.  Enters the settings hash only when
        True.
    """

    fmax_eV_A: float = 0.02
    max_steps: int = 500
    optimizer: str = "BFGS"
    gallery_prescan: bool = True
    layered_cell: str = "c"
    precon: str | None = None
    slab_cell: str = "fixed"
    gallery_coordinate: bool = False

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"unknown optimizer {self.optimizer!r}; "
                f"allowed: {', '.join(OPTIMIZERS)}"
            )
        if self.precon is not None:
            if self.precon not in PRECONS:
                raise ValueError(
                    f"unknown precon {self.precon!r}; allowed: None, "
                    f"{', '.join(PRECONS)}"
                )
            if self.optimizer not in PRECON_OPTIMIZERS:
                raise ValueError(
                    f"precon {self.precon!r} needs a preconditioned optimizer "
                    f"({', '.join(PRECON_OPTIMIZERS)}), not {self.optimizer!r}"
                )
        if self.gallery_coordinate and self.optimizer in PRECON_OPTIMIZERS:
            raise ValueError(
                f"gallery_coordinate needs an optimizer that moves generalized "
                f"coordinates (BFGS, LBFGS, FIRE, FIRE2), not {self.optimizer!r}"
            )
        if not self.fmax_eV_A > 0:
            raise ValueError(f"fmax_eV_A must be positive, got {self.fmax_eV_A!r}")
        if not (isinstance(self.max_steps, int) and self.max_steps >= 0):
            raise ValueError(
                f"max_steps must be an integer >= 0, got {self.max_steps!r}"
            )
        if self.layered_cell not in LAYERED_CELL_MODES:
            raise ValueError(
                f"layered_cell must be one of {', '.join(LAYERED_CELL_MODES)}, got "
                f"{self.layered_cell!r}"
            )
        if self.slab_cell not in SLAB_CELL_MODES:
            raise ValueError(
                f"slab_cell must be one of {', '.join(SLAB_CELL_MODES)}, got "
                f"{self.slab_cell!r}"
            )

    def key_dict(self) -> dict:
        """The fields as task keys that nest these settings store them
        (``dataclasses.asdict`` but ``precon`` only when set, ``slab_cell`` only
        when not "fixed" and ``gallery_coordinate`` only when True: results stored
        before they existed keep their identity)."""
        fields = asdict(self)
        if not fields["gallery_coordinate"]:
            fields.pop("gallery_coordinate")
        if fields["precon"] is None:
            fields.pop("precon")
        if fields["slab_cell"] == "fixed":
            fields.pop("slab_cell")
        return fields

    def describe(self) -> str:
        """One line for tables and logs, e.g. "BFGS, fmax 0.05 eV/A, at most 200
        steps, rigid gallery pre-scan, in-plane cell relaxed"."""
        parts = [
            f"{self.optimizer}"
            + (f" ({self.precon} preconditioner)" if self.precon else ""),
            f"fmax {self.fmax_eV_A} eV/A",
            f"at most {self.max_steps} steps",
        ]
        if self.gallery_prescan:
            parts.append("rigid gallery pre-scan")
        if self.slab_cell == "ab":
            parts.append("in-plane cell relaxed")
        if self.gallery_coordinate:
            parts.append("gallery height relaxed as a coordinate")
        if self.layered_cell == "ac":
            parts.append("in-plane lattice of layered cells relaxed")
        return ", ".join(parts)

    def settings_hash(self) -> str:
        """Stable hash of :meth:`key_dict`, ``layered_cell`` only when it is not the
        original ``"c"`` (stored results keep their identity)."""
        fields = self.key_dict()
        if fields["layered_cell"] == "c":
            fields.pop("layered_cell")
        return stable_hash(fields)


@dataclass
class RelaxResult:
    """Outcome of :func:`relax`.

    ``atoms`` is a relaxed copy carrying a single-point calculator with the final
    energy (eV) and forces (eV/A); the input atoms are not modified.  ``stalled``:
    converged at the engine's force noise floor (see :data:`STALL_STEPS`), not by
    the force criterion; ``atoms`` is then the lowest-energy step.
    """

    atoms: Atoms
    energy_eV: float
    fmax_eV_A: float
    n_steps: int
    converged: bool
    wall_s: float
    cell_mode: str
    prescan_delta_A: float = 0.0
    prescan_evaluations: int = 0
    stalled: bool = False


def default_cell_mode(
    atoms: Atoms, layered_cell: str = "c", slab_cell: str = "fixed"
) -> str:
    """The cell mode that relaxes the gallery height of this kind of model:
    ``hydrostatic`` for bulk metals, ``layered_cell`` (see :class:`RelaxSettings`)
    for graphite and stage-1 GICs, ``slab_cell`` for cells with vacuum."""
    host = atoms.info.get("host", "")
    if host == "bulk":
        return "hydrostatic"
    if host == "graphite":
        return layered_cell
    return slab_cell


def _target(atoms: Atoms, cell_mode: str):
    if cell_mode == "fixed":
        return atoms
    # exp_cell_factor=1: the generalized force on the cell is the full virial
    # (stress x volume, eV), not the virial per atom, so a small cell is not declared
    # converged under a residual stress of tenths of a GPa.
    if cell_mode == "c":
        return FrechetCellFilter(
            atoms, mask=[False, False, True, False, False, False], exp_cell_factor=1.0
        )
    if cell_mode == "ac":
        return FrechetCellFilter(
            atoms, mask=[True, True, True, False, False, False], exp_cell_factor=1.0
        )
    if cell_mode == "ab":
        return FrechetCellFilter(
            atoms, mask=[True, True, False, False, False, True], exp_cell_factor=1.0
        )
    if cell_mode == "hydrostatic":
        return FrechetCellFilter(atoms, hydrostatic_strain=True, exp_cell_factor=1.0)
    raise ValueError(
        f"unknown cell_mode {cell_mode!r}; allowed: {', '.join(CELL_MODES)}"
    )


def relax(
    atoms: Atoms,
    calc,
    settings: RelaxSettings | None = None,
    cell_mode: str | None = None,
    logfile: str | None = None,
    trajectory: str | None = None,
    stall: bool = False,
) -> RelaxResult:
    """Relax a copy of ``atoms`` with ``calc``, checking every step for nonsense.

    Parameters
    ----------
    atoms : ase.Atoms
        Starting structure (not modified).
    calc : ase Calculator
        Energy engine, e.g. ``make_calculator("mlip")``.
    settings : RelaxSettings, optional
        fmax (eV/A), step cap and optimizer.
    cell_mode : {"fixed", "c", "ac", "ab", "hydrostatic"}, optional
        Default from :func:`default_cell_mode` (``settings.layered_cell`` for
        layered bulk cells, ``settings.slab_cell`` for cells with vacuum).
    logfile : str, optional
        Optimizer log file (default: none).
    trajectory : str, optional
        ASE trajectory that every optimizer step is appended to (the restart point
        of an interrupted DFT relaxation, see :func:`~.staged.staged_relax`).
    stall : bool
        End at the lowest-energy step when the energy has stopped improving at a
        force criterion below the engine's noise (:data:`STALL_STEPS`); for DFT,
        whose forces carry the SCF tolerance's noise.  The result says
        ``stalled=True`` and counts as converged.  Not with ODE12r, which runs
        as a whole (no steps to watch).

    Returns
    -------
    RelaxResult
        ``converged`` is False when the step cap was reached; the energy is then the
        last one and the result must be labelled as unconverged.

    Raises
    ------
    ModelFailure
        Overlapping atoms before or after, metal leaving the gallery, a non-finite or
        implausible energy, NaN or exploding forces at any step.
    """
    settings = settings or RelaxSettings()
    cell_mode = cell_mode or default_cell_mode(
        atoms, settings.layered_cell, settings.slab_cell
    )
    check_geometry(atoms, "before relaxation")
    t0 = time.perf_counter()
    prescan_delta, prescan_evals = 0.0, 0
    if settings.gallery_prescan and cell_mode in ("fixed", "ab"):
        work, prescan_delta, prescan_evals = prescan_gallery(atoms, calc)
    else:
        work = atoms.copy()
    work.calc = calc
    target = _target(work, cell_mode)
    if (
        settings.gallery_coordinate
        and cell_mode in ("fixed", "ab")
        and has_gallery(work)
    ):
        # in-plane cell strains leave z alone: the gallery row commutes with them
        target = GalleryCoordinate(target, work)
    n_atoms = len(work)
    bounds = energy_bounds(calc)

    watch = CollapseWatch(DEFAULT_MIN_RATIO)

    def guard() -> None:
        check_energy(work.get_potential_energy(), n_atoms, "during relaxation", bounds)
        check_forces(work.get_forces(), "during relaxation")
        pair = watch.closest(work)
        if pair is not None:
            raise ModelFailure(
                f"during relaxation: atoms collapsed, {pair.describe(work)}"
            )

    guard()
    opt_cls = OPTIMIZERS[settings.optimizer]
    kwargs = {"logfile": logfile}
    if trajectory is not None:
        kwargs.update(trajectory=trajectory, append_trajectory=True)
    if settings.optimizer == "PreconLBFGS":
        kwargs["use_armijo"] = True
    if settings.precon == "Exp" and cell_mode == "fixed":
        # a new one per relaxation (it caches mu and P); positions only: its mu
        # fit divides by zero on a 1-atom bcc cell under a cell filter
        kwargs["precon"] = Exp()
    if settings.optimizer == "PreconLBFGS" and cell_mode != "fixed":
        # measured: ASE's PreconLBFGS logs the filter's free_energy, which summed
        # calculators (ML + D3) do not provide
        raise ValueError(
            f"PreconLBFGS cannot relax the cell (cell mode {cell_mode!r}) of "
            f"{atoms.get_chemical_formula()}: use BFGS, LBFGS, FIRE, FIRE2 or "
            "ODE12r for cells"
        )
    opt = opt_cls(target, **kwargs)
    opt.attach(guard, interval=1)
    # ODE12r (a SciPyOptimizer) runs as a whole: it has no steps to watch
    watch_stall = StallWatch(target, work) if stall and opt_cls is not ODE12r else None
    stalled = False
    try:
        if watch_stall is None:
            converged = bool(opt.run(fmax=settings.fmax_eV_A, steps=settings.max_steps))
        else:
            converged = False
            for converged in opt.irun(
                fmax=settings.fmax_eV_A, steps=settings.max_steps
            ):
                if watch_stall.record():
                    stalled = converged = True
                    break
            converged = bool(converged)
    except (ValueError, FloatingPointError, np.linalg.LinAlgError) as err:
        raise ModelFailure(f"optimizer failed: {err}") from err
    if stalled:
        best = watch_stall.best
        work.set_cell(best["cell"])
        work.positions = best["positions"]
        energy, forces, fmax_now = best["energy"], best["forces"], best["fmax"]
        if logfile is not None:
            with open(logfile, "a") as log:
                log.write(
                    f"stalled: energy improved by < {STALL_ENERGY_EV_PER_ATOM:g} "
                    f"eV/atom in {STALL_STEPS} steps; lowest-energy step "
                    f"{best['step']} taken (E {energy:.6f} eV, fmax "
                    f"{fmax_now:.4f} eV/A)\n"
                )
    else:
        energy = float(work.get_potential_energy())
        forces = work.get_forces()
        fmax_now = largest_force(target.get_forces())
    wall = time.perf_counter() - t0
    check_energy(energy, n_atoms, "after relaxation", bounds)
    check_forces(forces, "after relaxation")
    work.calc = None
    check_geometry(work, "after relaxation")
    work.calc = SinglePointCalculator(work, energy=energy, forces=forces)
    return RelaxResult(
        atoms=work,
        energy_eV=energy,
        fmax_eV_A=fmax_now,
        n_steps=int(opt.nsteps),
        converged=converged,
        wall_s=wall,
        cell_mode=cell_mode,
        prescan_delta_A=prescan_delta,
        prescan_evaluations=prescan_evals,
        stalled=stalled,
    )


class StallWatch:
    """Records an optimization's lowest-energy step and says when it has stalled
    at the force noise floor (see :data:`STALL_STEPS`).

    Call :meth:`record` after every optimizer step (the optimizable ``target``
    gives the generalized forces, ``atoms`` the structure and energy).
    """

    def __init__(self, target, atoms: Atoms) -> None:
        self.target = target
        self.atoms = atoms
        self.lowest: list[float] = []  # lowest energy so far, after each step
        self.fmax: list[float] = []  # generalized fmax of each step, eV/A
        self.best: dict = {}

    def record(self) -> bool:
        """Note this step; True when the relaxation has stalled."""
        energy = float(self.atoms.get_potential_energy())
        fmax = largest_force(self.target.get_forces())
        if not self.best or energy < self.best["energy"]:
            self.best = dict(
                energy=energy,
                forces=self.atoms.get_forces().copy(),
                fmax=fmax,
                positions=self.atoms.positions.copy(),
                cell=self.atoms.cell.array.copy(),
                step=len(self.lowest),
            )
        self.lowest.append(self.best["energy"])
        self.fmax.append(fmax)
        if len(self.lowest) <= STALL_STEPS:
            return False
        gain = self.lowest[-STALL_STEPS - 1] - self.lowest[-1]
        # typical forces of the window at the noise level, not a slope
        return (
            gain < STALL_ENERGY_EV_PER_ATOM * len(self.atoms)
            and float(np.median(self.fmax[-STALL_STEPS:])) <= STALL_FMAX_EV_A
        )


def _strained(atoms: Atoms, axes: str, factor: float) -> Atoms:
    """Copy with the cell scaled by ``factor`` along ``axes``: "c" the stacking
    axis, "a" both in-plane vectors, anything else all three (atoms scaled along)."""
    out = atoms.copy()
    cell = out.cell.array.copy()
    if axes == "c":
        cell[2] *= factor
    elif axes == "a":
        cell[:2] *= factor
    else:
        cell *= factor
    out.set_cell(cell, scale_atoms=True)
    return out


def _scan_strain(
    atoms: Atoms, calc, axes: str, strains: tuple[float, ...], bounds
) -> tuple[float, int]:
    """Best strain along ``axes`` (see :func:`_strained`) from single points: the
    vertex of a parabola through the lowest three energies, the grid extended while
    the minimum sits at an edge; returns (strain, number of single points)."""
    energies: dict[float, float] = {}

    def energy(strain: float) -> float:
        strain = round(strain, 6)
        if strain not in energies:
            trial = _strained(atoms, axes, 1.0 + strain)
            trial.calc = calc
            e = float(trial.get_potential_energy())
            check_energy(e, len(trial), "cell scan", bounds)
            energies[strain] = e
        return energies[strain]

    for s in strains:
        energy(s)
    step = strains[1] - strains[0]
    for _ in range(10):
        ds = sorted(energies)
        best = min(ds, key=lambda d: energies[d])
        if best == ds[-1]:
            energy(best + step)
        elif best == ds[0]:
            energy(best - step)
        else:
            break
    ds = sorted(energies)
    i = ds.index(min(ds, key=lambda d: energies[d]))
    x = np.array(ds[max(i - 1, 0) : i + 2])
    c = np.polyfit(x, [energies[d] for d in x], 2)
    strain = float(np.clip(-c[1] / (2 * c[0]), x[0], x[-1])) if c[0] > 0 else ds[i]
    return strain, len(energies)


def scan_cell_relax(
    atoms: Atoms,
    calc,
    settings: RelaxSettings | None = None,
    cell_mode: str | None = None,
    strains: tuple[float, ...] = (-0.03, -0.015, 0.0, 0.015, 0.03),
    logfile: str | None = None,
    trajectory: str | None = None,
    stall: bool = False,
) -> RelaxResult:
    """Relax the cell by an energy scan, then the atoms at the best cell.

    For plane-wave DFT: the stress carries a Pulay error at practical cutoffs
    (measured here: AB graphite collapsed under a stress-driven c relaxation at
    250 eV), the energy does not.  The cell is scaled (c only for ``"c"``, all three
    vectors for ``"hydrostatic"``, both in-plane vectors for ``"ab"``; for ``"ac"`` c,
    then both in-plane vectors at that c, then c again) by each strain, atoms scaled
    with it; a parabola through the lowest three energies (grid extended while the
    minimum is at an edge) gives the cell, where the atoms are then relaxed at fixed
    cell.

    Returns a :class:`RelaxResult`; ``n_steps`` counts the final position relaxation
    and ``prescan_evaluations`` the scan's single points.  ``trajectory`` records the
    position relaxation, ``stall`` ends it at the force noise floor (see
    :func:`relax`).
    """
    settings = settings or RelaxSettings()
    cell_mode = cell_mode or default_cell_mode(
        atoms, settings.layered_cell, settings.slab_cell
    )
    if cell_mode == "fixed":
        return relax(atoms, calc, settings, "fixed", logfile, trajectory, stall)
    t0 = time.perf_counter()
    check_geometry(atoms, "before relaxation")
    bounds = energy_bounds(calc)
    # (axes, grid scale): "ac" scans c, then the in-plane lattice at that c (the
    # in-plane energy is stiffer: half the grid), then c again on a finer grid
    scans = {
        "c": (("c", 1.0),),
        "hydrostatic": (("all", 1.0),),
        "ac": (("c", 1.0), ("a", 0.5), ("c", 1.0 / 3.0)),
        "ab": (("a", 0.5),),
    }[cell_mode]
    evaluations = 0
    cell = atoms
    for axes, scale in scans:
        grid = tuple(scale * x for x in strains)
        strain, n = _scan_strain(cell, calc, axes, grid, bounds)
        evaluations += n
        cell = _strained(cell, axes, 1.0 + strain)
    result = relax(
        cell,
        calc,
        replace(settings, gallery_prescan=False),
        "fixed",
        logfile,
        trajectory,
        stall,
    )
    result.cell_mode = cell_mode
    result.prescan_evaluations = evaluations
    result.wall_s = time.perf_counter() - t0
    return result
