"""Staged relaxation: ML pre-relaxation -> GPAW relaxation -> GPAW single point.

The ML engine removes most of the distance between the builder geometry and the
minimum for the price of a few seconds, so the expensive DFT relaxation starts close
to its minimum; the final energy is a single point with the (tighter) final settings.
Under MPI the ML stage runs on rank 0 and its geometry is broadcast to every rank.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.parallel import broadcast, world

from ..engines import DFTProtocol, GPAWSettings
from ..engines.gpaw import SCFCounter, gpaw_calculator, with_scf_retry
from .guards import check_energy, check_forces, energy_bounds
from .relax import (
    RelaxResult,
    RelaxSettings,
    default_cell_mode,
    relax,
    scan_cell_relax,
)


@dataclass
class StagedResult:
    """Outcome of :func:`staged_relax`.  Energies in eV, times in s."""

    atoms: Atoms
    energy_eV: float
    relaxed: RelaxResult
    prerelax: RelaxResult | None
    scf_iterations: dict = field(default_factory=dict)
    wall_s: dict = field(default_factory=dict)
    settings_used: dict = field(default_factory=dict)
    #: GPAW relaxation steps of an interrupted earlier run that this one continued
    resumed_steps: int = 0

    @property
    def converged(self) -> bool:
        return self.relaxed.converged


def _prerelax(atoms: Atoms, protocol: DFTProtocol, settings: RelaxSettings, ml_calc):
    if world.rank == 0:
        from ..engines import make_calculator

        calc = ml_calc or make_calculator("mlip", protocol.prerelax)
        result = relax(atoms, calc, settings)
        result.atoms.calc = None
    else:
        result = None
    return broadcast(result, root=0)


#: the GPAW relaxation's steps in a task folder: where an interrupted task resumes
RELAX_TRAJECTORY = "gpaw-relax.traj"


def last_frame(path: Path, like: Atoms) -> tuple[Atoms | None, int]:
    """(last readable frame, number of frames) of an ASE trajectory written by an
    earlier relaxation of ``like`` (same chemical symbols), or (None, 0).

    A frame cut short by a kill is skipped; read on rank 0 and broadcast.
    """
    found = (None, 0)
    if world.rank == 0 and Path(path).exists():
        from ase.io import Trajectory

        try:
            with Trajectory(str(path)) as traj:
                n = len(traj)
                for i in range(n - 1, -1, -1):
                    try:
                        frame = traj[i]
                    except Exception:  # a frame cut short by a kill
                        continue
                    if frame.get_chemical_symbols() == like.get_chemical_symbols():
                        frame.calc = None
                        found = (frame, i + 1)
                    break
        except Exception:  # unreadable file: start afresh
            found = (None, 0)
    return broadcast(found, root=0)


def dft_relax(
    atoms: Atoms,
    settings: GPAWSettings,
    relax_settings: RelaxSettings,
    txt: str | None = None,
    logfile: str | None = None,
    trajectory: str | None = None,
    cell_scanned: bool = False,
):
    """GPAW relaxation with one SCF retry; returns (RelaxResult, SCF iterations,
    settings used).  ``trajectory``: every step is appended there.
    ``cell_scanned``: ``atoms`` already has the scanned cell (a relaxation resumed
    from its trajectory, whose steps all come after the cell scan), so only the
    atoms are relaxed; the result keeps the model's cell mode."""

    # Point-group symmetry stays off while atoms move (GPAW refuses positions that
    # leave their symmetric sites).  A one-atom cell (the bcc metal references) has
    # no positions to relax and its cell is only scaled, so symmetry is kept: for
    # bcc at k-point density 10 that is ~370 instead of 9,842 irreducible k-points.
    symmetric = len(atoms) == 1

    def attempt(s: GPAWSettings):
        calc, dft = gpaw_calculator(s, atoms, txt=txt, symmetry=symmetric)
        counter = SCFCounter(dft)
        # cells by energy scans (plane-wave stress carries a Pulay error)
        # SCF-converged forces are noisy at the 0.01 eV/A level: a relaxation that
        # stalls there ends at its lowest energy (relax.STALL_STEPS)
        mode = default_cell_mode(
            atoms, relax_settings.layered_cell, relax_settings.slab_cell
        )
        result = scan_cell_relax(
            atoms,
            calc,
            relax_settings,
            cell_mode="fixed" if cell_scanned else mode,
            logfile=logfile,
            trajectory=trajectory,
            stall=True,
        )
        result.cell_mode = mode
        return result, counter.iterations

    (result, iterations), used = with_scf_retry(settings, attempt)
    return result, iterations, used


