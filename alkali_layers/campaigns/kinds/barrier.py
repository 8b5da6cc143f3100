"""The ``barrier`` task kind: a climbing-image NEB migration barrier per task.

A spec names the builder ``migration_path`` (grid: ``pathway``, ``metal``,
``spacing_A`` for gallery hops; :func:`~alkali_layers.builders.pathways.
migration_path`), whose structure is the initial state carrying the final state's
hop target in ``info``, and ``tasks = ["barrier"]``.  The NEB settings are the
kind's options (:class:`BarrierOptions`, ``[models.options]``; they enter the task
key); the campaign's ``[relax]`` table relaxes the endpoints (it enters the key
too).  With ``[engine] name = "gpaw"`` the band is converged with the ML engine of
the protocol's pre-relaxation (7net-0 when none), then refined with GPAW at the
protocol's ``relax`` settings (:func:`~alkali_layers.calculators.barriers.barrier`).

Files in the task folder: the checkpoints of :func:`barrier` (endpoints, band after
every optimizer step, ``barrier.<hash>.json`` when finished), so a killed task
resumes where its band was and a finished one is read back, never recomputed.

Layout ``barriers``: ``table.md``/``table.csv`` (pathway, metal, spacing_A, engine,
barrier_fwd_eV, barrier_bwd_eV, n_images, converged, force_calls, ...),
``profiles.png``, ``barrier_vs_spacing.png`` and ``na_pathways.png``, each figure
with its data as CSV (:mod:`alkali_layers.analysis.barriers`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read

from ...analysis.barriers import write_barrier_outputs
from ...builders.pathways import migration_path, path_endpoints
from ...calculators.barriers import (
    DEFAULT_FMAX_EV_A,
    DEFAULT_MAX_STEPS,
    DEFAULT_N_IMAGES,
    BarrierResult,
    barrier,
    check_band_settings,
)
from ...calculators.relax import RelaxSettings
from ..registry import TaskKind, register_builder, register_layout, register_task_kind
from ..tasks import TaskOutcome

TASK_KIND_BARRIER = "barrier"


@dataclass(frozen=True)
class BarrierOptions:
    """NEB settings of a ``barrier`` task (defaults those of :func:`barrier`).

    Attributes
    ----------
    n_images : int
        Moving images between the endpoints.
    climb : bool
        Climbing image.
    method : str
        ``ase.mep.NEB`` method ("improvedtangent", ...).
    interpolation : {"idpp", "linear"}
        Initial path.
    fmax_eV_A : float
        Band convergence (largest NEB force, eV/A).
    max_steps : int
        Band optimizer step cap (per engine).
    optimizer : {"FIRE", "BFGS", "MDMin"}
        Band optimizer.
    """

    n_images: int = DEFAULT_N_IMAGES
    climb: bool = True
    method: str = "improvedtangent"
    interpolation: str = "idpp"
    fmax_eV_A: float = DEFAULT_FMAX_EV_A
    max_steps: int = DEFAULT_MAX_STEPS
    optimizer: str = "FIRE"

    def __post_init__(self) -> None:
        check_band_settings(
            self.n_images,
            self.method,
            self.interpolation,
            self.fmax_eV_A,
            self.max_steps,
            self.optimizer,
        )


def barrier_outcome(label: str, result: BarrierResult, folder: Path | None):
    """The :class:`TaskOutcome` of a barrier: the highest image (saddle when
    converged) with its energy, scalar columns and the full result as data."""
    atoms = None
    if folder is not None and result.images_file:
        band = read(str(Path(folder) / result.images_file), index=":")
        atoms = band[result.saddle_index]
        energy = float(atoms.get_potential_energy())
        forces = atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
    values = {
        "band_converged": result.converged,
        "barrier_fwd_eV": result.barrier_fwd_eV,
        "barrier_bwd_eV": result.barrier_bwd_eV,
        "barrier_raw_fwd_eV": result.barrier_raw_fwd_eV,
        "delta_E_eV": result.delta_E_eV,
        "ml_barrier_fwd_eV": result.ml_barrier_fwd_eV,
        "ml_barrier_bwd_eV": result.ml_barrier_bwd_eV,
        "n_images": result.n_images,
        "neb_method": result.method,
        "band_fmax_eV_A": result.fmax_eV_A,
        "force_calls": result.total_force_calls,
        **{f"force_calls_{k}": v for k, v in result.force_calls.items()},
        **{f"band_steps_{k}": v for k, v in result.n_steps.items()},
        "hop_distance_A": result.hop_distance_A,
        "saddle_index": result.saddle_index,
    }
    return TaskOutcome(
        label=label,
        ok=True,
        atoms=atoms,
        energy_eV=None if atoms is None else float(atoms.get_potential_energy()),
        converged=result.converged,
        n_steps=int(sum(result.n_steps.values())),
        fmax_final_eV_A=result.fmax_eV_A,
        wall_s=result.wall_s,
        cell_mode="fixed",
        reason=result.reason,
        values={k: v for k, v in values.items() if v is not None},
        data=result.to_dict(),
    )


def run_barrier(
    task, engine, calc, settings: RelaxSettings, folder: Path | None
) -> TaskOutcome:
    """Run (resume, or read back) the barrier of ``task.atoms`` (a migration path)."""
    options = BarrierOptions(**task.options)
    initial, final = path_endpoints(task.atoms)
    result = barrier(
        initial,
        final,
        engine=engine,
        n_images=options.n_images,
        climb=options.climb,
        method=options.method,
        interpolation=options.interpolation,
        fmax=options.fmax_eV_A,
        folder=folder,
        calc=calc,
        relax_settings=settings,
        max_steps=options.max_steps,
        optimizer=options.optimizer,
    )
    return barrier_outcome(task.label, result, folder)


def barrier_options(**options) -> dict:
    """The options dict of a barrier task (defaults filled in), as a spec makes it."""
    return asdict(BarrierOptions(**options))


def write_outputs(campaign) -> list[dict]:
    """The ``barriers`` layout: table and figures from the campaign's database."""
    rows, failed = campaign.model_rows()
    spec = campaign.spec
    return write_barrier_outputs(
        rows,
        failed,
        campaign.root,
        spec.title or spec.name,
        engine_line=spec.engine.describe(),
    )


BARRIER_KIND = register_task_kind(
    TaskKind(
        TASK_KIND_BARRIER,
        "climbing-image NEB migration barrier between the endpoints of a path",
        run_barrier,
        uses_relax_settings=True,
        options=BarrierOptions,
    )
)
register_builder("migration_path", migration_path)
register_layout("barriers", write_outputs)
