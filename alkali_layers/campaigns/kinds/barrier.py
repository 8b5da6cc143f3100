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
with its data as CSV (:mod:`alkali_layers.analysis.barriers`); with ``diffusion``
or ``md_diffusion`` tasks also ``diffusion.md``/``.csv``, ``arrhenius.png``,
``md_vs_htst.md``/``.csv`` and ``msd.png`` (:mod:`alkali_layers.analysis.diffusion`).
Paths the builder refuses (a metal that does not fit its gallery) are table rows
with a ``note`` naming the closest pair, not dropped.

Builder ``adatom_site`` (:func:`~alkali_layers.builders.pathways.adatom_site`,
``relax`` tasks): an adatom held above a hollow, bridge or top site of graphene,
heights free.  Layout ``barrier_diagnosis``
(:mod:`alkali_layers.analysis.barrier_diagnosis`): one row per spec group label
(one factor changed per group), the graphene-hop barrier and the site energies.

Kind ``diffusion`` (:class:`DiffusionOptions`: the NEB options plus the Hessian's):
the barrier as above -- the checkpoints of a finished ``barrier`` task of the same
structure, engine, relaxation and NEB settings in the same campaign are copied in
first, so a study switched from ``barrier`` to ``diffusion`` does not redo its
bands -- then the Gamma-point Hessians at the relaxed initial state and at the
climbing image (``vib-minimum/``, ``vib-saddle/``: ``ase.vibrations`` caches, one
file per displacement), the Vineyard prefactor and D(T)
(:mod:`alkali_layers.calculators.diffusion`); columns ``prefactor_THz``,
``rate_300K_per_s``, ``D_300K_cm2_s``, ``diffusing_species`` ("vacancy": the vacancy
diffusivity), ``hop_multiplicity``, ``diffusion_dimension``, ``hessian_atoms``,
``saddle_imaginary_THz``, ``Ea_over_kT_300K``.
"""

from __future__ import annotations

import shutil
from copy import copy
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read

from ...analysis.barrier_diagnosis import write_diagnosis_outputs
from ...analysis.barriers import not_built_row, write_barrier_outputs
from ...analysis.diffusion import write_diffusion_outputs
from ...builders.pathways import (
    adatom_site,
    hop_geometry,
    migration_path,
    path_endpoints,
)
from ...calculators.barriers import (
    DEFAULT_FMAX_EV_A,
    DEFAULT_MAX_STEPS,
    DEFAULT_N_IMAGES,
    BarrierResult,
    barrier,
    check_band_settings,
)
from ...calculators.diffusion import (
    DEFAULT_DELTA_A,
    DEFAULT_IMAGINARY_TOLERANCE_THZ,
    KB_EV_K,
    DiffusionInputError,
    frequencies_from_hessian,
    hessian,
    hessian_indices,
    hop_rate_per_s,
    htst,
    vineyard_prefactor,
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
    gpaw_band_start : {"ml", "idpp"}
        With a GPAW engine: the GPAW band starts from the converged ML band
        ("ml"), or from the ``interpolation`` path between the GPAW endpoints
        without any ML band ("idpp": the DFT-only reference of
        ``benchmarks/bench_barrier_dft.py``; its endpoints are copied from the
        "ml" task of the same path when that one has relaxed them).  Enters the
        task key only when not "ml".
    """

    n_images: int = DEFAULT_N_IMAGES
    climb: bool = True
    method: str = "improvedtangent"
    interpolation: str = "idpp"
    fmax_eV_A: float = DEFAULT_FMAX_EV_A
    max_steps: int = DEFAULT_MAX_STEPS
    optimizer: str = "FIRE"
    gpaw_band_start: str = "ml"

    def __post_init__(self) -> None:
        check_band_settings(
            self.n_images,
            self.method,
            self.interpolation,
            self.fmax_eV_A,
            self.max_steps,
            self.optimizer,
            self.gpaw_band_start,
        )

    def key_dict(self) -> dict:
        """The options as they enter the task key: ``gpaw_band_start`` only when
        not "ml" (tasks computed before it existed keep their keys)."""
        out = asdict(self)
        if out["gpaw_band_start"] == "ml":
            del out["gpaw_band_start"]
        return out


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
        **{f"band_force_calls_{k}": v for k, v in result.band_force_calls.items()},
        "gpaw_band_start": result.gpaw_band_start if result.engine == "gpaw" else None,
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
    if folder is not None and options.gpaw_band_start != "ml":
        # the DFT-only band relaxes the same endpoints as the ML-start one: take
        # them from that task when it has them (ML and GPAW endpoints only)
        folder.mkdir(parents=True, exist_ok=True)
        _seed_from_barrier_task(
            task,
            engine,
            settings,
            folder,
            replace(options, gpaw_band_start="ml").key_dict(),
            patterns=ENDPOINT_FILES,
            finished_only=False,
        )
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
        gpaw_band_start=options.gpaw_band_start,
    )
    return barrier_outcome(task.label, result, folder)


