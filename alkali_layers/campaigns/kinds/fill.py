"""The ``fill`` task kind: sequential filling of a pore model, checkpointed in its
task folder.

One task fills one pore (the built structure) with one metal by
:func:`~alkali_layers.workflows.filling.sequential_filling` and records ``E(n)``,
the configuration path and the voltage profile.  Its options
(:class:`FillOptions`, ``[models.options]`` of a spec) are the
:class:`~alkali_layers.workflows.filling.FillingSettings` (defaults there, one
source), the metal, and an optional rule that sizes the steps from the pore's
capacity; all of them enter the task key, so editing one gives a new task.  The
campaign's ``[relax]`` table does not apply (``uses_relax_settings=False``): the
fill relaxations are ``relax`` in the options, defaults
:data:`~alkali_layers.workflows.filling.DEFAULT_FILL_RELAX`, a partial table
overriding only the fields it names.

Files in the task folder
    ``filling.partial.json`` + ``.traj``: the checkpoint after every step (pore
    structure hash, settings, random-generator state; JSON and trajectory written as
    one unit, :meth:`FillingResult.write`); a killed task resumes from it exactly
    as the uninterrupted run would have continued.  ``filling.json`` + ``.traj``:
    the finished filling (the checkpoint is then removed); a task folder that holds
    it is not computed again: the outcome is read back after checking that it
    fills this pore (structure hash), with this metal and these settings.
    ``fill.log``: one line per candidate and step.

Energies in eV; voltages in V vs M+/M along the lower convex hull of
``E(n) - n mu_M`` (mu_M: the relaxed bcc metal, same engine;
:mod:`alkali_layers.analysis.hard_carbon`, docs/science/energies.md and
docs/science/hard-carbon.md);
capacities in mAh/g of host (C + H) unless ``_total``.

Also here: the ``fill_complete`` kind (a pore filled with all the layers that fit in
one go: the pore-size scan), the builder ``hard_carbon_pore`` (the pore models of
``runs/hard_carbon``) and the layout ``hard_carbon`` (table, voltage figures,
protocol check, pore-size scan).  Example spec group::

    [[models]]
    builder = "hard_carbon_pore"
    tasks = ["fill"]
    grid = { host = ["closed"], metal = ["Na"], protocol = ["strict"] }
    [models.options]
    metal = "Na"
    atoms_per_step = 4
    n_max = 16
    relax = { fmax_eV_A = 0.05, max_steps = 500 }
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from ...analysis.hard_carbon import (
    FillingRecord,
    average_voltage_V,
    filling_summary,
    write_filling_figures,
    write_pore_scan,
    write_protocol_check,
)
from ...builders.intercalation import DEFAULT_MAX_STRAIN
from ...builders.pores import closed_pore, fill_pore, max_layers, wedge_pore
from ...calculators.references import ReferenceEnergies
from ...calculators.relax import RelaxSettings, relax
from ...elements import check_metal
from ...settings import plain, stable_hash, structure_hash
from ...workflows.filling import (
    DEFAULT_FILL_RELAX,
    FillingResult,
    FillingSettings,
    sequential_filling,
)
from ..registry import TaskKind, register_builder, register_layout, register_task_kind
from ..tasks import TaskOutcome, relaxed_outcome

TASK_KIND_FILL = "fill"
TASK_KIND_FILL_COMPLETE = "fill_complete"
#: The finished filling in a task folder (JSON; the structures in ``.traj``).
FILL_RESULT = "filling.json"
#: The checkpoint written after every step.
FILL_CHECKPOINT = "filling.partial.json"
FILL_LOG = "fill.log"

_SETTINGS_FIELDS = tuple(f.name for f in fields(FillingSettings))


def _fill_relax(relax) -> RelaxSettings:
    """``relax`` as RelaxSettings: a (partial) table applies on top of
    :data:`DEFAULT_FILL_RELAX`."""
    if isinstance(relax, dict):
        known = {f.name for f in fields(RelaxSettings)}
        unknown = sorted(set(relax) - known)
        if unknown:
            raise ValueError(
                f"unknown relax option(s) {unknown}; "
                f"allowed: {', '.join(sorted(known))}"
            )
        relax = replace(DEFAULT_FILL_RELAX, **relax)
    if not isinstance(relax, RelaxSettings):
        raise ValueError(f"relax must be a table of RelaxSettings, got {relax!r}")
    return relax


@dataclass(frozen=True)
class FillOptions(FillingSettings):
    """Options of a ``fill`` task: :class:`FillingSettings` plus the metal.

    Every :class:`FillingSettings` field keeps its default there; ``relax`` may be
    given as a partial table (``{fmax_eV_A = 0.1, max_steps = 30}``) applied on top
    of :data:`DEFAULT_FILL_RELAX`.

    Attributes
    ----------
    metal : str
        The metal to fill in (Li, Na, K, Rb, Cs); required.
    full_pore_steps : int, optional
        Size the steps from the pore's capacity instead of ``atoms_per_step`` and
        ``n_max`` (which must then stay at their defaults): ``n_full`` =
        the atoms of all the close-packed layers that fit
        (:func:`~alkali_layers.builders.pores.fill_pore`, plate mode, at most
        ``full_pore_max_strain``), ``atoms_per_step = ceil(n_full /
        full_pore_steps)`` and ``n_max = n_full + atoms_per_step`` (one step past
        the full pore).
    full_pore_max_strain : float
        Strain bound of that capacity estimate (fraction; default 2 %, the
        builders' bound).
    """

    metal: str = ""
    full_pore_steps: int | None = None
    full_pore_max_strain: float = DEFAULT_MAX_STRAIN

    def __post_init__(self) -> None:
        object.__setattr__(self, "relax", _fill_relax(self.relax))
        for name in ("kinds", "modes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.metal:
            raise ValueError("the fill options need metal = 'Li', 'Na', ... 'Cs'")
        check_metal(self.metal)
        super().__post_init__()
        steps = self.full_pore_steps
        if steps is not None:
            if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
                raise ValueError(
                    f"full_pore_steps must be an integer >= 1, got {steps!r}"
                )
            if self.atoms_per_step != 1 or self.n_max is not None:
                raise ValueError(
                    "full_pore_steps sizes the steps itself: leave atoms_per_step "
                    "and n_max out (or drop full_pore_steps)"
                )
        if not 0 < self.full_pore_max_strain < 0.5:
            raise ValueError(
                "full_pore_max_strain is a fraction in (0, 0.5), got "
                f"{self.full_pore_max_strain!r}"
            )

    def key_dict(self) -> dict:
        """The options as they enter the task key (see
        :meth:`~alkali_layers.workflows.filling.FillingSettings.to_dict`)."""
        return {**asdict(self), "relax": self.relax.key_dict()}

    def filling_settings(self, pore: Atoms) -> FillingSettings:
        """The :class:`FillingSettings` of this filling of ``pore`` (steps sized
        from its capacity when ``full_pore_steps`` is set)."""
        values = {name: getattr(self, name) for name in _SETTINGS_FIELDS}
        if self.full_pore_steps is not None:
            n_full = fill_pore(
                pore, self.metal, max_strain=self.full_pore_max_strain
            ).info["n_metal"]
            step = math.ceil(n_full / self.full_pore_steps)
            values.update(atoms_per_step=step, n_max=n_full + step)
        return FillingSettings(**values)


def fill_options(**options) -> dict:
    """The options dict of a fill task (defaults filled in), as a spec makes it."""
    return asdict(FillOptions(**options))


def _canonical(obj) -> str:
    return stable_hash(plain(obj))


def check_finished_filling(
    result: FillingResult, pore: Atoms, metal: str, settings: FillingSettings
) -> None:
    """``ValueError`` unless ``result`` is a finished filling of this very pore
    (:func:`~alkali_layers.settings.structure_hash`), with ``metal`` and
    ``settings``, with one relaxed structure per step."""
    problems = []
    if result.metal != metal:
        problems.append(f"metal {result.metal}, not {metal}")
    if _canonical(result.settings) != _canonical(settings.to_dict()):
        problems.append("other FillingSettings")
    if result.pore_hash != structure_hash(pore):
        problems.append(
            f"another pore (structure hash {result.pore_hash}, not "
            f"{structure_hash(pore)})"
        )
    if not result.steps or len(result.structures) != len(result.steps):
        problems.append(
            f"{len(result.steps)} steps but {len(result.structures)} structures"
        )
    if problems:
        raise ValueError(
            f"the filling in this task folder is not this task's: "
            f"{'; '.join(problems)}; delete {FILL_RESULT} (and its .traj) to rerun"
        )


def filling_outcome(
    label: str, pore: Atoms, result: FillingResult, complete: bool = True
) -> TaskOutcome:
    """The :class:`TaskOutcome` of a filling: the last structure with its energy,
    summary columns (``values``) and the steps (``data``)."""
    summary = filling_summary(
        result.n_metal,
        result.energy_eV,
        result.mu_metal_eV,
        result.metal,
        result.host_counts,
    )
    try:
        layers = max_layers(pore, result.metal)
    except ValueError:
        layers = None
    atoms = result.structures[-1].copy()
    atoms.calc = SinglePointCalculator(atoms, energy=result.energy_eV[-1])
    last = result.steps[-1]
    values = {
        "fill_metal": result.metal,
        "n_fill_steps": len(result.steps) - 1,
        "layers_fit": layers,
        "mu_metal_eV": result.mu_metal_eV,
        "energy_empty_eV": result.energy_eV[0],
        "force_calls": sum(s.force_calls for s in result.steps),
        "all_converged": all(s.converged for s in result.steps),
        "fill_complete": complete,
        **summary,
    }
    data = plain(
        {
            "filling": {
                k: v for k, v in result.to_dict().items() if k not in ("rng_state",)
            },
            "n_host_atoms": sum(result.host_counts.values()),
        }
    )
    return TaskOutcome(
        label=label,
        ok=True,
        atoms=atoms,
        energy_eV=float(result.energy_eV[-1]),
        converged=values["all_converged"],
        n_steps=len(result.steps) - 1,
        fmax_final_eV_A=float(last.fmax_eV_A),
        wall_s=float(result.wall_s),
        cell_mode="fixed",
        values={k: v for k, v in values.items() if v is not None},
        data=data,
    )


def run_fill(task, engine, calc, settings, folder: Path | None) -> TaskOutcome:
    """Run (or resume, or read back) the filling of ``task.atoms``.

    ``settings`` (the campaign's relaxation settings) do not apply: the fill
    relaxations are in ``task.options``.  The ML engine only (``calc``).
    """
    if engine is not None and getattr(engine, "engine", "mlip") != "mlip":
        raise ValueError(
            "the fill task kind runs with the ML engine ([engine] name = 'mlip'); "
            "check fillings with GPAW by single points at their geometries"
        )
    options = FillOptions(**task.options)
    pore = task.atoms
    _check_fill_metal(pore, options.metal)
    fill_settings = options.filling_settings(pore)
    if folder is None:  # in memory (tests): no checkpoint
        result = sequential_filling(pore, options.metal, calc, fill_settings)
        return filling_outcome(task.label, pore, result)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / FILL_RESULT
    if final.exists():  # finished (or imported) before: read back, never recompute
        result = FillingResult.read(final)
        check_finished_filling(result, pore, options.metal, fill_settings)
        return filling_outcome(task.label, pore, result)
    partial = folder / FILL_CHECKPOINT
    log = folder / FILL_LOG

    def say(line: str) -> None:
        with log.open("a") as fh:
            fh.write(line + "\n")

    result = sequential_filling(
        pore,
        options.metal,
        calc,
        fill_settings,
        progress=say,
        checkpoint=lambda r: r.write(partial),
        resume=partial if partial.exists() else None,
    )
    result.write(final)
    FillingResult.discard(partial)  # the checkpoint is in the result now
    return filling_outcome(task.label, pore, result)


def read_filling(folder: Path) -> FillingResult | None:
    """The finished filling of a task folder, else its checkpoint, else None."""
    for name in (FILL_RESULT, FILL_CHECKPOINT):
        path = Path(folder) / name
        if path.exists():
            return FillingResult.read(path)
    return None


def filling_json(folder: Path) -> dict | None:
    """The raw JSON of a task folder's finished filling (None if there is none)."""
    path = Path(folder) / FILL_RESULT
    return json.loads(path.read_text()) if path.exists() else None


def _check_fill_metal(pore: Atoms, metal: str) -> None:
    """A model built for one metal (``info["fill_metal"]``) is filled with it."""
    meant = pore.info.get("fill_metal")
    if meant is not None and meant != metal:
        raise ValueError(
            f"this pore model was built for {meant} (builder parameter metal) but the "
            f"task's options fill it with {metal}: make them agree"
        )


# ------------------------------------------------------------------ complete filling
@dataclass(frozen=True)
class CompleteFillOptions:
    """Options of a ``fill_complete`` task: fill a pore completely in one go.

    Attributes
    ----------
    metal : str
        Li, Na, K, Rb or Cs (required).
    mode, packing, max_strain
        Of :func:`~alkali_layers.builders.pores.fill_pore` (all the close-packed
        layers that fit).
    relax : RelaxSettings
        Relaxation of the filled pore; a partial table applies on top of
        :data:`DEFAULT_FILL_RELAX`.  The empty pore is a single point (flat sheets).
    """

    metal: str = ""
    mode: str = "sandwich"
    packing: str = "fcc"
    max_strain: float = DEFAULT_MAX_STRAIN
    relax: RelaxSettings = DEFAULT_FILL_RELAX

    def __post_init__(self) -> None:
        if not self.metal:
            raise ValueError("the fill_complete options need metal = 'Li' ... 'Cs'")
        check_metal(self.metal)
        object.__setattr__(self, "relax", _fill_relax(self.relax))

    key_dict = FillOptions.key_dict


def run_fill_complete(task, engine, calc, settings, folder) -> TaskOutcome:
    """Fill ``task.atoms`` with all the metal layers that fit and relax it.

    ``voltage_V = -[E(full) - E(empty) - n mu_M] / n`` (V vs M+/M,
    :func:`~alkali_layers.analysis.hard_carbon.average_voltage_V`): the voltage of
    filling the pore completely; E(empty) is a single point of the built pore,
    mu_M the bcc metal relaxed with the same engine
    (:class:`~alkali_layers.calculators.references.ReferenceEnergies`).  A pore
    that holds no layer gives ``layers_fit = 0`` and no voltage.
    """
    import time

    if engine is not None and getattr(engine, "engine", "mlip") != "mlip":
        raise ValueError("the fill_complete task kind runs with the ML engine")
    t0 = time.perf_counter()
    options = CompleteFillOptions(**task.options)
    pore = task.atoms
    metal = options.metal
    fit = max_layers(pore, metal, options.packing)
    empty = pore.copy()
    empty.calc = calc
    energy_empty = float(empty.get_potential_energy())
    mu = ReferenceEnergies(calc, options.relax).metal_eV_per_atom(metal)
    counts = {k: v for k, v in _counts(pore).items() if k != metal}
    values = {
        "fill_metal": metal,
        "layers_fit": fit,
        "mu_metal_eV": mu,
        "energy_empty_eV": energy_empty,
    }
    if not fit:
        atoms = pore.copy()
        atoms.calc = SinglePointCalculator(atoms, energy=energy_empty)
        return TaskOutcome(
            label=task.label,
            ok=True,
            atoms=atoms,
            energy_eV=energy_empty,
            converged=True,
            wall_s=time.perf_counter() - t0,
            cell_mode="fixed",
            values=values,
            data={"host_counts": counts},
        )
    filled = fill_pore(
        pore,
        metal,
        mode=options.mode,
        packing=options.packing,
        max_strain=options.max_strain,
    )
    logfile = str(Path(folder) / "relax.log") if folder is not None else None
    result = relax(filled, calc, options.relax, logfile=logfile)
    n_metal = int(filled.info["n_metal"])
    values.update(
        energy_filled_eV=result.energy_eV,
        n_metal=n_metal,
        voltage_V=average_voltage_V(result.energy_eV, energy_empty, n_metal, mu),
        metal_strain_pct=filled.info.get("metal_strain_pct"),
    )
    return relaxed_outcome(
        task.label,
        result,
        wall_s=time.perf_counter() - t0,
        values={k: v for k, v in values.items() if v is not None},
        data={"host_counts": counts},
    )


def _counts(atoms: Atoms) -> dict[str, int]:
    from collections import Counter

    return dict(sorted(Counter(atoms.get_chemical_symbols()).items()))


# ----------------------------------------------------------------------- builders
#: The pore models of the hard-carbon study (``runs/hard_carbon``), by name.
HARD_CARBON_HOSTS = ("wedge", "closed", "closed-wide")


def hard_carbon_pore(host: str, metal: str, protocol: str = "") -> Atoms:
    """A pore model of the hard-carbon study, to be filled with ``metal``.

    Parameters
    ----------
    host : {"wedge", "closed", "closed-wide"}
        ``"wedge"``: :func:`~alkali_layers.builders.pores.wedge_pore` at its
        defaults (3.40 x 0.78 nm realized, C244H12); ``"closed"``:
        ``closed_pore(1.0, size=(4, 2))`` (1.0 nm slit, 0.98 x 0.85 nm in plane,
        64 C: small for the CPU budget); ``"closed-wide"``: ``closed_pore(1.0,
        size=(4, 4))`` (0.98 x 1.70 nm, 128 C, the finite-size check).
    metal : str
        The metal the model is filled with (recorded as ``info["fill_metal"]``;
        a ``fill`` task refuses options with another metal).
    protocol : str
        Name of the filling protocol ("strict", "fine", "coarse"), recorded as
        ``info["fill_protocol"]`` for the tables; it does not change the structure.

    Returns
    -------
    ase.Atoms
        ``info["fill_host"] = host`` besides the builder's own metadata.
    """
    check_metal(metal)
    if host == "wedge":
        atoms = wedge_pore()
    elif host == "closed":
        atoms = closed_pore(1.0, size=(4, 2))
    elif host == "closed-wide":
        atoms = closed_pore(1.0, size=(4, 4))
    else:
        raise ValueError(
            f"unknown hard-carbon host {host!r}; "
            f"allowed: {', '.join(HARD_CARBON_HOSTS)}"
        )
    atoms.info.update(fill_host=host, fill_metal=metal, fill_protocol=str(protocol))
    return atoms


# ------------------------------------------------------------------------- layout
def fill_records(campaign) -> tuple[list[FillingRecord], list[dict]]:
    """The fillings of a campaign (finished ones from its database, unfinished ones
    from their checkpoints) and its ``fill_complete`` rows.

    A filling's host is ``info["fill_host"]`` (else the builder's ``host``), its
    protocol ``info["fill_protocol"]`` (else "strict" when candidates are ranked by
    pre-relaxations, else "production").
    """
    rows, _ = campaign.model_rows()
    by_label = {e.label: e for e in campaign.entries()}
    records, scan, seen = [], [], set()

    def describe(entry, settings: dict) -> tuple[str, str]:
        info = entry.task.atoms.info
        host = info.get("fill_host") or info.get("host", "pore")
        protocol = info.get("fill_protocol") or (
            "strict" if settings.get("rank_steps") else "production"
        )
        return host, protocol

    for row in rows:
        entry = by_label.get(row["label"])
        if entry is None:
            continue
        if row.get("task_kind") == TASK_KIND_FILL:
            filling = row["data"]["filling"]
            host, protocol = describe(entry, filling["settings"])
            records.append(
                FillingRecord(
                    host,
                    filling["metal"],
                    protocol,
                    filling,
                    layers_fit=row.get("layers_fit"),
                )
            )
            seen.add(row["label"])
        elif row.get("task_kind") == TASK_KIND_FILL_COMPLETE:
            scan.append(
                {
                    "metal": row["fill_metal"],
                    "width_nm": row["width_nm"],
                    "layers_fit": row["layers_fit"],
                    "energy_empty_eV": row.get("energy_empty_eV"),
                    "energy_filled_eV": row.get("energy_filled_eV"),
                    "n_metal": row.get("n_metal"),
                    "mu_metal_eV": row["mu_metal_eV"],
                    "host_counts": row["data"]["host_counts"],
                }
            )
    for entry in campaign.entries():  # fillings in progress: their checkpoints
        if entry.task.kind != TASK_KIND_FILL or entry.label in seen:
            continue
        partial = entry.folder / FILL_CHECKPOINT
        if entry.task.atoms is None or not partial.exists():
            continue
        try:
            result = FillingResult.read(partial)
        except (ValueError, OSError):
            continue
        filling = plain(result.to_dict())
        host, protocol = describe(entry, filling["settings"])
        try:
            layers = max_layers(entry.task.atoms, result.metal)
        except ValueError:
            layers = None
        records.append(
            FillingRecord(host, result.metal, protocol, filling, layers, False)
        )
    return records, scan


def write_hard_carbon_outputs(campaign) -> list[dict]:
    """The ``hard_carbon`` layout: ``table.md``/``.csv``, ``voltage_<host>.png``,
    ``protocol_check.md`` and ``pore_scan.png`` in the campaign directory
    (:mod:`alkali_layers.analysis.hard_carbon`); returns the table rows."""
    records, scan = fill_records(campaign)
    table = write_filling_figures(records, campaign.root)
    write_protocol_check(records, campaign.root)
    write_pore_scan(scan, campaign.root)
    _, failed = campaign.model_rows()
    if failed and (campaign.root / "table.md").exists():
        with (campaign.root / "table.md").open("a") as fh:
            fh.write("\nFailed tasks (not in the table):\n\n")
            fh.writelines(f"- {label}: {reason}\n" for label, reason in failed)
    return table


register_builder("hard_carbon_pore", hard_carbon_pore)
register_layout("hard_carbon", write_hard_carbon_outputs)
register_task_kind(
    TaskKind(
        TASK_KIND_FILL_COMPLETE,
        "fill a pore with all the metal layers that fit, relax; voltage of the "
        "complete filling",
        run_fill_complete,
        uses_relax_settings=False,
        options=CompleteFillOptions,
    )
)
FILL_KIND = register_task_kind(
    TaskKind(
        TASK_KIND_FILL,
        "sequential filling of a pore with metal atoms (E(n), path, voltage profile)",
        run_fill,
        uses_relax_settings=False,
        options=FillOptions,
    )
)
