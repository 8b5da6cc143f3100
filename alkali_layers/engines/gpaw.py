"""GPAW as the DFT engine: settings, k-point grids, van der Waals, SCF retry, atoms.

Conventions
-----------
* Plane-wave mode, Fermi-Dirac smearing (``smearing_eV``, energies extrapolated to
  zero width by GPAW), PBE + DFT-D3(BJ) from the ``dftd3`` package by default
  (``DFTD3(method="PBE", damping="d3bj").add_calculator(gpaw)``), or the vdW-DF2
  functional built into GPAW (``xc="vdW-DF2"``, no D3 on top) as the second van der
  Waals treatment; vdW-optPBE (``xc="optPBE-vdW"``), optB88-vdW and BEEF-vdW are the
  other members of the vdW-DF family GPAW has.  optB88-vdW diverges on cells with
  vacuum in this GPAW version (measured here): it is refused on cells with a vacuum
  gap (isolated atoms included) and is meant for bulk cells (GICs, graphite, metals).
* k points from a density (points per reciprocal-length unit, ASE's convention:
  ``n_i = ceil(2 pi |b_i| density)`` with ``b_i`` the reciprocal vectors without
  2 pi), with a single k point along every axis that crosses a vacuum gap (slabs,
  isolated atoms).
* Isolated atoms are spin-polarized (Hund's rule) in a periodic box, Gamma only.
* Every calculation writes a text log (``txt``) that is kept beside its result.
* An SCF that does not converge is retried once with conservative density mixing;
  a second failure raises :class:`~alkali_layers.calculators.guards.ModelFailure`
  so that no unconverged energy is ever stored.  With the default mixer an SCF whose
  density error has not reached a new minimum for :data:`SCF_STALL_ITERATIONS`
  iterations is stopped there and retried, rather than after ``maxiter``
  (:class:`SCFStallGuard`).

Energies are GPAW's (relative to its reference atoms) plus D3; only differences
computed with the same settings are meaningful.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from ase import Atoms

from ..errors import ModelFailure
from .dispersion import dispersion_calculator
from .settings import BULK_ONLY_XCS, GPAWSettings


def vacuum_axes(atoms: Atoms, min_gap_A: float = 5.0) -> list[bool]:
    """For each cell axis: True if the atoms leave a gap >= ``min_gap_A`` along it.

    Non-periodic axes count as vacuum.  The gap is measured between the projections
    of the atoms on the axis (fractional coordinates), periodic images included.
    """
    out = []
    frac = atoms.get_scaled_positions(wrap=True)
    for i in range(3):
        if not atoms.pbc[i]:
            out.append(True)
            continue
        # distance between the planes of constant fractional coordinate i
        spacing = 1.0 / np.linalg.norm(atoms.cell.reciprocal()[i])
        f = np.sort(frac[:, i])
        gaps = np.diff(np.concatenate([f, [f[0] + 1.0]])) if len(f) else [1.0]
        out.append(bool(max(gaps) * spacing >= min_gap_A))
    return out


def kpoint_grid(atoms: Atoms, density: float) -> tuple[int, int, int]:
    """Monkhorst-Pack grid from a k-point density; 1 along vacuum axes."""
    reciprocal = atoms.cell.reciprocal()
    vac = vacuum_axes(atoms)
    grid = []
    for i in range(3):
        if vac[i]:
            grid.append(1)
        else:
            grid.append(
                max(1, math.ceil(2 * math.pi * np.linalg.norm(reciprocal[i]) * density))
            )
    return tuple(grid)


def _mixer(name: str):
    from gpaw import Mixer

    if name == "conservative":
        return Mixer(beta=0.02, nmaxold=5, weight=100.0)
    return None


def gpaw_calculator(
    settings: GPAWSettings,
    atoms: Atoms,
    txt: str | None = None,
    spinpol: bool = False,
    isolated: bool = False,
    symmetry: bool = True,
):
    """(calculator, gpaw part) for ``atoms``: GPAW, plus D3 when the settings say so.

    Parameters
    ----------
    settings : GPAWSettings
    atoms : ase.Atoms
        The structure the k-point grid is made for.
    txt : str, optional
        Text log path (None: no log; "-": stdout).
    spinpol : bool
        Spin-polarized calculation (isolated atoms: Hund's rule moments).
    isolated : bool
        An isolated atom or molecule in a box: Gamma point, integer occupations.
    symmetry : bool
        Use point-group symmetry (off for relaxations: GPAW refuses atoms that move
        off their symmetric positions).
    """
    from gpaw import GPAW, PW, FermiDirac

    if settings.xc in BULK_ONLY_XCS and (isolated or any(vacuum_axes(atoms))):
        raise ValueError(
            f"{settings.xc} diverges on cells with vacuum in this GPAW version; "
            "use it for bulk cells (GICs, graphite, metals) and the default "
            "xc='optPBE-vdW', 'vdW-DF2' or PBE + D3(BJ) for slabs"
        )
    kwargs = dict(
        mode=PW(settings.ecut_eV),
        xc=settings.xc,
        kpts=(1, 1, 1) if isolated else kpoint_grid(atoms, settings.kpt_density),
        occupations=FermiDirac(
            0.0 if isolated else settings.smearing_eV, fixmagmom=isolated and spinpol
        ),
        convergence={"energy": settings.scf_energy_eV, "density": settings.scf_density},
        maxiter=settings.maxiter,
        txt=txt,
    )
    if not symmetry:
        kwargs["symmetry"] = {"point_group": False, "time_reversal": True}
    if spinpol:
        kwargs.update(spinpol=True, hund=isolated)
    mixer = _mixer(settings.mixer)
    if mixer is not None:
        kwargs["mixer"] = mixer
    if settings.setups == "li-sc":
        from gpaw.xc import XC

        li_semicore_setup(functional=XC(settings.xc).get_setup_name())
        kwargs["setups"] = {"Li": "sc"}
    layout = parallel_layout()
    if layout is not None:
        kwargs["parallel"] = layout
    dft = GPAW(**kwargs)
    if mixer is None:
        SCFStallGuard(dft)
    if settings.xc != "PBE":
        # energies relative to the PBE reference atoms of the PAW setups: offset per
        # element by the functional difference, no fixed sane window (guards)
        dft.energy_bounds_eV_per_atom = None
    if settings.dispersion == "none":
        return dft, dft
    return dispersion_calculator(settings.dispersion).add_calculator(dft), dft


#: ``gpaw dataset`` arguments of the Li setup with 1s in the valence: GPAW's own
#: 3-electron parameters ('Li3' in gpaw/atom/generator2.py: projectors 1s,2s,2p,p,d,
#: cutoff radius 1.5 bohr), written as Li.sc.PBE
LI_SEMICORE_DATASET_ARGS: tuple[str, ...] = ("Li", "-e", "3", "-t", "sc")


def li_semicore_setup(directory=None, functional: str = "PBE"):
    """Path of the Li PAW setup with 1s in the valence, generated if missing.

    GPAW's default Li setup (gpaw-data ``Li.PBE``) freezes the 1s shell (1 valence
    electron, cutoff radius 2.1 bohr).  This one is made by GPAW's own generator,
    ``gpaw dataset Li -f <functional> -e 3 -t sc -w`` (a few seconds; the same
    command run by hand reproduces the file), in ``directory`` (default
    ``$ALKALI_LAYERS_SETUP_DIR`` or ``~/.cache/alkali_layers/setups``), which is put
    first on GPAW's setup path.  ``functional`` is the setup functional GPAW uses
    for the calculation's xc (PBE; revPBE for the vdW-DF family but BEEF-vdW).
    """
    import argparse
    import contextlib
    import io
    import os
    from pathlib import Path

    from gpaw import setup_paths
    from gpaw.mpi import world

    directory = Path(
        directory
        or os.environ.get("ALKALI_LAYERS_SETUP_DIR")
        or Path.home() / ".cache" / "alkali_layers" / "setups"
    )
    name = f"Li.sc.{functional}"
    path = directory / name
    if not path.exists():
        if world.rank == 0:
            from gpaw.atom.generator2 import CLICommand

            parser = argparse.ArgumentParser()
            CLICommand.add_arguments(parser)
            args = parser.parse_args(
                [*LI_SEMICORE_DATASET_ARGS, "-f", functional, "-w"]
            )
            work = directory / f".generate-{os.getpid()}"
            work.mkdir(parents=True, exist_ok=True)
            with contextlib.chdir(work), contextlib.redirect_stdout(io.StringIO()):
                CLICommand.run(args)  # checks the dataset, then writes it
            os.replace(work / name, path)
            work.rmdir()
        world.barrier()
    if str(directory) not in map(str, setup_paths):
        setup_paths.insert(0, str(directory))
    return path


def _chain_hook(dft, name: str, hook, first: bool = False) -> None:
    """Add ``hook`` to GPAW's ``dft.hooks[name]``, after the one already there
    (before it with ``first``: a hook that must see every call, even one on which
    the other raises)."""
    previous = dft.hooks.get(name)
    if previous is None:
        dft.hooks[name] = hook
        return
    one, other = (hook, previous) if first else (previous, hook)

    def both(*args):
        one(*args)
        other(*args)

    dft.hooks[name] = both


class SCFCounter:
    """Counts the SCF iterations of a GPAW calculator (via its ``scf_step`` hook).

    Its hook runs before those already installed, so the iteration on which
    :class:`SCFStallGuard` stops an SCF is counted too.
    """

    def __init__(self, dft):
        self.iterations = 0
        self.scf_cycles = 0
        _chain_hook(dft, "scf_step", self._step, first=True)
        _chain_hook(dft, "converged", self._converged)

    def _step(self, ctx) -> None:
        self.iterations += 1

    def _converged(self) -> None:
        self.scf_cycles += 1


#: iterations without a new minimum of the density error after which an SCF with the
#: default mixer is given up and retried with conservative mixing, rather than after
#: ``maxiter`` (300: 5 h at the 60 s per iteration of a 37-atom bilayer at the final
#: preset).  Measured here: in the 602 SCF cycles of the GPAW logs committed under
#: runs/ (2026-12-03) the longest run of iterations without a new minimum in a
#: converging SCF is 3; the slowest converging one since, the BEEF-vdW SCF of Na x 3
#: layers in AA bilayer graphene, swung between -1005 and -594 eV for its first 15
#: iterations and went 5 without a new minimum (iterations 11-15) before converging
#: (runs/bilayer_graphene_dft/logs/Na-3L-beef-default-mixer.txt).
SCF_STALL_ITERATIONS = 8


class SCFStallGuard:
    """Stops a GPAW SCF whose density error stalls (``scf_step`` hook).

    Raises ``gpaw.ConvergenceError`` when the density error has not gone below its
    best value for ``patience`` iterations, so :func:`with_scf_retry` retries with
    conservative mixing at once.  The same error on every MPI rank (the density
    error is a global quantity), so all ranks stop together.
    """

    def __init__(self, dft, patience: int = SCF_STALL_ITERATIONS):
        self.patience = patience
        self.best = math.inf
        self.best_iteration = 0
        self.last_iteration = 0
        _chain_hook(dft, "scf_step", self._step)

    def _step(self, ctx) -> None:
        from gpaw import ConvergenceError

        if ctx.niter <= self.last_iteration:  # a new SCF (the next relaxation step)
            self.best, self.best_iteration = math.inf, 0
        self.last_iteration = ctx.niter
        error = ctx.dens.error
        if ctx.dens.fixed or error is None or not 0.0 < error < math.inf:
            return  # a fixed density, or no error yet
        if error < self.best:
            self.best, self.best_iteration = error, ctx.niter
        elif ctx.niter - self.best_iteration >= self.patience:
            raise ConvergenceError(
                f"SCF stalled: density error {error:.2e} at iteration {ctx.niter}, "
                f"best {self.best:.2e} at iteration {self.best_iteration}"
            )


def parallel_layout() -> dict | None:
    """GPAW's ``parallel`` keyword for this run, or None for GPAW's own choice.

    A GPAW built without ScaLAPACK (the PyPI wheel) can share out only k-points and
    spins over MPI ranks: its domain- and band-parallel subspace diagonalization
    fails with an ``AssertionError`` in ``BLACSDistribution`` (measured with GPAW
    26.7: a 1-k-point cell on 2 ranks).  Such a build is held to
    ``domain=1, band=1``, so a cell whose k-points x spins cannot be shared out stops
    before its first SCF step with :class:`gpaw.BadParallelization` (turned into an
    actionable message by :func:`with_scf_retry`).
    """
    from gpaw.mpi import world
    from gpaw.utilities import compiled_with_sl

    if world.size == 1 or compiled_with_sl():
        return None
    return {"domain": 1, "band": 1}


def _bad_parallelization(err: BaseException) -> RuntimeError | None:
    from gpaw import BadParallelization

    if not isinstance(err, BadParallelization):
        return None
    return RuntimeError(
        f"GPAW cannot use these MPI ranks: {str(err).rstrip('.')}. This GPAW is "
        "built without ScaLAPACK, so ranks can only share out k-points and spins, "
        "and this cell's irreducible k-points x spins do not go round the ranks. Run "
        "it on fewer ranks (e.g. mpiexec -n 1; a campaign: alkali-layers run --mpi 1 "
        "--workers 2, one task per core), with a higher k-point density, or with a "
        "GPAW built with ScaLAPACK."
    )


def is_scf_failure(err: BaseException) -> bool:
    """True for GPAW's SCF convergence errors."""
    from gpaw import ConvergenceError

    return isinstance(err, ConvergenceError)