def barrier_options(**options) -> dict:
    """The options dict of a barrier task (defaults filled in), as a spec makes it."""
    return BarrierOptions(**options).key_dict()


def _not_built_rows(campaign) -> list[dict]:
    """Table rows of the paths (``migration_path`` builder) the builder refused,
    once per path (the ``hessian_path`` repeats are left out)."""
    out = []
    for entry in campaign.entries():
        task = entry.task
        params = task.params
        if task.build_error is None or params.get("builder") != "migration_path":
            continue
        out.append(
            not_built_row(
                params.get("pathway", ""),
                params.get("metal", ""),
                params.get("spacing_A"),
                task.build_error,
            )
        )
    return out


def write_outputs(campaign) -> list[dict]:
    """The ``barriers`` layout: table and figures from the campaign's database."""
    rows, failed = campaign.model_rows()
    spec = campaign.spec
    title = spec.title or spec.name
    md_rows = [r for r in rows if r.get("task_kind") == "md_diffusion"]
    rows = [r for r in rows if r.get("task_kind") != "md_diffusion"]
    # one barrier row per path: the Hessian-convergence rows repeat their band
    main = [r for r in rows if not (r.get("hessian_shell") or 0) > 0]
    table = write_barrier_outputs(
        main,
        failed,
        campaign.root,
        title,
        engine_line=spec.engine.describe(),
        not_built=_not_built_rows(campaign),
    )
    diffusion_rows = [r for r in rows if r.get("task_kind") == TASK_KIND_DIFFUSION]
    if diffusion_rows or md_rows:
        write_diffusion_outputs(diffusion_rows, md_rows, campaign.root, title)
    return table


# --- diffusion: barrier + harmonic TST -------------------------------------------
TASK_KIND_DIFFUSION = "diffusion"
#: temperatures (K) of the stored D(T) (Arrhenius plots; 300 K is a column)
DIFFUSION_TEMPERATURES_K: tuple[float, ...] = tuple(
    float(t) for t in range(200, 1201, 50)
)
#: barrier checkpoint files reused from a finished ``barrier`` task of the same
#: structure, engine, relaxation and NEB settings
_BARRIER_FILES = (
    "barrier.*.json",
    "endpoints.traj",
    "band-*.traj",
    "band-*.json",
    "endpoint-gpaw-*.traj",
)
#: the relaxed endpoints (ML, then GPAW one by one) of a barrier task folder
ENDPOINT_FILES = ("endpoints.traj", "endpoint-gpaw-*.traj")


