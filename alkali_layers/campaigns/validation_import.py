"""Import the checkpoints of the pre-campaign ``alkali-layers validate`` into the
validation campaigns, and run those campaigns the way that command did.

The retired command kept one JSON per structure,
``<out>/logs/done-<GPAWSettings hash>-<RelaxSettings hash>/<tag>-<label>.json``
(tag: the treatment, e.g. ``PBE_D3BJ``; label: ``bcc-Li``, ``graphite-AB``,
``graphene``, ``graphite-AA``, ``LiC6`` ...).  :func:`import_validation_checkpoints`
gives a task of a validation campaign (:mod:`alkali_layers.campaigns.kinds.
validation`) the checkpoint that is verifiably its computation:

1. **same settings**: the GPAW settings hash of the folder is the task's (its
   ``final`` = ``relax`` settings, no ML pre-relaxation, per-group overrides such
   as the ``li-sc`` setup included), and so is the relaxation settings hash;
2. **same label**: the task's builder and parameters name the checkpoint (bcc
   metal, AB graphite + graphene sheet, AA graphite, compound by stoichiometry);
3. **same structure**: the stored relaxed atoms have the symbols of the structure
   the builder makes now, in order, and a cell its cell mode allows; a checkpoint
   written before atoms were kept is adopted only where the structure is rebuilt
   exactly from its numbers (no atom has a free internal coordinate by symmetry:
   bcc metals, graphite with c-only cells), and its numbers (a, c, spacing, n_C)
   must be its structure's.

A verified checkpoint becomes the task's ``result.json`` (its provenance names the
source files, their sha256 and their own provenance; also ``imported.json``) and
is collected into the database; anything else stays pending with its reason and
the campaign computes it.  Finished results are never overwritten.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io.jsonio import decode

from ..calculators.relax import default_cell_mode
from ..engines.settings import energy_settings
from ..geometry import gallery_height
from ..jsonio import write_json_atomic
from ..workflows.validation import (
    bcc_lattice_constant_A,
    checkpoint_tag,
    interlayer_spacing_A,
    treatment_name,
)
from .kinds.validation import (
    TASK_KIND_COHESIVE,
    TASK_KIND_GRAPHITE_BINDING,
    VALIDATION_LAYOUT,
    _is_gpaw,
    binding_values,
    cohesive_values,
    protocol_of,
)
from .tasks import RESULT_FILE, TaskOutcome, now, outcome_to_result, read_json

#: what the import adopted into a task folder (source, sha256, checks)
IMPORTED_FILE = "imported.json"


@dataclass
class ImportReport:
    """What happened to one task: ``status`` "imported", "done" (had a result) or
    "pending" (nothing verified; ``reason`` says why, the campaign recomputes it)."""

    label: str
    status: str
    source: str = ""
    reason: str = ""
    checks: dict = field(default_factory=dict)


def old_checkpoints(sources) -> dict[tuple[str, str, str], Path]:
    """``(GPAW settings hash, relax settings hash, "<tag>-<label>") -> path`` of
    every checkpoint ``<source>/done-<gpaw hash>-<relax hash>/<tag>-<label>.json``."""
    found = {}
    for source in sources:
        for path in sorted(Path(source).glob("done-*-*/*.json")):
            parts = path.parent.name.split("-")
            if len(parts) == 3:
                found[(parts[1], parts[2], path.stem)] = path
    return found


def old_labels(task) -> list[str]:
    """The checkpoint labels of the retired command that hold ``task``'s result
    (the builder and its parameters decide; empty when it computed no such task)."""
    info = task.atoms.info if task.atoms is not None else {}
    builder = task.params.get("builder")
    if task.kind == TASK_KIND_COHESIVE and builder == "bulk_metal":
        return [f"bcc-{info.get('metal')}"]
    if task.kind == TASK_KIND_GRAPHITE_BINDING and info.get("stacking") == "AB":
        return ["graphite-AB", "graphene"]
    if task.kind == "relax" and builder == "graphite":
        return [f"graphite-{info.get('stacking')}"]
    if task.kind == "relax" and builder == "graphite_intercalation":
        return [str(info.get("stoichiometry"))]
    return []


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def free_internal_coordinates(atoms: Atoms, symprec: float = 1e-5) -> list[int]:
    """Per atom, the number of position coordinates its site symmetry leaves free
    (0: the atom cannot move without breaking the structure's symmetry, so forces
    on it vanish and a relaxation that keeps the symmetry leaves it where it is).

    The site-symmetry group of atom i holds the space-group operations (spglib,
    via ``ase.spacegroup.symmetrize.check_symmetry``) that map it onto itself; the
    free displacements are the common null space of ``R - 1`` over them
    (Cartesian rotations ``R``).  AB/AA graphite: all 0; LiC6: 1 per carbon.
    """
    from ase.spacegroup.symmetrize import check_symmetry

    dataset = check_symmetry(atoms, symprec)
    lattice = atoms.cell.array.T
    to_cart = [
        lattice @ r @ np.linalg.inv(lattice) for r in np.asarray(dataset.rotations)
    ]
    free = []
    for frac in atoms.get_scaled_positions():
        blocks = []
        for r, rc, t in zip(
            dataset.rotations, to_cart, dataset.translations, strict=True
        ):
            shift = np.asarray(r) @ frac + t - frac
            if np.allclose(shift, np.round(shift), atol=10 * symprec):
                blocks.append(rc - np.eye(3))
        singular = np.linalg.svd(np.vstack(blocks), compute_uv=False)
        free.append(int(np.sum(singular < 1e-8)))
    return free


def _rebuilt(data: dict, built: Atoms, cell_mode: str) -> tuple[Atoms, str]:
    """The relaxed structure of a checkpoint that stored no atoms, rebuilt
    exactly from its numbers, or ``ValueError``: only where no atom has a free
    internal coordinate (:func:`free_internal_coordinates`) and the numbers give
    every cell degree of freedom of the cell mode (``hydrostatic``: the bcc
    ``a_A``; ``c``: ``c_A`` or the sheet ``spacing_A``)."""
    free = free_internal_coordinates(built)
    if any(free):
        raise ValueError(
            "no relaxed structure stored (the checkpoint predates stored atoms) and "
            f"{sum(1 for f in free if f)} of its {len(built)} atoms have free "
            "internal coordinates: it cannot be rebuilt from its numbers"
        )
    atoms = built.copy()
    if cell_mode == "hydrostatic" and "a_A" in data:
        scale = data["a_A"] / bcc_lattice_constant_A(built)
        atoms.set_cell(built.cell * scale, scale_atoms=True)
        how = "a_A"
    elif cell_mode == "c" and ("c_A" in data or "spacing_A" in data):
        c = data.get("c_A")
        if c is None:
            c = data["spacing_A"] * built.cell[2, 2] / interlayer_spacing_A(built)
        cell = built.cell.array.copy()
        cell[2] *= c / cell[2, 2]
        atoms.set_cell(cell, scale_atoms=True)
        how = "c"
    else:
        raise ValueError(
            f"no relaxed structure stored and its numbers do not give the cell of "
            f"cell mode {cell_mode!r}"
        )
    return atoms, (
        f"rebuilt from the stored {how} (no free internal coordinates by symmetry; "
        f"cell mode {cell_mode!r}): exact"
    )


def _relaxed_structure(data: dict, built: Atoms, cell_mode: str) -> tuple[Atoms, str]:
    """The relaxed structure of an old checkpoint, checked against the structure
    the builder makes now; (atoms, how it was obtained) or ``ValueError``.

    Stored atoms must have the built atoms' symbols in order and a cell the cell
    mode allows (``hydrostatic``: the built cell scaled; ``c``: the built in-plane
    vectors, c along z; ``ac``: the built in-plane vectors scaled, c along z).  A
    checkpoint without atoms is accepted only where the structure can be rebuilt
    exactly (:func:`_rebuilt`: bcc metals, graphite with c-only cells).
    """
    if data.get("atoms") is None:
        return _rebuilt(data, built, cell_mode)
    atoms = decode(json.dumps(data["atoms"]))
    if atoms.get_chemical_symbols() != built.get_chemical_symbols():
        raise ValueError(
            f"its structure {atoms.get_chemical_formula()} is not the built "
            f"{built.get_chemical_formula()} (symbols or order differ)"
        )
    cell, ref = atoms.cell.array, built.cell.array
    if cell_mode == "hydrostatic":
        s = np.linalg.norm(cell[0]) / np.linalg.norm(ref[0])
        ok = np.allclose(cell, s * ref, atol=1e-6)
    else:
        s = (
            1.0
            if cell_mode == "c"
            else np.linalg.norm(cell[0]) / np.linalg.norm(ref[0])
        )
        ok = np.allclose(cell[:2], s * ref[:2], atol=1e-6) and np.allclose(
            cell[2, :2], 0.0, atol=1e-6
        )
    if not ok:
        raise ValueError(
            f"its cell is not the built cell under cell mode {cell_mode!r} "
            "(another builder or protocol)"
        )
    atoms.set_tags(built.get_tags())
    atoms.info.update(built.info)
    return atoms, "stored atoms"


def _checked_numbers(label: str, data: dict, atoms: Atoms, built: Atoms) -> dict:
    """The checkpoint's own numbers must be those of its structure."""
    checks = {}

    def same(name, stored, value, tol=1e-6):
        if stored is None:
            return
        if abs(stored - value) > tol:
            raise ValueError(f"its {name} {stored} is not its structure's {value}")
        checks[name] = "consistent"

    if label.startswith("bcc-"):
        same("a_A", data.get("a_A"), bcc_lattice_constant_A(atoms))
    elif label.startswith("graphite-"):
        same("spacing_A", data.get("spacing_A"), interlayer_spacing_A(atoms))
    else:
        same("c_A", data.get("c_A"), float(atoms.cell[2, 2]))
        if data.get("n_C") != built.get_chemical_symbols().count("C"):
            raise ValueError(f"n_C {data.get('n_C')} is not the built structure's")
        checks["n_C"] = "consistent"
    return checks