def dft_single_point(atoms: Atoms, settings: GPAWSettings, txt: str | None = None):
    """GPAW energy (eV) and forces with one SCF retry; (energy, forces, iterations,
    settings used)."""
    work = atoms.copy()

    def attempt(s: GPAWSettings):
        calc, dft = gpaw_calculator(s, work, txt=txt)
        counter = SCFCounter(dft)
        work.calc = calc
        energy = float(work.get_potential_energy())
        forces = work.get_forces()
        return energy, forces, counter.iterations

    (energy, forces, iterations), used = with_scf_retry(settings, attempt)
    check_energy(energy, len(work), "final single point", energy_bounds(work.calc))
    check_forces(forces, "final single point")
    return energy, forces, iterations, used


def staged_relax(
    atoms: Atoms,
    protocol: DFTProtocol,
    settings: RelaxSettings | None = None,
    folder: str | Path | None = None,
    ml_calc=None,
) -> StagedResult:
    """Relax ``atoms`` by the stages of ``protocol``; return the final energy.

    Parameters
    ----------
    atoms : ase.Atoms
        Starting structure (not modified).
    protocol : DFTProtocol
        Pre-relaxation engine (or None), GPAW relaxation and final settings.
    settings : RelaxSettings
        Force criterion, step cap and optimizer for every relaxation stage; the DFT
        stage skips the gallery pre-scan when an ML pre-relaxation ran (it starts at
        the ML minimum already).
    folder : path, optional
        Where the GPAW text logs (``gpaw-relax.txt``, ``gpaw-final.txt``), the
        optimizer log (``relax.log``) and the GPAW relaxation's trajectory
        (``gpaw-relax.traj``) are written.  When that trajectory holds steps of an
        interrupted earlier run of the same structure, the GPAW relaxation resumes
        from its last step (the ML stage is skipped; ``resumed_steps`` says so).
    ml_calc : calculator, optional
        A loaded ML calculator to reuse for the pre-relaxation.
    """
    settings = settings or RelaxSettings()
    folder = Path(folder) if folder is not None else None

    def path(name: str) -> str | None:
        return str(folder / name) if folder is not None else None

    wall, iterations = {}, {}
    t0 = time.perf_counter()
    pre = None
    start = atoms
    trajectory = path(RELAX_TRAJECTORY)
    resumed, resumed_steps = last_frame(trajectory, atoms) if trajectory else (None, 0)
    if resumed is not None:
        start = resumed
        start.info.update(atoms.info)
    elif protocol.prerelax is not None:
        pre = _prerelax(atoms, protocol, settings, ml_calc)
        start = pre.atoms
        start.info.update(atoms.info)
        wall["prerelax"] = time.perf_counter() - t0
    dft_settings = replace(
        settings,
        gallery_prescan=settings.gallery_prescan and pre is None and resumed is None,
    )
    t1 = time.perf_counter()
    relaxed, iterations["relax"], used_relax = dft_relax(
        start,
        protocol.relax,
        dft_settings,
        txt=path("gpaw-relax.txt"),
        logfile=path("relax.log"),
        trajectory=trajectory,
        cell_scanned=resumed is not None,
    )
    wall["relax"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    energy, forces, iterations["final"], used_final = dft_single_point(
        relaxed.atoms, protocol.final, txt=path("gpaw-final.txt")
    )
    wall["final"] = time.perf_counter() - t2
    final_atoms = relaxed.atoms.copy()
    final_atoms.calc = SinglePointCalculator(final_atoms, energy=energy, forces=forces)
    return StagedResult(
        atoms=final_atoms,
        energy_eV=energy,
        relaxed=relaxed,
        prerelax=pre,
        scf_iterations=iterations,
        wall_s=wall,
        settings_used={"relax": used_relax, "final": used_final},
        resumed_steps=resumed_steps,
    )