def with_scf_retry(settings: GPAWSettings, attempt):
    """Call ``attempt(settings)``; on an SCF failure retry once, mixing conservatively.

    Returns ``(result, settings_used)``.  A second failure raises ModelFailure.
    """
    try:
        return attempt(settings), settings
    except Exception as err:  # noqa: BLE001 - only SCF failures are retried
        if (layout_error := _bad_parallelization(err)) is not None:
            raise layout_error from err
        if not is_scf_failure(err):
            raise
        first = f"{type(err).__name__}: {err}"
    retry = replace(settings, mixer="conservative", maxiter=2 * settings.maxiter)
    try:
        return attempt(retry), retry
    except Exception as err:  # noqa: BLE001
        if not is_scf_failure(err):
            raise
        raise ModelFailure(
            f"SCF did not converge ({first}); retried with conservative mixing "
            f"(beta 0.02): {type(err).__name__}: {err}"
        ) from err


def isolated_atom(symbol: str, box_A: float = 12.0) -> Atoms:
    """One atom in a periodic cubic box (the reference of a cohesive energy)."""
    atoms = Atoms(symbol, cell=[box_A] * 3, pbc=True)
    atoms.center()
    atoms.info.update(host="atom", metal=symbol)
    return atoms


def isolated_atom_energy(
    symbol: str, settings: GPAWSettings, txt: str | None = None, box_A: float = 12.0
) -> float:
    """Energy (eV) of a spin-polarized isolated atom with the given settings.

    The same dispersion treatment as the solid is applied (D3 of one atom is zero).
    """
    atoms = isolated_atom(symbol, box_A)

    def attempt(s: GPAWSettings) -> float:
        calc, _ = gpaw_calculator(s, atoms, txt=txt, spinpol=True, isolated=True)
        atoms.calc = calc
        return float(atoms.get_potential_energy())

    energy, _ = with_scf_retry(settings, attempt)
    return energy


