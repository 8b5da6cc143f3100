"""The ``md_diffusion`` task kind: D(T) from the MSD of Langevin MD of a pathway.

The MD cross-check of the harmonic-TST diffusivities (kind ``diffusion``): a spec
names the builder ``md_path`` (the same structures as ``migration_path``, a second
name so that its labels differ from the barrier tasks' in one campaign) and
``tasks = ["md_diffusion"]``; the options (:class:`MDOptions`) enter the key.

One task relaxes the initial state of the path (the campaign's ``[relax]``, fixed
cell, the path's ``neb_fixed`` atoms held), then, for each temperature, runs
:func:`~alkali_layers.calculators.diffusion.md_run` (the same atoms held fixed) and
:func:`~alkali_layers.calculators.diffusion.msd_analysis` on the free metal atoms
(the vacancy's layer for vacancy paths; the vacancy site, the hop target, is an
extra site for hop counting).  d and the hop length come from the pathway
(:data:`~alkali_layers.builders.pathways.HOP_GEOMETRY`).

Files: ``relaxed.json``; ``md-<T>K/chunk-NNNN.traj`` (MD frames every
``interval`` steps, written chunk by chunk; a killed task resumes at its last
chunk); ``msd-<T>K.json`` (the analysis).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase.io import read, write

from ...builders.pathways import hop_geometry, migration_path, path_endpoints
from ...calculators.diffusion import MSDResult, md_run, msd_analysis
from ...calculators.relax import RelaxSettings, relax
from ...geometry import metal_mask
from ...jsonio import read_json, write_json_atomic
from ..registry import TaskKind, register_builder, register_task_kind
from ..tasks import TaskOutcome

TASK_KIND_MD = "md_diffusion"
RELAXED_FILE = "relaxed.json"


@dataclass(frozen=True)
class MDOptions:
    """Options of an ``md_diffusion`` task (all enter the key).

    Attributes
    ----------
    temperatures_K : list of float
        Temperatures of the runs (K), one run each.
    timestep_fs : float
        MD time step (fs).
    n_equilibrate, n_production : int
        Steps with the strong / weak Langevin friction (multiples of
        ``chunk_steps``).
    friction_equilibrate_per_fs, friction_per_fs : float
        Langevin friction (1/fs) while equilibrating / in production.
    chunk_steps, interval : int
        Steps per checkpoint chunk; steps between stored frames.
    seed : int
        Random seed (velocities, Langevin noise).
    """

    temperatures_K: list = (1000.0, 1300.0)
    timestep_fs: float = 2.0
    n_equilibrate: int = 200
    n_production: int = 1200
    friction_equilibrate_per_fs: float = 0.02
    friction_per_fs: float = 0.002
    chunk_steps: int = 100
    interval: int = 5
    seed: int = 1

    def __post_init__(self) -> None:
        temps = [float(t) for t in self.temperatures_K]
        if not temps or min(temps) <= 0:
            raise ValueError(f"temperatures_K must be positive, got {temps}")
        object.__setattr__(self, "temperatures_K", temps)
        if not 0 < self.timestep_fs <= 5:
            raise ValueError(
                f"timestep_fs must be in (0, 5] fs, got {self.timestep_fs}"
            )
        for name in ("n_equilibrate", "n_production"):
            if getattr(self, name) % self.chunk_steps:
                raise ValueError(f"{name} must be a multiple of chunk_steps")
        if self.chunk_steps % self.interval:
            raise ValueError("chunk_steps must be a multiple of interval")


def _relaxed_start(task, calc, settings: RelaxSettings, folder: Path | None):
    path = folder / RELAXED_FILE if folder is not None else None
    if path is not None and path.exists():
        return read(path)
    initial, _ = path_endpoints(task.atoms)
    fixed = [int(i) for i in initial.info.get("neb_fixed", [])]
    if fixed:
        from ase.constraints import FixAtoms

        initial.set_constraint(FixAtoms(indices=fixed))
    result = relax(
        initial,
        calc,
        settings,
        cell_mode="fixed",
        logfile=str(folder / "relax.log") if folder is not None else None,
    )
    if not result.converged:
        raise ValueError(
            f"the initial state did not relax (fmax {result.fmax_eV_A:.3f} eV/A)"
        )
    atoms = result.atoms
    if path is not None:
        write(path, atoms, format="json")
    return atoms


def mobile_atoms(atoms) -> list[int]:
    """The free metal atoms whose MSD is measured: for vacancy paths the hopping
    atom's layer (same tag), otherwise the hopping atom."""
    hop = int(atoms.info["hop_atom"])
    fixed = set(int(i) for i in atoms.info.get("neb_fixed", []))
    if hop_geometry(atoms.info["pathway"])["species"] != "vacancy":
        return [hop]
    tags = atoms.get_tags()
    same = np.nonzero(metal_mask(atoms) & (tags == tags[hop]))[0]
    return [int(i) for i in same if int(i) not in fixed]