@dataclass(frozen=True)
class DiffusionOptions(BarrierOptions):
    """NEB settings (:class:`BarrierOptions`) plus the harmonic-TST Hessian.

    Attributes
    ----------
    hessian_shell : float
        Atoms in the Hessian: the hopping atom and every free atom within
        ``hessian_shell`` x d_nn of it at the minimum or at the saddle (d_nn: the
        hopping atom's nearest-neighbour distance at the minimum); 0 = the hopping
        atom alone.  The others stay in place at both states.
    delta_A : float
        Finite displacement of the Hessian (A).
    imaginary_tolerance_THz : float
        Frequencies above -tolerance count as real.
    """

    hessian_shell: float = 0.0
    delta_A: float = DEFAULT_DELTA_A
    imaginary_tolerance_THz: float = DEFAULT_IMAGINARY_TOLERANCE_THZ

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.hessian_shell < 0:
            raise ValueError(f"hessian_shell must be >= 0, got {self.hessian_shell}")
        if not 0.001 <= self.delta_A <= 0.05:
            raise ValueError(f"delta_A must be within 0.001-0.05 A, got {self.delta_A}")

    def barrier_options(self) -> dict:
        """The options of the ``barrier`` task of the same band (its key's)."""
        names = {f.name for f in fields(BarrierOptions)}
        return {k: v for k, v in self.key_dict().items() if k in names}


def _seed_from_barrier_task(
    task,
    engine,
    settings,
    folder: Path,
    twin_options: dict,
    patterns: tuple[str, ...] = _BARRIER_FILES,
    finished_only: bool = True,
) -> None:
    """Copy the checkpoints (``patterns``) of the ``barrier`` task of the same
    structure, engine and relaxation with ``twin_options`` (its content address in
    the same tasks folder) into ``folder``, so that nothing is computed twice:
    a finished band for ``diffusion`` tasks, the relaxed endpoints (finished or
    not) for a DFT-only band.  ``barrier`` checks them (settings hash) and
    recomputes whatever does not match; files already in ``folder`` are kept."""
    from ..tasks import RelaxTask

    if any(folder.glob("barrier.*.json")) or engine is None:
        return
    twin = RelaxTask(
        task.label,
        task.role,
        task.atoms,
        task.params,
        kind=TASK_KIND_BARRIER,
        options=twin_options,
    )
    # any label: the key alone identifies the structure and settings
    key = twin.key(engine, settings)
    sources = [p for p in folder.parent.glob(f"*.{key}") if p.is_dir()]
    if finished_only:
        sources = [p for p in sources if any(p.glob("barrier.*.json"))]
    if not sources:
        return
    for pattern in patterns:
        for path in sources[0].glob(pattern):
            target = folder / path.name
            if not target.exists():
                shutil.copy2(path, target)


def _hop_geometry(info: dict) -> dict:
    """z, d and species of a path: ``info`` keys ``hop_multiplicity``,
    ``diffusion_dimension``, ``diffusing_species`` when given, else the pathway's
    (:data:`~alkali_layers.builders.pathways.HOP_GEOMETRY`)."""
    if "hop_multiplicity" in info:
        return dict(
            multiplicity=int(info["hop_multiplicity"]),
            dimension=int(info["diffusion_dimension"]),
            species=str(info.get("diffusing_species", "metal atom")),
        )
    return hop_geometry(info["pathway"])


