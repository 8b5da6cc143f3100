"""Campaign specs: a TOML file naming builders, parameter grids, engine and tasks.

A spec lives at ``runs/<name>/campaign.toml``; its directory holds the campaign's
task folders (``tasks/``), its database (``results.db``), tables and figures.

Example (the bilayer-graphene study)::

    name = "bilayer_graphene"
    description = "Li-Cs x 1-4 layers x AA/AB between the sheets of bilayer graphene"
    analysis = "bilayer"              # table/figure layout: "bilayer", "formation" or
                                      # a study's ("heterostructure", "filling_check",
                                      # ...; an unknown name lists them all)

    [engine]                          # mlip: fields of MLIPSettings; gpaw: see
                                      # DFTProtocol.from_table (final/relax presets,
                                      # prerelax, prerelax_finetuned, GPAWSettings
                                      # fields)
    name = "mlip"
    model = "7net-0"
    dispersion = "d3bj"
    # finetuned = "../finetune/model/finetune.json"  # a fine-tuned checkpoint
                                      # (alkali-layers finetune; relative to this file)

    [relax]                           # fields of RelaxSettings
    fmax_eV_A = 0.02
    max_steps = 500
    # layered_cell = "ac"             # graphite/GICs: relax the in-plane lattice too
    # slab_cell = "ab"                # bilayers, pores: relax the in-plane cell
    # gallery_coordinate = true       # bilayers: the net force on the sheets must
                                      # fall below fmax too

    [resources]                       # per task, for cluster backends
    cores = 1
    time = "1h"

    [[models]]
    builder = "bilayer_graphene"
    tasks = ["formation_energy"]      # a registered task kind ("relax" by default,
                                      # "single_point", ...) and/or "formation_energy"
    # [models.options]                # the task kind's own settings (they enter the
                                      # task key)
    [models.grid]                     # every combination is one model
    metal = ["Li", "Na", "K", "Rb", "Cs"]
    n_layers = [1, 2, 3, 4]
    stacking = ["AA", "AB"]
    [models.params]                   # fixed builder arguments
    packing = "fcc"
    # [models.engine]                 # this group's engine fields merged onto
    # setups = "li-sc"                # [engine] (GPAW: both stages); they enter
                                      # its task keys
    # [models.relax]                  # likewise for [relax] (RelaxSettings fields)
    # label = "no_d3"                 # the group's label prefix ("no_d3-Li"): groups
                                      # of one builder and grid, differing in engine
                                      # or relax, need one each to keep labels unique
    # start_from = "../other"         # start from the relaxed models of the same
                                      # label in another campaign (no ML pre-relax)

A GPAW study names ``name = "gpaw"`` in ``[engine]`` and gets the project's DFT
treatment, vdW-optPBE with Li 1s in the valence (docs/science/dft.md);
``xc = "PBE"``, ``dispersion = "d3bj"``, ``setups = "paw"`` select PBE + D3(BJ), the
treatment of results stored before 2026-12-01; ``error_bars = true`` adds the
BEEF-vdW ensemble spread to every formation energy and voltage.

Every mistake raises :class:`SpecError` (a ``ValueError``) whose message names the
file, the key and the allowed values.
"""

from __future__ import annotations

import inspect
import itertools
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from ..calculators.relax import RelaxSettings
from ..engines import ENGINES, DFTProtocol, MLIPSettings
from . import kinds  # noqa: F401 - registers task kinds, builders and layouts
from .registry import BUILDERS, LAYOUTS, TASK_KINDS
from .start import results_database

#: Besides the registered task kinds (``relax``, ``single_point``, ... see
#: :data:`alkali_layers.campaigns.registry.TASK_KINDS`), ``tasks`` may name
#: ``formation_energy``, which adds the relaxed references the formation energy needs
#: (of a relaxed model, or of a ``single_point`` model at its geometry).
FORMATION_ENERGY = "formation_energy"
SPEC_FILENAME = "campaign.toml"

_TOP_KEYS = (
    "name",
    "title",
    "description",
    "analysis",
    "engine",
    "relax",
    "resources",
    "models",
)
_MODEL_KEYS = (
    "builder",
    "tasks",
    "grid",
    "params",
    "options",
    "engine",
    "relax",
    "label",
    "start_from",
)
#: a group's ``label``: letters, digits and underscores (it prefixes task folders)
_GROUP_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_TIME = re.compile(r"^\d+(s|m|h|d)$")


