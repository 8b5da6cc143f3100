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
:mod:`alkali_layers.analysis.hard_carbon`, docs/science.md "Energies");
capacities in mAh/g of host (C + H) unless ``_total``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from ...analysis.hard_carbon import filling_summary
from ...builders.intercalation import DEFAULT_MAX_STRAIN
from ...builders.pores import fill_pore, max_layers
from ...calculators.relax import RelaxSettings
from ...elements import check_metal
from ...settings import plain, stable_hash, structure_hash
from ...workflows.filling import (
    DEFAULT_FILL_RELAX,
    FillingResult,
    FillingSettings,
    sequential_filling,
)
from ..registry import TaskKind, register_task_kind
from ..tasks import TaskOutcome

TASK_KIND_FILL = "fill"
#: The finished filling in a task folder (JSON; the structures in ``.traj``).
FILL_RESULT = "filling.json"
#: The checkpoint written after every step.
FILL_CHECKPOINT = "filling.partial.json"
FILL_LOG = "fill.log"

_SETTINGS_FIELDS = tuple(f.name for f in fields(FillingSettings))


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
        relax = self.relax
        if isinstance(relax, dict):
            known = {f.name for f in fields(RelaxSettings)}
            unknown = sorted(set(relax) - known)
            if unknown:
                raise ValueError(
                    f"unknown relax option(s) {unknown}; allowed: "
                    f"{', '.join(sorted(known))}"
                )
            relax = replace(DEFAULT_FILL_RELAX, **relax)
        if not isinstance(relax, RelaxSettings):
            raise ValueError(f"relax must be a table of RelaxSettings, got {relax!r}")
        object.__setattr__(self, "relax", relax)
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
    fill_settings = options.filling_settings(pore)
    if folder is None:  # in memory (tests): no checkpoint
        result = sequential_filling(pore, options.metal, calc, fill_settings)
        return filling_outcome(task.label, pore, result)
    folder = Path(folder)
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


FILL_KIND = register_task_kind(
    TaskKind(
        TASK_KIND_FILL,
        "sequential filling of a pore with metal atoms (E(n), path, voltage profile)",
        run_fill,
        uses_relax_settings=False,
        options=FillOptions,
    )
)