def run_diffusion(task, engine, calc, settings, folder: Path | None) -> TaskOutcome:
    """Barrier (reused or computed), then Hessians at the minimum and the saddle,
    Vineyard prefactor and D(T) (:mod:`alkali_layers.calculators.diffusion`)."""
    options = DiffusionOptions(**task.options)
    if folder is not None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        _seed_from_barrier_task(
            task, engine, settings, folder, options.barrier_options()
        )
    task_b = copy(task)
    task_b.options = options.barrier_options()
    outcome = run_barrier(task_b, engine, calc, settings, folder)
    result = BarrierResult.from_dict(outcome.data)
    info = task.atoms.info
    geo = _hop_geometry(info)
    outcome.values.update(
        diffusing_species=geo["species"],
        hop_multiplicity=geo["multiplicity"],
        diffusion_dimension=geo["dimension"],
    )
    if not result.converged or folder is None or result.barrier_fwd_eV is None:
        outcome.reason = (outcome.reason + "; " if outcome.reason else "") + (
            "no prefactor without a converged band"
        )
        return outcome
    band = read(str(folder / result.images_file), index=":")
    minimum, saddle = band[0], band[result.saddle_index]
    if result.saddle_index in (0, len(band) - 1):
        outcome.reason = "the highest image is an endpoint: no saddle, no prefactor"
        outcome.data["htst"] = None
        return outcome
    hop = int(info["hop_atom"])
    fixed = [int(i) for i in info.get("neb_fixed", [])]
    others = [i for i in range(len(minimum)) if i != hop]
    d_nn = float(minimum.get_distances(hop, others, mic=True).min())
    indices = hessian_indices(
        minimum, hop, options.hessian_shell * d_nn, fixed=fixed, others=[saddle]
    )
    remove = len(indices) == len(minimum) and not fixed and bool(minimum.pbc.all())
    freqs, hop_only = {}, {}
    k = indices.index(hop)
    for name, atoms in (("minimum", minimum), ("saddle", saddle)):
        atoms = atoms.copy()
        atoms.calc = None
        h = hessian(
            atoms, calc, indices, options.delta_A, folder=folder, name=f"vib-{name}"
        )
        masses = atoms.get_masses()[indices]
        freqs[name] = frequencies_from_hessian(h, masses, remove)
        # the hopping atom's own 3x3 block: Vineyard's one-particle limit
        block = h[3 * k : 3 * k + 3, 3 * k : 3 * k + 3]
        hop_only[name] = frequencies_from_hessian(block, masses[[k]])
    try:
        nu_hop = vineyard_prefactor(
            hop_only["minimum"], hop_only["saddle"], options.imaginary_tolerance_THz
        )
    except DiffusionInputError:
        nu_hop = None
    htst_result = htst(
        freqs["minimum"],
        freqs["saddle"],
        barrier_eV=result.barrier_fwd_eV,
        hop_length_A=float(info["hop_length_A"]),
        multiplicity=geo["multiplicity"],
        dimension=geo["dimension"],
        diffusing_species=geo["species"],
        temperatures_K=DIFFUSION_TEMPERATURES_K,
        indices=indices,
        remove_translations=remove,
        delta_A=options.delta_A,
        imaginary_tolerance_THz=options.imaginary_tolerance_THz,
    )
    outcome.data["htst"] = htst_result.to_dict()
    outcome.data["htst"]["hop_only_THz"] = {
        name: [float(x) for x in f] for name, f in hop_only.items()
    }
    kt300 = KB_EV_K * 300.0
    outcome.values.update(
        hessian_shell=options.hessian_shell,
        hessian_atoms=len(indices),
        saddle_imaginary_THz=float(min(freqs["saddle"])),
        minimum_lowest_THz=float(min(freqs["minimum"])),
        Ea_over_kT_300K=result.barrier_fwd_eV / kt300,
    )
    if nu_hop is not None:
        outcome.values["prefactor_hop_only_THz"] = nu_hop
    if htst_result.prefactor_THz is None:
        outcome.reason = f"no prefactor: {htst_result.reason}"
        return outcome
    outcome.values.update(
        prefactor_THz=htst_result.prefactor_THz,
        rate_300K_per_s=float(
            hop_rate_per_s(htst_result.prefactor_THz, result.barrier_fwd_eV, 300.0)
        ),
        D_300K_cm2_s=htst_result.D_at(300.0),
    )
    return outcome


DIFFUSION_KIND = register_task_kind(
    TaskKind(
        TASK_KIND_DIFFUSION,
        "NEB barrier + Vineyard prefactor: harmonic-TST hop rate and D(T)",
        run_diffusion,
        uses_relax_settings=True,
        options=DiffusionOptions,
    )
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
# the same paths under a second name: a spec group computing other diffusion
# options (e.g. a larger Hessian) for some paths gets labels of its own
register_builder("hessian_path", migration_path)
register_layout("barriers", write_outputs)
# the adatom at a fixed graphene site (constrained relaxation: site energies) and
# the one-factor-at-a-time diagnosis of the graphene hop (runs/barriers/
# li_graphene_diagnosis)
register_builder("adatom_site", adatom_site)
register_layout("barrier_diagnosis", write_diagnosis_outputs)
