"""Registries of the campaign system: task kinds, builders and table layouts.

A new kind of study plugs in here and nowhere else: a module under
:mod:`alkali_layers.campaigns.kinds` registers

* its **task kind** (:func:`register_task_kind`): what one task computes, the options
  a spec may set for it (``[models.options]``) and so which settings enter its key;
* the **builders** a spec may name (:func:`register_builder`): plain functions
  returning :class:`ase.Atoms`;
* its **layout** (:func:`register_layout`): how the campaign's tables and figures are
  written from the database (``analysis = "<name>"`` in the spec).

Importing :mod:`alkali_layers.campaigns.kinds` fills the registries; the campaign,
the spec parser and the task worker do so before they look anything up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, is_dataclass


@dataclass(frozen=True)
class TaskKind:
    """A kind of campaign task: what it computes and which settings enter its key.

    Attributes
    ----------
    name : str
        The name a spec uses (``tasks = ["single_point"]``).
    description : str
        One line for help texts and errors.
    run : callable
        ``run(task, engine, calc, relax_settings, folder) -> TaskOutcome``: ``task``
        carries the built ``atoms`` and the ``options`` dict, ``engine`` the engine
        settings, ``calc`` a ready ML calculator (or None), ``folder`` the task folder
        where a long task checkpoints so that a rerun resumes.
    uses_relax_settings : bool
        Whether the campaign's relaxation settings change its result (and its key).
    options : type or None
        A dataclass of the kind's own settings (with defaults).  A spec sets them in
        ``[models.options]``; all of them, defaults filled in, enter the task key, so
        editing one gives a new task (a class with a ``key_dict()`` method says
        itself which fields enter: options added after tasks were computed can
        then enter only when set, keeping the earlier keys).
    """

    name: str
    description: str
    run: Callable
    uses_relax_settings: bool = True
    options: type | None = None

    def options_dict(self, table: dict | None = None) -> dict:
        """The kind's options from a spec table, defaults filled in (``{}`` when the
        kind has none); unknown names or wrong values raise ``ValueError``."""
        table = dict(table or {})
        if self.options is None:
            if table:
                raise ValueError(f"task kind {self.name!r} takes no options")
            return {}
        known = {f.name for f in fields(self.options)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ValueError(
                f"unknown option(s) {unknown} for task kind {self.name!r}; "
                f"allowed: {', '.join(sorted(known))}"
            )
        try:
            value = self.options(**table)
        except TypeError as err:
            raise ValueError(f"options of task kind {self.name!r}: {err}") from err
        if hasattr(value, "key_dict"):  # fields added later enter the key when set
            return value.key_dict()
        return asdict(value) if is_dataclass(value) else dict(value)


#: The task kinds by name (filled by :mod:`alkali_layers.campaigns.kinds`).
TASK_KINDS: dict[str, TaskKind] = {}
#: Builders a spec may name, by name.
BUILDERS: dict[str, Callable] = {}
#: Table/figure layouts by name: ``write_outputs(campaign) -> list[dict]``.
LAYOUTS: dict[str, Callable] = {}


def register_task_kind(kind: TaskKind) -> TaskKind:
    """Add ``kind`` to :data:`TASK_KINDS` (a name may be registered once)."""
    if kind.name in TASK_KINDS:
        raise ValueError(f"task kind {kind.name!r} is already registered")
    TASK_KINDS[kind.name] = kind
    return kind


def task_kind(name: str) -> TaskKind:
    """The registered kind ``name``; a clear error naming the known kinds."""
    try:
        return TASK_KINDS[name]
    except KeyError:
        raise ValueError(
            f"unknown task kind {name!r}; registered: {', '.join(TASK_KINDS)}"
        ) from None


def register_builder(name: str, builder: Callable) -> Callable:
    """Let specs name ``builder`` (a function returning ``Atoms``) as ``name``."""
    if name in BUILDERS and BUILDERS[name] is not builder:
        raise ValueError(f"builder {name!r} is already registered")
    BUILDERS[name] = builder
    return builder


def register_layout(name: str, write_outputs: Callable) -> Callable:
    """Register a table/figure layout: ``write_outputs(campaign) -> list[dict]``
    reads the campaign's database (``campaign.model_rows()``) and writes its tables
    and figures into ``campaign.root``; it returns the table rows."""
    if name in LAYOUTS and LAYOUTS[name] is not write_outputs:
        raise ValueError(f"layout {name!r} is already registered")
    LAYOUTS[name] = write_outputs
    return write_outputs