def _energy(label: str, data: dict, atoms: Atoms) -> float:
    if "energy_eV" in data:
        return float(data["energy_eV"])
    return float(data["energy_eV_per_C"]) * len(atoms)  # graphite checkpoints


def verify_checkpoint(entry, found: dict) -> tuple[TaskOutcome, dict]:
    """The outcome the old checkpoint(s) give ``entry``'s task, after verifying
    them against it (same GPAW settings hash, relaxation settings hash, label, and
    the structure the builder makes now); raises ``ValueError`` with the reason."""
    engine, task = entry.engine, entry.task
    if not _is_gpaw(engine):
        raise ValueError("the old validation ran GPAW only")
    if engine.prerelax is not None or engine.relax != engine.final:
        raise ValueError(
            "the old validation relaxed and evaluated at one GPAW setting without ML "
            "pre-relaxation (set final = relax, prerelax = 'none')"
        )
    labels = old_labels(task)
    if not labels:
        raise ValueError("the old validation computed no such task")
    tag = checkpoint_tag(treatment_name(engine.final))
    g_hash, r_hash = engine.final.settings_hash(), entry.settings.settings_hash()
    paths = []
    for label in labels:
        path = found.get((g_hash, r_hash, f"{tag}-{label}"))
        if path is None:
            others = sorted(
                f"{p.parent.name}/{p.name}"
                for (g, r, name), p in found.items()
                if name == f"{tag}-{label}"
            )
            raise ValueError(
                f"no checkpoint {tag}-{label} with GPAW settings {g_hash} and "
                f"relaxation settings {r_hash}"
                + (f" (other settings: {', '.join(others)})" if others else "")
            )
        paths.append(path)
    stored = json.loads(paths[0].read_text())
    data = stored["data"]
    built = task.atoms
    cell_mode = default_cell_mode(built, entry.settings.layered_cell)
    atoms, how = _relaxed_structure(data, built, cell_mode)
    checks = {"structure": how, **_checked_numbers(labels[0], data, atoms, built)}
    energy = _energy(labels[0], data, atoms)
    atoms.calc = SinglePointCalculator(atoms, energy=energy)
    values: dict = {}
    if task.kind == TASK_KIND_COHESIVE:
        per_atom = energy / len(atoms)
        values = cohesive_values(atoms, energy, data["cohesive_eV"] + per_atom)
    elif task.kind == TASK_KIND_GRAPHITE_BINDING:
        sheet = json.loads(paths[1].read_text())["data"]
        values = binding_values(atoms, energy, float(sheet["energy_eV_per_C"]))
        if (
            data.get("a_A") is not None
            and abs(data["a_A"] - values["in_plane_a_A"]) > 1e-6
        ):
            raise ValueError("its a_A is not its structure's")
    try:
        height = gallery_height(atoms)
    except ValueError:
        height = None
    provenance = {
        "sources": [str(p) for p in paths],
        "sha256": [_sha256(p) for p in paths],
        "source_provenance": [
            json.loads(p.read_text()).get("provenance", {}) for p in paths
        ],
        "checks": checks,
        "imported": now(),
    }
    outcome = TaskOutcome(
        label=task.label,
        ok=True,
        atoms=atoms,
        energy_eV=energy,
        converged=bool(data.get("converged", False)),
        wall_s=float(data.get("wall_s", 0.0)),
        cell_mode=cell_mode,
        gallery_height_A=height,
        values=values,
        data={"imported": provenance},
    )
    return outcome, provenance