class SpecError(ValueError):
    """A malformed campaign spec; the message names file, key and allowed values."""


@dataclass(frozen=True)
class Resources:
    """Resources of one task on a cluster backend (cores, wall-time limit like "2h")."""

    cores: int = 1
    time: str = "1h"


@dataclass(frozen=True)
class ModelGroup:
    """One ``[[models]]`` entry: a builder, its parameter grid, tasks per model."""

    builder: str
    grid: dict
    params: dict
    tasks: tuple[str, ...]
    label_prefix: str = ""
    options: dict = field(default_factory=dict)
    #: the group's engine / relaxation settings where ``[models.engine]`` /
    #: ``[models.relax]`` override the campaign's (None: the campaign's)
    engine: object = None
    relax: RelaxSettings | None = None
    #: another campaign's directory (relative to the spec) whose relaxed models
    #: start this group's models (:mod:`~alkali_layers.campaigns.start`)
    start_from: str | None = None

    @property
    def kind(self) -> str:
        """The registered task kind of every model of the group."""
        return next((t for t in self.tasks if t != FORMATION_ENERGY), "relax")

    def points(self) -> list[dict]:
        """Builder keyword arguments of every grid point (grid order, last fastest)."""
        keys = list(self.grid)
        out = []
        for values in itertools.product(*(self.grid[k] for k in keys)):
            out.append({**self.params, **dict(zip(keys, values, strict=True))})
        return out

    def label(self, point: dict) -> str:
        """Short unique name of a grid point, e.g. ``Na-3L-AB``; a name that would
        read as a number (one numeric grid key) is prefixed with the key
        (``width_nm-0.8``): the database refuses numbers given as strings."""
        parts = []
        for key in self.grid:
            value = point[key]
            parts.append(f"{value}L" if key == "n_layers" else str(value))
        label = self.label_prefix + "-".join(parts)
        try:
            float(label)
        except ValueError:
            return label
        return self.label_prefix + "-".join(f"{k}-{point[k]}" for k in self.grid)

    def build(self, point: dict):
        return BUILDERS[self.builder](**point)


@dataclass(frozen=True)
class CampaignSpec:
    """A parsed, validated campaign spec."""

    path: Path
    name: str
    title: str
    description: str
    analysis: str
    engine: MLIPSettings | DFTProtocol
    relax: RelaxSettings
    resources: Resources
    models: tuple[ModelGroup, ...]

    @property
    def directory(self) -> Path:
        """The campaign directory (where the spec file is)."""
        return self.path.parent

    def engine_of(self, group: ModelGroup):
        """The engine settings of ``group``'s tasks (its override or the campaign's);
        a group that starts from another campaign's geometries has no ML
        pre-relaxation."""
        engine = group.engine if group.engine is not None else self.engine
        if group.start_from and getattr(engine, "prerelax", None) is not None:
            engine = replace(engine, prerelax=None)
        return engine

    def relax_of(self, group: ModelGroup) -> RelaxSettings:
        """The relaxation settings of ``group``'s tasks."""
        return group.relax if group.relax is not None else self.relax


def _err(path: Path, key: str, message: str) -> SpecError:
    return SpecError(f"{path}: {key}: {message}")


def _check_keys(path: Path, where: str, table: dict, allowed) -> None:
    unknown = [k for k in table if k not in allowed]
    if unknown:
        raise _err(
            path,
            where or "top level",
            f"unknown key(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(allowed)}",
        )


def _dataclass_from(path: Path, where: str, cls, table: dict, skip=()):
    if not isinstance(table, dict):
        raise _err(path, where, f"must be a table, got {table!r}")
    allowed = [f.name for f in fields(cls)]
    _check_keys(path, where, {k: v for k, v in table.items() if k not in skip}, allowed)
    try:
        return cls(**{k: v for k, v in table.items() if k not in skip})
    except (TypeError, ValueError) as err:
        raise _err(path, where, str(err)) from err


def _builder_parameters(name: str) -> list[str]:
    return list(inspect.signature(BUILDERS[name]).parameters)


def _spec_relative(path: Path, engine_table: dict) -> dict:
    """``engine_table`` with relative ``finetuned`` / ``prerelax_finetuned`` paths
    taken from the spec's directory (like ``start_from``), so a campaign runs from
    any working directory."""
    table = dict(engine_table)
    for key in ("finetuned", "prerelax_finetuned"):
        tuned = table.get(key)
        if isinstance(tuned, str) and not Path(tuned).is_absolute():
            table[key] = str(path.parent / tuned)
    return table