def run_md_diffusion(task, engine, calc, settings, folder: Path | None) -> TaskOutcome:
    """Relax, then MD and MSD at every temperature (each resumes from the folder)."""
    if engine is not None and getattr(engine, "engine", "mlip") != "mlip":
        raise ValueError("md_diffusion runs on the fast ML engine only")
    if folder is None:
        raise ValueError("md_diffusion needs a task folder (its checkpoints)")
    options = MDOptions(**task.options)
    folder = Path(folder)
    start = _relaxed_start(task, calc, settings, folder)
    info = task.atoms.info
    geo = hop_geometry(info["pathway"])
    mobile = mobile_atoms(task.atoms)
    fixed = [int(i) for i in info.get("neb_fixed", [])]
    extra = [info["hop_target_A"]] if geo["species"] == "vacancy" else []
    values: dict = {"n_mobile": len(mobile)}
    data: dict = {"options": task.options, "mobile": mobile, "runs": []}
    for t in options.temperatures_K:
        tag = f"{t:g}K"
        out = folder / f"msd-{tag}.json"
        stored = read_json(out)
        if stored is None:
            frames = md_run(
                start,
                calc,
                t,
                folder / f"md-{tag}",
                timestep_fs=options.timestep_fs,
                n_equilibrate=options.n_equilibrate,
                n_production=options.n_production,
                chunk_steps=options.chunk_steps,
                interval=options.interval,
                friction_equilibrate_per_fs=options.friction_equilibrate_per_fs,
                friction_per_fs=options.friction_per_fs,
                fixed=fixed,
                seed=options.seed,
            )
            res: MSDResult = msd_analysis(
                frames,
                mobile,
                t,
                hop_length_A=float(info["hop_length_A"]),
                dimension=geo["dimension"],
                sites=np.vstack([start.positions[mobile], np.reshape(extra, (-1, 3))]),
            )
            stored = res.to_dict()
            write_json_atomic(out, stored)
        data["runs"].append(stored)
        key = f"{int(round(t))}K"
        values[f"md_D_{key}_cm2_s"] = (
            stored["D_collective_cm2_s"]
            if geo["species"] == "vacancy"
            else stored["D_tracer_cm2_s"]
        )
        values[f"md_D_err_{key}_cm2_s"] = (
            stored["D_collective_err"]
            if geo["species"] == "vacancy"
            else stored["D_tracer_err"]
        )
        values[f"md_D_tracer_{key}_cm2_s"] = stored["D_tracer_cm2_s"]
        values[f"md_hops_{key}"] = stored["n_hops"]
        values[f"md_T_mean_{key}"] = stored["mean_temperature_K"]
    return TaskOutcome(
        label=task.label,
        ok=True,
        atoms=start,
        energy_eV=float(start.get_potential_energy()),
        converged=True,
        cell_mode="fixed",
        values=values,
        data=data,
    )


MD_KIND = register_task_kind(
    TaskKind(
        TASK_KIND_MD,
        "Langevin MD of a migration path's initial state; D(T) from the MSD",
        run_md_diffusion,
        uses_relax_settings=True,
        options=MDOptions,
    )
)
register_builder("md_path", migration_path)
