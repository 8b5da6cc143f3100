"""The ``charges`` task kind: Bader charges and density differences of a model.

One task analyses one structure at its stored geometry by
:func:`~alkali_layers.calculators.charges.charge_analysis`: a GPAW SCF whose
all-electron density is partitioned by Bader analysis, and the host alone and the
metal alone for ``drho(z) = rho(host + M) - rho(host) - rho(M)``.  It needs
``[engine] name = "gpaw"`` and uses its ``final`` settings (``final = "fast"`` for
the fast preset); set ``prerelax = "none"``: the geometry is analysed as given.
Net charges are nuclear charge minus Bader population (e; positive = electrons
given away); the populations must add up to the electron count within 0.01 e
(docs/science/charges.md; runs/charges/README.md).

The structures are the relaxed models of other campaigns: builder
``campaign_model(campaign, label)`` reads the finished row ``label`` of
``<campaign>/results.db`` (paths relative to the working directory, the repository
root).  The options (:class:`ChargeOptions`) enter the task key.  The finished
analysis is ``charges.json`` in the task folder (the format of ``alkali-layers
charges``); a folder holding it is read back, not recomputed, and
:func:`import_charge_results` adopts results of ``alkali-layers charges`` whose
key (structure, GPAW settings, grid refinement) is the task's.  With ``[engine]
error_bars = true`` a BEEF-vdW calculation at the same geometry adds the ensemble of
the energy (:mod:`alkali_layers.campaigns.error_bars`; a campaign that finished
without error bars computes only that when they are switched on).
"""

from __future__ import annotations

import inspect
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from ...calculators.charges import charge_analysis
from ...jsonio import write_json_atomic
from ...settings import plain
from ..charges import INFO_KEYS, ChargeJob
from ..error_bars import with_error_bars
from ..registry import TaskKind, register_builder, register_layout, register_task_kind
from ..store import ResultStore
from ..tasks import RESULT_FILE, TaskOutcome, builder_metadata, read_json

TASK_KIND_CHARGES = "charges"
CHARGES_FILE = "charges.json"
_ANALYSIS = inspect.signature(charge_analysis).parameters


@dataclass(frozen=True)
class ChargeOptions:
    """Options of a ``charges`` task.

    Attributes
    ----------
    gridrefinement : int
        Refinement of the all-electron density grid (GPAW; default that of
        :func:`~alkali_layers.calculators.charges.charge_analysis`).
    with_drho : bool
        Also the host alone and the metal alone, for drho(z) (three SCFs); False:
        the model's SCF only (Bader charges and its total energy, a third of the
        cost; empty hosts allowed).  Enters the task key only when False.
    """

    gridrefinement: int = _ANALYSIS["gridrefinement"].default
    with_drho: bool = _ANALYSIS["with_drho"].default

    def __post_init__(self) -> None:
        g = self.gridrefinement
        if isinstance(g, bool) or not isinstance(g, int) or g not in (1, 2, 4):
            raise ValueError(f"gridrefinement must be 1, 2 or 4, got {g!r}")
        if not isinstance(self.with_drho, bool):
            raise ValueError(f"with_drho must be true or false, got {self.with_drho!r}")

    def key_dict(self) -> dict:
        """The options as they enter the task key: ``with_drho`` only when False
        (tasks computed before it existed keep their keys)."""
        out = asdict(self)
        if out["with_drho"]:
            del out["with_drho"]
        return out


def campaign_model(campaign: str, label: str) -> Atoms:
    """The relaxed model ``label`` of the campaign in directory ``campaign``.

    Reads the finished (status ok) model row of ``<campaign>/results.db``; the
    metadata its builder gave it (host, metal, layers, stacking, supercell, phase,
    strains, ...: :func:`~alkali_layers.campaigns.tasks.builder_metadata`) goes to
    ``info``, so layouts that read it (e.g. "heterostructure") work on a campaign
    of such models, and ``info["source"]`` names the row (``<campaign>#<task
    key>``).
    """
    db = Path(campaign) / "results.db"
    if not db.exists():
        raise FileNotFoundError(
            f"{db} does not exist: run that campaign first (alkali-layers run "
            f"{campaign}), from the repository root"
        )
    row = ResultStore(db).current(label)
    atoms = row.toatoms()
    atoms.info.update(builder_metadata(row))
    atoms.info["source"] = f"{campaign}#{row.task_key}"
    return atoms


def _label(task) -> str:
    return task.params.get("label", task.label)