def _group_overrides(path: Path, where: str, table: dict, engine, relax):
    """(engine, relax) of a group with ``[models.engine]`` / ``[models.relax]``
    merged onto the campaign's (None where not overridden).  GPAW fields apply to
    both stages of a :class:`DFTProtocol` (its ``final`` and ``relax`` settings)."""
    out = []
    for sub, base in (("engine", engine), ("relax", relax)):
        over = table.get(sub)
        if over is None:
            out.append(None)
            continue
        if sub == "engine" and isinstance(over, dict):
            over = _spec_relative(path, over)
        if not isinstance(over, dict) or not over:
            raise _err(
                path, f"{where}.{sub}", f"must be a non-empty table, got {over!r}"
            )
        try:
            if isinstance(base, DFTProtocol):
                merged = replace(
                    base,
                    final=replace(base.final, **over),
                    relax=replace(base.relax, **over),
                )
            else:
                merged = replace(base, **over)
        except (TypeError, ValueError) as err:
            allowed = ", ".join(
                f.name
                for f in fields(base.final if isinstance(base, DFTProtocol) else base)
            )
            raise _err(
                path, f"{where}.{sub}", f"{err}; allowed fields: {allowed}"
            ) from err
        out.append(merged)
    return tuple(out)


def _model_group(
    path: Path, index: int, table, prefix: bool, engine=None, relax=None
) -> ModelGroup:
    where = f"models[{index}]"
    if not isinstance(table, dict):
        raise _err(path, where, "must be a table ([[models]])")
    _check_keys(path, where, table, _MODEL_KEYS)
    builder = table.get("builder")
    if not isinstance(builder, str) or builder not in BUILDERS:
        raise _err(
            path,
            f"{where}.builder",
            f"unknown builder {builder!r}; allowed: {', '.join(sorted(BUILDERS))}",
        )
    grid = table.get("grid", {})
    params = table.get("params", {})
    for sub, value in (("grid", grid), ("params", params)):
        if not isinstance(value, dict):
            raise _err(path, f"{where}.{sub}", f"must be a table, got {value!r}")
    allowed = _builder_parameters(builder)
    for sub, value in (("grid", grid), ("params", params)):
        for key in value:
            if key not in allowed:
                raise _err(
                    path,
                    f"{where}.{sub}.{key}",
                    f"{builder}() has no parameter {key!r}; "
                    f"allowed: {', '.join(allowed)}",
                )
    both = set(grid) & set(params)
    if both:
        raise _err(path, where, f"{sorted(both)} given in both grid and params")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise _err(
                path, f"{where}.grid.{key}", f"must be a non-empty list, got {values!r}"
            )
    allowed_tasks = [*TASK_KINDS, FORMATION_ENERGY]
    tasks = table.get("tasks", ["relax"])
    if isinstance(tasks, str):
        tasks = [tasks]
    if not isinstance(tasks, list) or not tasks:
        raise _err(
            path,
            f"{where}.tasks",
            f"must be a non-empty list of: {', '.join(allowed_tasks)}",
        )
    for kind in tasks:
        if kind not in allowed_tasks:
            raise _err(
                path,
                f"{where}.tasks",
                f"unknown task {kind!r}; allowed: {', '.join(allowed_tasks)}",
            )
    own = [t for t in tasks if t != FORMATION_ENERGY]
    if len(own) > 1:
        raise _err(
            path,
            f"{where}.tasks",
            f"{' and '.join(map(repr, own))} exclude each other (each model is one "
            "task of one kind; use another [[models]] group for another kind)",
        )
    kind = own[0] if own else "relax"
    options_table = table.get("options", {})
    if not isinstance(options_table, dict):
        raise _err(path, f"{where}.options", f"must be a table, got {options_table!r}")
    try:
        options = TASK_KINDS[kind].options_dict(options_table)
    except ValueError as err:
        raise _err(path, f"{where}.options", str(err)) from err
    group_engine, group_relax = _group_overrides(path, where, table, engine, relax)
    group_label = table.get("label")
    if group_label is not None and (
        not isinstance(group_label, str) or not _GROUP_LABEL.match(group_label)
    ):
        raise _err(
            path,
            f"{where}.label",
            f"must be a name of letters, digits and underscores starting with a "
            f'letter (e.g. "no_d3"), got {group_label!r}',
        )
    start_from = table.get("start_from")
    if start_from is not None:
        if not isinstance(start_from, str) or not start_from:
            raise _err(
                path,
                f"{where}.start_from",
                f"must be a campaign directory relative to the spec, got "
                f"{start_from!r}",
            )
        try:
            results_database(path.parent / start_from)
        except ValueError as err:
            raise _err(path, f"{where}.start_from", str(err)) from err
    if FORMATION_ENERGY in tasks and (group_engine or group_relax):
        raise _err(
            path,
            where,
            "a group with its own [models.engine]/[models.relax] cannot have "
            "'formation_energy' (the references are shared by every group)",
        )
    return ModelGroup(
        builder=builder,
        grid=dict(grid),
        params=dict(params),
        tasks=tuple(tasks),
        label_prefix=(
            f"{group_label}-" if group_label else f"{builder}-" if prefix else ""
        ),
        options=options,
        engine=group_engine,
        relax=group_relax,
        start_from=start_from,
    )