#: the ensemble size of BEEF-vdW error estimates (that of Wellendorff et al.,
#: PRB 85, 235149 (2012))
BEEF_ENSEMBLE_SIZE = 2000


def beef_ensemble_energies(dft, size: int = BEEF_ENSEMBLE_SIZE) -> list[float]:
    """The BEEF ensemble of a converged BEEF-vdW GPAW calculation ``dft`` (eV):
    ``size`` non-self-consistent energies from ``ase.dft.bee.BEEFEnsemble``, the
    same (fixed-seed) members for every structure, so that differences of
    ensembles give the ensemble of a reaction energy."""
    from ase.dft.bee import BEEFEnsemble

    return [float(e) for e in BEEFEnsemble(dft).get_ensemble_energies(size)]


def beef_single_point(
    atoms: Atoms, settings: GPAWSettings, txt: str | None = None
) -> tuple[float, list[float]]:
    """(BEEF-vdW energy, its ensemble) at the geometry of ``atoms`` with the cutoff,
    k points and smearing of ``settings`` (xc BEEF-vdW, no added dispersion; the
    Li setup is kept).  Measured here on bulk cells (runs/validation/diagnosis.md);
    GPAW's vdW-DF kernel with vacuum: see :func:`gpaw_calculator`."""
    beef = replace(settings, xc="BEEF-vdW", dispersion="none")
    work = atoms.copy()

    def attempt(s: GPAWSettings):
        calc, dft = gpaw_calculator(s, work, txt=txt)
        work.calc = calc
        energy = float(work.get_potential_energy())
        return energy, beef_ensemble_energies(dft)

    (energy, ensemble), _ = with_scf_retry(beef, attempt)
    return energy, ensemble