def run_charges(task, engine, calc, settings, folder) -> TaskOutcome:
    """Analyse ``task.atoms`` (module docstring); reads back a finished analysis."""
    from ase.parallel import world

    if engine is None or getattr(engine, "engine", "") != "gpaw":
        raise ValueError(
            "charges need the DFT engine ([engine] name = 'gpaw'): the ML engine has "
            "no electron density"
        )
    options = ChargeOptions(**task.options)
    folder = Path(folder) if folder is not None else None
    done = read_json(folder / CHARGES_FILE) if folder is not None else None
    if done is None or done.get("status") != "ok":
        t0 = time.perf_counter()
        done = {
            "format": "alkali_layers.charges/1",
            "key": charge_keys(task.atoms, engine, options)[0],
            "label": _label(task),
            "source": task.atoms.info.get("source", ""),
            "formula": task.atoms.get_chemical_formula(),
            "n_atoms": len(task.atoms),
            "info": {k: task.atoms.info[k] for k in INFO_KEYS if k in task.atoms.info},
            "gpaw_settings": asdict(engine.final),
            "gridrefinement": options.gridrefinement,
            "with_drho": options.with_drho,
            "status": "ok",
            **charge_analysis(
                task.atoms,
                engine.final,
                options.gridrefinement,
                folder,
                with_drho=options.with_drho,
            ),
        }
        done["wall_s"] = round(time.perf_counter() - t0, 1)
        done = plain(done)
        if folder is not None and world.rank == 0:
            write_json_atomic(folder / CHARGES_FILE, done)
    elif done.get("key") not in charge_keys(task.atoms, engine, options):
        raise ValueError(
            f"{folder / CHARGES_FILE} is the analysis of another structure or "
            "settings (its key differs): delete it to rerun"
        )
    atoms = task.atoms.copy()
    atoms.calc = SinglePointCalculator(atoms, energy=done["energy_eV"])
    layers = done["summary"]["layers"]
    values = {
        "bader_metal_e_per_atom": sum(x["net_charge_e"] for x in layers)
        / max(1, sum(x["n_atoms"] for x in layers)),
        "bader_sum_error_e": done["bader_sum_error_e"],
        "drho_integral_e": done["drho_integral_e"],
    }
    return TaskOutcome(
        label=task.label,
        ok=True,
        atoms=atoms,
        energy_eV=float(done["energy_eV"]),
        converged=True,
        wall_s=float(done.get("wall_s", 0.0)),
        cell_mode="fixed",
        values=values,
        data=done,
    )


def charge_keys(atoms: Atoms, engine, options: ChargeOptions) -> tuple[str, str]:
    """The keys ``alkali-layers charges`` gives this analysis (structure, GPAW
    settings, grid refinement), today's and the one of results computed before
    2026-12-02 (signed zeros): what an imported result must match."""
    job = ChargeJob("", atoms, "")
    return tuple(
        job.key(engine.final, options.gridrefinement, options.with_drho, signed)
        for signed in (False, True)
    )


def import_charge_results(campaign, source) -> dict[str, str]:
    """Adopt finished results of ``alkali-layers charges`` (``<source>/tasks/*/
    result.json``) for the unfinished ``charges`` tasks whose key they carry (same
    structure, GPAW settings and grid refinement); returns label -> source file of
    every adopted result.  Nothing else is touched."""
    found = {}
    for path in sorted(Path(source).glob("tasks/*/result.json")):
        data = read_json(path)
        if data is not None and data.get("status") == "ok" and data.get("key"):
            found[data["key"]] = (path, data)
    campaign.write_task_files()
    adopted = {}
    for entry in campaign.entries():
        if entry.task.kind != TASK_KIND_CHARGES or entry.task.atoms is None:
            continue
        done = read_json(entry.folder / RESULT_FILE)
        if (done is not None and done.get("status") == "ok") or (
            entry.folder / CHARGES_FILE
        ).exists():
            continue
        options = ChargeOptions(**entry.task.options)
        key = next(
            (
                k
                for k in charge_keys(entry.task.atoms, entry.engine, options)
                if k in found
            ),
            None,
        )
        if key is not None:
            path, data = found[key]
            write_json_atomic(entry.folder / CHARGES_FILE, data)
            adopted[entry.label] = str(path)
    return adopted


def write_charges_outputs(campaign) -> list[dict]:
    """The ``charges`` layout: charges.csv/.md, density_difference.png and
    layer_charges.png (+ CSV) from the database
    (:func:`~alkali_layers.analysis.charges.write_charge_outputs`)."""
    from ...analysis.charges import charge_table, write_charge_outputs

    rows, failed = campaign.model_rows()
    results = [r["data"] for r in rows if r.get("task_kind") == TASK_KIND_CHARGES]
    results += [
        {"label": label, "status": "failed", "reason": reason}
        for label, reason in failed
    ]
    final = campaign.spec.engine.final
    sources = list(
        dict.fromkeys(g.params.get("campaign", "") for g in campaign.spec.models)
    )
    grids = sorted({g.options.get("gridrefinement") for g in campaign.spec.models})
    notes = [
        f"{final.describe()} [{final.settings_hash()}], single points at the stored "
        f"geometries of: {', '.join(s for s in sources if s)}; all-electron density "
        f"at grid refinement {', '.join(map(str, grids))}; Bader partitioning by "
        "pybader."
    ]
    pending = [
        s.entry.label for s in campaign.status() if s.state not in ("done", "failed")
    ]
    if pending:
        notes.append(f"Not analysed yet: {', '.join(pending)}.")
    write_charge_outputs(results, campaign.root, campaign.spec.title, notes)
    return charge_table(results)


register_builder("campaign_model", campaign_model)
register_layout(TASK_KIND_CHARGES, write_charges_outputs)
register_task_kind(
    TaskKind(
        TASK_KIND_CHARGES,
        "Bader charges and density difference at the stored geometry (GPAW)",
        with_error_bars(run_charges),
        uses_relax_settings=False,
        options=ChargeOptions,
    )
)
