"""The ``convergence`` task kind: GPAW cutoff and k-point scans of one structure.

One task scans one model by
:func:`~alkali_layers.workflows.convergence.convergence_scan`: a cutoff scan at the
densest k-point sampling and a k-point scan at the highest cutoff, each point
compared with the most accurate one (``dE_meV_per_atom``, and ``dEf_meV``, the
change of the formation energy per metal atom, for a metal in bilayer graphene or
graphite).  Needs ``[engine] name = "gpaw"``: every GPAW setting but the cutoff and
the k-point density comes from its ``final`` settings.  With ``prerelax = "mlip"``
(the default) the model and its references (bcc metal, pristine primitive host) are
first relaxed with the ML engine under the campaign's ``[relax]`` settings, as
``alkali-layers converge`` does.

The options (:class:`ConvergenceOptions`; defaults those of ``convergence_scan``)
enter the task key.  Every finished point is appended to ``points.csv`` in the task
folder with the scan's own key (structure, references and every GPAW setting but
cutoff and k), so an interrupted scan resumes, and points copied in from an earlier
scan are used only if their key is this scan's (:func:`seed_points`).
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass
from pathlib import Path

from ase.calculators.singlepoint import SinglePointCalculator

from ...builders.intercalation import pristine_host
from ...builders.layers import bulk_metal
from ...calculators.references import reference_settings
from ...calculators.relax import relax
from ...engines.settings import DISPERSION_NAMES
from ...settings import plain
from ...workflows.convergence import (
    CHECKPOINT_COLUMNS,
    ScanPoint,
    convergence_scan,
    write_scan,
)
from ..registry import TaskKind, register_layout, register_task_kind
from ..tasks import TaskOutcome

TASK_KIND_CONVERGENCE = "convergence"
POINTS_FILE = "points.csv"
_SCAN = inspect.signature(convergence_scan).parameters
#: Hosts whose models get the formation-energy scan (references exist for them).
_EF_HOSTS = ("bilayer_graphene", "graphite")


@dataclass(frozen=True)
class ConvergenceOptions:
    """Options of a ``convergence`` task (defaults: those of
    :func:`~alkali_layers.workflows.convergence.convergence_scan`).

    Attributes
    ----------
    cutoffs_eV : tuple of float
        Plane-wave cutoffs of the cutoff scan (eV), run at the highest k density.
    kpt_densities : tuple of float
        k-point densities (points per reciprocal Angstrom) of the k scan, run at the
        highest cutoff.
    formation_energy : bool
        Also scan the formation energy per metal atom (bilayer and graphite hosts
        with a metal).
    """

    cutoffs_eV: tuple[float, ...] = tuple(_SCAN["cutoffs_eV"].default)
    kpt_densities: tuple[float, ...] = tuple(_SCAN["kpt_densities"].default)
    formation_energy: bool = True

    def __post_init__(self) -> None:
        for name in ("cutoffs_eV", "kpt_densities"):
            values = getattr(self, name)
            if isinstance(values, (int, float)):
                values = (values,)
            try:
                values = tuple(sorted(float(v) for v in values))
            except (TypeError, ValueError):
                raise ValueError(
                    f"{name} must be a list of numbers, got {values!r}"
                ) from None
            if not values or values[0] <= 0:
                raise ValueError(f"{name} must be positive numbers, got {values!r}")
            object.__setattr__(self, name, values)
        if not isinstance(self.formation_energy, bool):
            raise ValueError("formation_energy must be true or false")


def scan_inputs(task, calc, settings):
    """The scanned model and its references, ML-relaxed when ``calc`` is given
    (as ``alkali-layers converge`` prepares them)."""
    atoms = task.atoms
    options = ConvergenceOptions(**task.options)
    model = relax(atoms, calc, settings).atoms if calc is not None else atoms.copy()
    refs = {}
    metal = atoms.info.get("metal") or ""
    if options.formation_energy and metal and atoms.info.get("host") in _EF_HOSTS:
        if calc is None:
            raise ValueError(
                "the formation-energy scan relaxes its references with the ML engine: "
                "keep [engine] prerelax = 'mlip', or set formation_energy = false"
            )
        ref = reference_settings(settings)
        refs["metal_reference"] = relax(bulk_metal(metal), calc, ref).atoms
        refs["host_reference"] = relax(pristine_host(atoms), calc, ref).atoms
    return model, refs


def scan_title(atoms, base) -> str:
    """The heading of ``scan.md`` (as ``alkali-layers converge`` writes it)."""
    metal = atoms.info.get("metal") or ""
    return (
        f"{atoms.get_chemical_formula()} ({atoms.info.get('host', '')}"
        f"{', ' + metal if metal else ''}): GPAW {base.xc}"
        f"{DISPERSION_NAMES[base.dispersion]}"
    )


def scan_notes(calc, base) -> str:
    """The note under the scan table: geometry and the fixed GPAW settings."""
    geometry = (
        f"relaxed with {calc.alkali_settings.describe()} (fixed during the scan)"
        if calc is not None and hasattr(calc, "alkali_settings")
        else "as built (fixed during the scan)"
    )
    return (
        f"Geometry: {geometry}; smearing FD {base.smearing_eV} eV; SCF energy "
        f"{base.scf_energy_eV} eV per valence electron."
    )


def run_convergence(task, engine, calc, settings, folder) -> TaskOutcome:
    """Scan ``task.atoms`` (see the module docstring)."""
    if engine is None or getattr(engine, "engine", "") != "gpaw":
        raise ValueError(
            "the convergence task kind scans GPAW settings: use [engine] name = 'gpaw'"
        )
    options = ConvergenceOptions(**task.options)
    model, refs = scan_inputs(task, calc, settings)
    folder = Path(folder) if folder is not None else None
    points = convergence_scan(
        model,
        engine.final,
        options.cutoffs_eV,
        options.kpt_densities,
        log_dir=folder,
        checkpoint=folder / POINTS_FILE if folder is not None else None,
        **refs,
    )
    best = points[len(options.cutoffs_eV) - 1]
    atoms = model.copy()
    energy = best.energy_eV_per_atom * len(atoms)
    atoms.calc = SinglePointCalculator(atoms, energy=energy)
    worst = max(points, key=lambda p: abs(p.dE_meV_per_atom))
    values = {
        "n_scan_points": len(points),
        "ecut_max_eV": best.ecut_eV,
        "kpt_density_max": best.kpt_density,
        "energy_best_eV_per_atom": best.energy_eV_per_atom,
        "formation_energy_best_eV_per_metal_atom": (
            best.formation_energy_eV_per_metal_atom
        ),
        "largest_dE_meV_per_atom": worst.dE_meV_per_atom,
    }
    return TaskOutcome(
        label=task.label,
        ok=True,
        atoms=atoms,
        energy_eV=energy,
        converged=True,
        wall_s=sum(p.wall_s for p in points),
        cell_mode="fixed",
        values={k: v for k, v in values.items() if v is not None},
        data=plain(
            {
                "points": [asdict(p) for p in points],
                "title": scan_title(task.atoms, engine.final),
                "notes": scan_notes(calc, engine.final),
            }
        ),
    )


def seed_points(folder: Path, sources) -> int:
    """Copy the rows of earlier scans' ``points.csv`` files into a task folder's
    checkpoint; the scan uses only rows whose key is its own (same structure,
    references and GPAW settings), so a row of another scan is ignored, never used.
    Returns the number of rows copied."""
    import csv

    rows = []
    for source in sources:
        with Path(source).open(newline="") as fh:
            rows += [r for r in csv.DictReader(fh) if r.get("key")]
    if not rows:
        return 0
    path = Path(folder) / POINTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, CHECKPOINT_COLUMNS, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def seed_campaign(campaign, source) -> dict[str, int]:
    """Seed every unfinished ``convergence`` task of ``campaign`` with the rows of
    all ``points.csv`` files under ``source`` (task folders excepted), e.g. the
    scans ``alkali-layers converge`` wrote; returns rows copied per task label.
    Only rows whose key is a task's own are ever used (:func:`seed_points`), so the
    import is verified by the scan key: same structure (ML-relaxed now), same
    references, same GPAW settings."""
    from ..tasks import RESULT_FILE, read_json

    sources = [
        p for p in sorted(Path(source).rglob(POINTS_FILE)) if "tasks" not in p.parts
    ]
    campaign.write_task_files()
    copied = {}
    for entry in campaign.entries():
        if entry.task.kind != TASK_KIND_CONVERGENCE:
            continue
        done = read_json(entry.folder / RESULT_FILE)
        if done is not None and done.get("status") == "ok":
            continue
        copied[entry.label] = seed_points(entry.folder, sources)
    return copied


def write_convergence_outputs(campaign) -> list[dict]:
    """The ``convergence`` layout: ``<label>/scan.csv``, ``scan.md``, ``scan.png``
    per finished scan and ``table.md`` listing them; returns the table rows."""
    rows, failed = campaign.model_rows()
    table = []
    for row in rows:
        if row.get("task_kind") != TASK_KIND_CONVERGENCE:
            continue
        data = row["data"]
        points = [ScanPoint(**p) for p in data["points"]]
        write_scan(
            points, campaign.root / row["label"], data["title"], data.get("notes", "")
        )
        table.append(
            {
                "label": row["label"],
                "formula": row["formula"],
                "points": len(points),
                "largest_dE_meV_per_atom": round(row["largest_dE_meV_per_atom"], 2),
                "scan": f"{row['label']}/scan.md",
            }
        )
    lines = [
        f"# {campaign.spec.title}",
        "",
        "GPAW cutoff and k-point scans; each point against the highest cutoff and "
        "k-point density (dE in meV/atom, dEf in meV per metal atom).",
        "",
        "| label | formula | points | largest dE (meV/atom) | scan |",
        "|---|---|---|---|---|",
        *(
            f"| {r['label']} | {r['formula']} | {r['points']} | "
            f"{r['largest_dE_meV_per_atom']} | [{r['scan']}]({r['scan']}) |"
            for r in table
        ),
    ]
    if failed:
        lines += ["", "Failed:", *(f"- {label}: {why}" for label, why in failed)]
    (campaign.root / "table.md").write_text("\n".join(lines) + "\n")
    return table


register_layout(TASK_KIND_CONVERGENCE, write_convergence_outputs)
register_task_kind(
    TaskKind(
        TASK_KIND_CONVERGENCE,
        "GPAW cutoff and k-point convergence scans of one structure",
        run_convergence,
        uses_relax_settings=True,
        options=ConvergenceOptions,
    )
)
