"""Charge-transfer runs: Bader charges and density differences of relaxed models.

A charge run takes relaxed structures (the ``model`` rows of a campaign's
``results.db``, or structure files) and, for each, runs
:func:`alkali_layers.calculators.charges.charge_analysis` with GPAW at the geometry
as stored (no further relaxation).  Every model is a task folder
``<out>/tasks/<label>.<key>/`` with the GPAW logs and an atomically written
``result.json``; the key hashes the structure, the GPAW settings and the grid
refinement, so a rerun skips finished models, resumes an interrupted run and never
overwrites a finished result (a failed one is kept as ``result.<time>.json`` and
retried).  Under ``mpiexec -n N`` every rank computes and rank 0 writes.

Tables and figures are written from the result files only
(:mod:`alkali_layers.analysis.charges`).
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ase import Atoms

from ..engines import GPAWSettings
from ..provenance import engine_versions, source_revision
from ..settings import (
    plain,
    stable_hash,
    structure_hash,
)
from .tasks import (
    RESULT_FILE,
    archive_result,
    failure_reason,
    read_json,
    write_json_atomic,
)

TASKS_DIR = "tasks"
#: Row fields of a campaign database copied into ``atoms.info`` of a charge job.
INFO_KEYS = ("host", "metal", "n_layers", "stacking", "supercell", "stoichiometry")


@dataclass
class ChargeJob:
    """One relaxed model to analyse: its label, structure and where it came from."""

    label: str
    atoms: Atoms
    source: str

    def key(
        self,
        settings: GPAWSettings,
        gridrefinement: int,
        with_drho: bool = True,
        signed_zeros: bool = False,
    ) -> str:
        """Content key of the analysis; ``signed_zeros``: the key results computed
        before 2026-12-02 carry (:func:`~alkali_layers.settings.
        structure_hash` with ``signed_zeros``), under which they are still found."""
        structure = structure_hash(self.atoms, signed_zeros=signed_zeros)
        payload = {
            "kind": "charges",
            "structure": structure,
            "gpaw": settings.settings_hash(),
            "gridrefinement": gridrefinement,
        }
        if not with_drho:  # the Bader-only analysis (keys of full ones unchanged)
            payload["with_drho"] = False
        return stable_hash(payload)


def jobs_from_campaign(directory: Path | str) -> list[ChargeJob]:
    """The relaxed models (rows with role "model" and status "ok") of a campaign."""
    from ase.db import connect

    directory = Path(directory)
    db = directory / "results.db"
    if not db.exists():
        raise FileNotFoundError(
            f"{db} does not exist: run the campaign first (alkali-layers run "
            f"{directory})"
        )
    jobs = []
    for row in connect(str(db)).select(role="model", status="ok"):
        if row.get("superseded_by"):  # an earlier structure of the same model
            continue
        atoms = row.toatoms()
        atoms.info.update({k: row.get(k) for k in INFO_KEYS if row.get(k) is not None})
        jobs.append(ChargeJob(row.label, atoms, f"{directory}#{row.task_key}"))
    if not jobs:
        raise ValueError(f"{db} holds no finished model; nothing to analyse")
    return jobs


def jobs_from_sources(sources) -> list[ChargeJob]:
    """Jobs from campaign directories and structure files (any ASE format)."""
    from ase.io import read

    jobs: list[ChargeJob] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            jobs.extend(jobs_from_campaign(path))
        elif path.exists():
            jobs.append(ChargeJob(path.stem, read(path), str(path)))
        else:
            raise FileNotFoundError(
                f"{source}: neither a campaign directory nor a structure file"
            )
    labels = [j.label for j in jobs]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise ValueError(f"duplicate model labels across sources: {dupes}")
    return jobs


def job_folder(out: Path, job: ChargeJob, settings: GPAWSettings, gridref: int):
    """The job's folder; one written before 2026-12-02 under the signed-zero key
    (the same analysis) is used where it exists, so finished work resumes."""
    folder = Path(out) / TASKS_DIR / f"{job.label}.{job.key(settings, gridref)}"
    legacy = folder.with_name(
        f"{job.label}.{job.key(settings, gridref, signed_zeros=True)}"
    )
    return legacy if legacy.is_dir() and not folder.exists() else folder


def run_charge_job(
    job: ChargeJob,
    settings: GPAWSettings,
    folder: Path,
    gridrefinement: int = 2,
    cubes: bool = False,
) -> dict:
    """Analyse one job into ``folder/result.json`` (kept when already ok)."""
    from ase.parallel import world

    from ..calculators.charges import charge_analysis

    existing = read_json(folder / RESULT_FILE)
    if existing is not None and existing.get("status") == "ok":
        return existing
    master = world.rank == 0
    if master:
        folder.mkdir(parents=True, exist_ok=True)
        archive_result(folder)
    t0 = time.perf_counter()
    result = {
        "format": "alkali_layers.charges/1",
        "key": folder.name.rsplit(".", 1)[-1],
        "label": job.label,
        "source": job.source,
        "formula": job.atoms.get_chemical_formula(),
        "n_atoms": len(job.atoms),
        "info": {k: job.atoms.info[k] for k in INFO_KEYS if k in job.atoms.info},
        "gpaw_settings": asdict(settings),
        "gridrefinement": gridrefinement,
    }
    try:
        data = charge_analysis(job.atoms, settings, gridrefinement, folder, cubes)
        result.update(status="ok", **data)
    except Exception as err:  # noqa: BLE001 - one model's failure is its result
        result.update(status="failed", reason=failure_reason(err))
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    result["mpi_ranks"] = world.size
    result["versions"] = engine_versions()
    result.update(source_revision())
    if master:
        write_json_atomic(folder / RESULT_FILE, plain(result))
    world.barrier()
    return result


def run_charges(
    jobs: list[ChargeJob],
    out: Path | str,
    settings: GPAWSettings,
    gridrefinement: int = 2,
    cubes: bool = False,
    stream=None,
) -> list[dict]:
    """Analyse every job not yet done under ``out``; return all results in order."""
    from ase.parallel import world

    if not isinstance(settings, GPAWSettings):
        raise TypeError(
            "charges need the DFT engine ('gpaw'): the ML engine has no electron "
            "density"
        )
    stream = sys.stdout if stream is None else stream
    say = (
        (lambda text: print(text, file=stream, flush=True))
        if world.rank == 0
        else (lambda text: None)
    )
    out = Path(out)
    results = []
    t_start = time.perf_counter()
    for i, job in enumerate(jobs, 1):
        folder = job_folder(out, job, settings, gridrefinement)
        done = read_json(folder / RESULT_FILE)
        if done is not None and done.get("status") == "ok":
            say(f"  [{i}/{len(jobs)}] {job.label}: done before")
            results.append(done)
            continue
        say(f"  [{i}/{len(jobs)}] {job.label} ({len(job.atoms)} atoms) ...")
        result = run_charge_job(job, settings, folder, gridrefinement, cubes)
        elapsed = (time.perf_counter() - t_start) / 60
        if result["status"] == "ok":
            layers = " / ".join(
                f"{x['per_atom_e']:+.2f}" for x in result["summary"]["layers"]
            )
            say(
                f"      Bader per metal layer {layers} e/atom, dq_z "
                + " / ".join(f"{q:.2f}" for q in result["dq_z_per_atom_e"])
                + f" e/atom ({result['wall_s']:.0f} s; elapsed {elapsed:.1f} min)"
            )
        else:
            say(f"      FAILED: {result['reason']}")
        results.append(result)
    return results