def import_validation_checkpoints(campaign, sources, stream=None) -> list[ImportReport]:
    """Adopt the verified checkpoints of the pre-campaign ``alkali-layers validate``
    (``<source>/done-<gpaw hash>-<relax hash>/<tag>-<label>.json``) for every
    unfinished task of ``campaign`` (see :func:`verify_checkpoint`): the result is
    written as the task's ``result.json`` (provenance: the source files, their
    sha256 and their own provenance, in ``imported.json`` too) and collected into
    the database.  A task with a result is left alone (never overwritten);
    anything unverified stays pending with its reason.  One process calls it (under
    MPI: rank 0, see :func:`run_validation_campaigns`)."""
    say = (
        (lambda line: print(line, file=stream, flush=True))
        if stream
        else (lambda line: None)
    )
    found = old_checkpoints(sources)
    campaign.write_task_files()
    reports = []
    for entry in campaign.entries():
        if entry.task.atoms is None:
            continue
        done = read_json(entry.folder / RESULT_FILE)
        if campaign.store.is_done(entry.key) or (
            done is not None and done.get("status") == "ok"
        ):
            reports.append(ImportReport(entry.label, "done"))
            continue
        try:
            outcome, provenance = verify_checkpoint(entry, found)
        except (ValueError, KeyError, OSError) as err:
            reports.append(ImportReport(entry.label, "pending", reason=str(err)))
            say(f"{entry.label}: pending: {err}")
            continue
        result = outcome_to_result(
            outcome, entry.key, entry.engine, entry.settings, provenance["imported"]
        )
        result["provenance"]["imported_from"] = provenance
        write_json_atomic(entry.folder / IMPORTED_FILE, provenance)
        write_json_atomic(entry.folder / RESULT_FILE, result)
        reports.append(
            ImportReport(
                entry.label,
                "imported",
                ", ".join(provenance["sources"]),
                checks=provenance["checks"],
            )
        )
        say(f"{entry.label}: imported from {', '.join(provenance['sources'])}")
    campaign.collect()
    return reports


