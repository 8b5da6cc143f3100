"""The relaxation and single-point task kinds (the bilayer, GIC and validation studies).

``relax`` relaxes a model with the ML engine, or by the staged ML -> GPAW relax ->
GPAW final-energy protocol of a :class:`~alkali_layers.engines.DFTProtocol`;
``single_point`` computes energy and forces at the built geometry.  Both feed the
formation-energy layouts ``bilayer`` and ``formation``.
"""

from __future__ import annotations

import time
from pathlib import Path

from ...calculators.relax import RelaxSettings, relax
from ...geometry import gallery_height
from ..error_bars import with_error_bars
from ..registry import TaskKind, register_layout, register_task_kind
from ..tasks import (
    LOG_FILE,
    TASK_KIND_RELAX,
    TASK_KIND_SINGLE_POINT,
    RelaxTask,
    TaskOutcome,
    relaxed_outcome,
)


def run_relax(
    task: RelaxTask, engine, calc, settings: RelaxSettings, folder: Path | None
) -> TaskOutcome:
    """Relax with the ML engine (``calc``) or by the staged GPAW protocol."""
    logfile = str(folder / LOG_FILE) if folder is not None else None
    if engine is not None and engine.engine == "gpaw":
        from ...calculators.staged import staged_relax

        staged = staged_relax(task.atoms, engine, settings, folder=folder, ml_calc=calc)
        result = staged.relaxed
        result.atoms = staged.atoms
        result.energy_eV = staged.energy_eV
        extra = dict(
            scf_iterations=staged.scf_iterations,
            stage_wall_s={k: round(v, 2) for k, v in staged.wall_s.items()},
            prerelax_steps=staged.prerelax.n_steps if staged.prerelax else 0,
            resumed_steps=staged.resumed_steps,
            # converged at the SCF force noise floor, not by fmax (relax.StallWatch)
            values={"relax_stalled": True} if result.stalled else {},
            scf_retried=any(
                u.mixer == "conservative" for u in staged.settings_used.values()
            ),
            # DFT forces of the final single point: training data of
            # alkali_layers.engines.finetune (the relaxation's steps are in
            # gpaw-relax.traj)
            data={"dft_forces_eV_A": staged.atoms.get_forces().tolist()},
        )
        result.wall_s = sum(staged.wall_s.values())
    else:
        result = relax(task.atoms, calc, settings, logfile=logfile)
        extra = {}
    try:
        height = gallery_height(result.atoms)
    except ValueError:
        height = None
    return relaxed_outcome(
        task.label,
        result,
        gallery_height_A=height,
        prescan_delta_A=result.prescan_delta_A,
        prescan_evaluations=result.prescan_evaluations,
        **extra,
    )


def run_single_point(
    task: RelaxTask, engine, calc, settings: RelaxSettings, folder: Path | None
) -> TaskOutcome:
    """Energy and forces at the given geometry (ML, or GPAW at ``final`` settings)."""
    from ase.calculators.singlepoint import SinglePointCalculator

    from ...calculators.guards import check_energy, check_forces, energy_bounds

    t0 = time.perf_counter()
    extra = {}
    if engine is not None and engine.engine == "gpaw":
        from ...calculators.staged import dft_single_point

        txt = str(folder / "gpaw-final.txt") if folder is not None else None
        energy, forces, iterations, used = dft_single_point(
            task.atoms, engine.final, txt=txt
        )
        extra = dict(
            scf_iterations={"final": iterations},
            scf_retried=used.mixer == "conservative",
            data={"dft_forces_eV_A": forces.tolist()},  # fine-tuning data
        )
    else:
        work = task.atoms.copy()
        work.calc = calc
        energy = float(work.get_potential_energy())
        forces = work.get_forces()
        check_energy(energy, len(work), "single point", energy_bounds(calc))
        check_forces(forces, "single point")
    atoms = task.atoms.copy()
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
    try:
        height = gallery_height(atoms)
    except ValueError:
        height = None
    return TaskOutcome(
        label=task.label,
        ok=True,
        atoms=atoms,
        energy_eV=float(energy),
        converged=True,  # the SCF converged; no geometry was optimized
        n_steps=0,
        fmax_final_eV_A=float((forces**2).sum(axis=1).max() ** 0.5),
        wall_s=time.perf_counter() - t0,
        cell_mode="fixed",
        gallery_height_A=height,
        **extra,
    )


register_task_kind(
    TaskKind(
        TASK_KIND_RELAX,
        "relax the structure (ML, or staged ML -> GPAW relax -> GPAW final energy)",
        with_error_bars(run_relax),
    )
)
register_task_kind(
    TaskKind(
        TASK_KIND_SINGLE_POINT,
        "energy and forces at the built geometry (GPAW: the final settings)",
        with_error_bars(run_single_point),
        uses_relax_settings=False,
    )
)
register_layout("bilayer", lambda campaign: campaign.formation_outputs())
register_layout("formation", lambda campaign: campaign.formation_outputs())