def spec_path(spec: str | Path) -> Path:
    """The spec file: ``spec`` itself (a .toml file) or campaign.toml in it."""
    path = Path(spec)
    if path.is_dir():
        path = path / SPEC_FILENAME
    if not path.is_file():
        raise SpecError(
            f"{path}: no campaign spec here; give a campaign.toml file or its "
            "directory "
            "(e.g. runs/bilayer_graphene)"
        )
    return path


def load_spec(spec: str | Path) -> CampaignSpec:
    """Read and validate a campaign spec (path to the TOML file or its directory)."""
    path = spec_path(spec)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{path}: not valid TOML: {err}") from err
    return parse_spec(data, path)


def parse_spec(data: dict, path: Path) -> CampaignSpec:
    """Validate the parsed TOML ``data`` of the spec at ``path``."""
    path = Path(path)
    _check_keys(path, "", data, _TOP_KEYS)
    name = data.get("name", path.parent.name)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise _err(
            path, "name", f"must be letters, digits, '_', '.', '-'; got {name!r}"
        )
    analysis = data.get("analysis", "formation")
    if not isinstance(analysis, str) or analysis not in LAYOUTS:
        raise _err(
            path,
            "analysis",
            f"unknown {analysis!r}; allowed: {', '.join(sorted(LAYOUTS))}",
        )
    engine_table = data.get("engine", {})
    if not isinstance(engine_table, dict):
        raise _err(path, "engine", f"must be a table, got {engine_table!r}")
    engine_name = engine_table.get("name", "mlip")
    if engine_name not in ENGINES:
        raise _err(
            path,
            "engine.name",
            f"unknown engine {engine_name!r}; allowed: {', '.join(ENGINES)}",
        )
    if engine_name == "gpaw":
        try:
            engine = DFTProtocol.from_table(
                {
                    k: v
                    for k, v in _spec_relative(path, engine_table).items()
                    if k != "name"
                }
            )
        except (TypeError, ValueError) as err:
            raise _err(path, "engine", str(err)) from err
    else:
        engine = _dataclass_from(
            path,
            "engine",
            MLIPSettings,
            _spec_relative(path, engine_table),
            skip=("name",),
        )
    relax = _dataclass_from(path, "relax", RelaxSettings, data.get("relax", {}))
    res_table = data.get("resources", {})
    resources = _dataclass_from(path, "resources", Resources, res_table)
    if not (isinstance(resources.cores, int) and resources.cores >= 1):
        raise _err(
            path, "resources.cores", f"must be an integer >= 1, got {resources.cores!r}"
        )
    if not (isinstance(resources.time, str) and _TIME.match(resources.time)):
        raise _err(
            path,
            "resources.time",
            f"must look like 30m, 2h or 1d, got {resources.time!r}",
        )
    models = data.get("models")
    if not isinstance(models, list) or not models:
        raise _err(path, "models", "at least one [[models]] table is required")
    groups = tuple(
        _model_group(path, i, table, prefix=len(models) > 1, engine=engine, relax=relax)
        for i, table in enumerate(models)
    )
    if analysis == "bilayer" and any(g.builder != "bilayer_graphene" for g in groups):
        raise _err(
            path, "analysis", "'bilayer' needs builder = 'bilayer_graphene' models"
        )
    return CampaignSpec(
        path=path,
        name=name,
        title=str(data.get("title", name.replace("_", " "))),
        description=str(data.get("description", "")),
        analysis=analysis,
        engine=engine,
        relax=relax,
        resources=resources,
        models=groups,
    )