def validation_campaigns(
    root: Path, treatments, layered_cell: str = "ac", li_semicore: bool = True
) -> list:
    """The ``validation`` campaigns below ``root`` of the given treatments and
    protocol; a clear error when there is none."""
    from .campaign import Campaign
    from .spec import SPEC_FILENAME, load_spec

    root = Path(root)
    found = []
    wanted = {"layered_cell": layered_cell, "li_semicore": li_semicore}
    for path in sorted(root.rglob(SPEC_FILENAME)):
        if "tasks" in path.relative_to(root).parts:
            continue
        spec = load_spec(path)
        if spec.analysis != VALIDATION_LAYOUT:
            continue
        final = energy_settings(spec.engine)
        if treatment_name(final) in treatments and protocol_of(spec) == wanted:
            found.append(Campaign(spec, stream=False))
    if not found:
        raise ValueError(
            f"no validation campaign below {root} for {', '.join(treatments)} with "
            f"layered_cell={layered_cell!r}, Li 1s "
            f"{'in the valence' if li_semicore else 'frozen'}: copy a spec from "
            "runs/validation/<protocol>/<treatment> and edit it"
        )
    return found


def run_validation_campaigns(
    root: Path,
    treatments,
    metals=None,
    layered_cell: str = "ac",
    li_semicore: bool = True,
    stream=None,
) -> list:
    """``alkali-layers validate``: for each matching campaign (see
    :func:`validation_campaigns`) adopt the verified old checkpoints of
    ``root/logs`` and ``<protocol folder>/logs``, run the unfinished tasks of
    ``metals`` (and of graphite) in this process and write the tables.

    Under MPI every rank computes each task (rank 0 writes its files, as
    ``python -m alkali_layers.task``); the database is read and written by rank 0
    alone (its ASE methods are made serial)."""
    from ase.parallel import broadcast, world

    from .worker import run_task_folder

    def say(line: str) -> None:
        if stream and world.rank == 0:
            print(line, file=stream, flush=True)

    root = Path(root)
    campaigns = validation_campaigns(root, treatments, layered_cell, li_semicore)
    for campaign in campaigns:
        campaign.store.db.serial = True  # rank 0 alone touches the database
        labels = None
        if world.rank == 0:
            sources = {root / "logs", campaign.root.parent / "logs"}
            import_validation_checkpoints(
                campaign, sorted(p for p in sources if p.is_dir()), stream
            )
            labels = [
                e.label
                for e in campaign.todo()
                if metals is None or e.task.atoms.info.get("metal") in (None, *metals)
            ]
        labels = broadcast(labels, root=0)
        say(f"{campaign.spec.name}: {len(labels)} to run: {', '.join(labels)}")
        for entry in campaign.entries():
            if entry.label in labels:
                result = run_task_folder(entry.folder)
                reason = result.get("reason", "")
                say(f"  {entry.label}: {result.get('status')} {reason}".rstrip())
        if world.rank == 0:
            campaign.collect()
            campaign.write_outputs()
            say(campaign.status_report())
        world.barrier()
    return campaigns


def import_and_report(spec_paths, sources) -> int:
    """``alkali-layers import-validation SPEC... --from DIR...``: import into each
    campaign and print what happened; returns the exit code."""
    from .campaign import Campaign

    for path in spec_paths:
        campaign = Campaign(path, stream=False)
        reports = import_validation_checkpoints(campaign, sources)
        counts = {
            s: sum(r.status == s for r in reports)
            for s in ("imported", "done", "pending")
        }
        print(
            f"{campaign.spec.name}: " + ", ".join(f"{n} {s}" for s, n in counts.items())
        )
        for r in reports:
            if r.status == "pending":
                print(f"  {r.label}: {r.reason}")
        if counts["imported"]:
            campaign.write_outputs()
    return 0
