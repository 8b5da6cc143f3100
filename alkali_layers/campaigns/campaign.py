"""A campaign: spec -> content-addressed tasks -> backend -> result files -> database.

``Campaign(load_spec(path))`` expands the spec into tasks (models and the references
their formation energies need), reports their status, runs the missing ones on a
backend, imports finished result files into the campaign's ASE database (one writer
at a time, under a lock) and writes tables and figures from the database only.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..analysis.capacity import atoms_capacity_mAh_g
from ..analysis.figures import plot_formation_vs_layers
from ..analysis.sign_pattern import write_sign_pattern
from ..analysis.tables import (
    BILAYER_COLUMNS,
    FORMATION_COLUMNS,
    bilayer_table,
    formation_table,
    with_error_columns,
    write_csv,
    write_markdown,
)
from ..analysis.voltage import formation_energy_eV_per_metal_atom
from ..builders.intercalation import pristine_host
from ..calculators.energetics import formation_from_energy
from ..calculators.guards import ModelFailure
from ..calculators.references import metal_reference_atoms, reference_settings
from ..calculators.relax import RelaxSettings
from ..geometry import gallery_force_eV_A, in_plane_geometry
from .error_bars import (
    adopt_finished,
    discard_kept_results,
    finished_without_error_bars,
)
from .progress import task_progress
from .registry import LAYOUTS
from .spec import CampaignSpec, load_spec
from .start import start_geometry
from .store import ResultStore
from .tasks import (
    BUILDER_KEYS,
    RESULT_FILE,
    RUNNING_FILE,
    SUBMITTED_FILE,
    RelaxTask,
    TaskOutcome,
    archive_result,
    provenance,
    read_json,
    result_outcome,
    settings_data,
    task_folder_name,
    write_task_file,
)

STATES = ("done", "failed", "running", "queued", "pending")


#: notes of the optional table columns, written under a table that shows them
COLUMN_NOTES: dict[str, str] = {
    "graphene_a_A": (
        "In-plane cell relaxed: graphene_a_A is the relaxed graphene lattice "
        "constant (from the cell area per carbon atom of one sheet), metal_nn_A the "
        "shortest in-plane metal-metal distance within a metal layer (periodic "
        "images included; sqrt(3) graphene_a_A for one metal per sqrt(3) x sqrt(3) "
        "cell), mean over layers."
    ),
    "gallery_force_eV_A": (
        "gallery_force_eV_A: net force on the gallery height at the final geometry "
        "from the stored DFT forces of the final single point, (sum of F_z over the "
        "top sheet - sum over the bottom sheet) / 2, per cell; positive opens the "
        "gallery.  A relaxation converged per atom (fmax) can leave it well above "
        "fmax, and the gallery coordinate is soft and not harmonic: a row with a "
        "large value has a gallery height that is not relaxed."
    ),
}


@dataclass
class Entry:
    """One task of a campaign with everything needed to run and file it."""

    task: RelaxTask
    key: str
    settings: RelaxSettings
    folder: Path
    engine: object
    references: tuple[str, str] | None = None  # (metal label, host label) for E_f

    @property
    def label(self) -> str:
        return self.task.label

    @property
    def n_atoms(self) -> int:
        return len(self.task.atoms) if self.task.atoms is not None else 0


@dataclass
class TaskState:
    """Where one task stands: state (see :data:`STATES`), reason, collected or not."""

    entry: Entry
    state: str
    reason: str = ""
    collected: bool = False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Campaign:
    """A campaign defined by a spec (see :mod:`alkali_layers.campaigns.spec`).

    Parameters
    ----------
    spec : CampaignSpec or path
        The spec, or the path of its TOML file / directory.
    stream : file, optional
        Where progress goes (default stdout; ``False`` for silence).
    """

    def __init__(self, spec, stream=None):
        self.spec: CampaignSpec = (
            spec if isinstance(spec, CampaignSpec) else load_spec(spec)
        )
        self.root = self.spec.directory
        self.tasks_dir = self.root / "tasks"
        self.store = ResultStore(self.root / "results.db")
        self.stream = sys.stdout if stream is None else stream
        self.timings: dict[str, float] = {}
        self._entries: list[Entry] | None = None

    def log(self, text: str) -> None:
        if self.stream:
            print(text, file=self.stream, flush=True)

    # -- expansion ----------------------------------------------------------------
    def _entry(
        self, task: RelaxTask, settings: RelaxSettings, refs=None, engine=None
    ) -> Entry:
        engine = self.spec.engine if engine is None else engine
        if task.role == "reference" and hasattr(engine, "for_reference"):
            engine = engine.for_reference()  # e.g. denser k points for bcc metals
        key = task.key(engine, settings)
        folder = self.tasks_dir / task_folder_name(task, key)
        return Entry(task, key, settings, folder, engine, refs)

    def entries(self) -> list[Entry]:
        """All tasks: references first, then models (built once, cached)."""
        if self._entries is not None:
            return self._entries
        t0 = time.perf_counter()
        spec = self.spec
        ref_settings = reference_settings(spec.relax)
        models: list[Entry] = []
        refs: dict[str, Entry] = {}
        for group in spec.models:
            engine, relax_settings = spec.engine_of(group), spec.relax_of(group)
            for point in group.points():
                label = group.label(point)
                try:
                    atoms = group.build(point)
                    start = (
                        start_geometry(
                            spec.directory / group.start_from,
                            label,
                            atoms,
                            group.builder,
                        )
                        if group.start_from
                        else atoms
                    )
                except (ValueError, TypeError) as err:
                    task = RelaxTask(
                        label,
                        "model",
                        None,
                        {"builder": group.builder, **point},
                        build_error=str(err),
                    )
                    models.append(self._entry(task, relax_settings, engine=engine))
                    continue
                task = RelaxTask(
                    label,
                    "model",
                    start,
                    {"builder": group.builder, **point}
                    | ({"start_from": group.start_from} if group.start_from else {}),
                    kind=group.kind,
                    options=group.options,
                )
                needs = None
                if "formation_energy" in group.tasks and atoms.info.get("metal"):
                    metal = atoms.info["metal"]
                    host = pristine_host(atoms)
                    metal_label = f"bulk-{metal}"
                    host_label = f"{host.info['host']}-{host.info['stacking']}"
                    if metal_label not in refs:
                        refs[metal_label] = self._entry(
                            RelaxTask(
                                metal_label,
                                "reference",
                                metal_reference_atoms(metal),
                                {"metal": metal},
                            ),
                            ref_settings,
                        )
                    if host_label not in refs:
                        refs[host_label] = self._entry(
                            RelaxTask(
                                host_label,
                                "reference",
                                host,
                                {
                                    "host": host.info["host"],
                                    "stacking": host.info["stacking"],
                                },
                            ),
                            ref_settings,
                        )
                    needs = (metal_label, host_label)
                models.append(self._entry(task, relax_settings, needs, engine))
        labels = Counter(e.label for e in models)
        clash = [label for label, n in labels.items() if n > 1]
        if clash:
            raise ValueError(f"{spec.path}: grid points share labels {clash}")
        self._entries = list(refs.values()) + models
        self.timings["build_s"] = time.perf_counter() - t0
        return self._entries

    def write_task_files(self) -> None:
        """Create the task folders (task.json) of every task."""
        for e in self.entries():
            write_task_file(e.folder, e.task, e.key, e.engine, e.settings)

    # -- status -------------------------------------------------------------------
    def state_of(self, entry: Entry) -> TaskState:
        row = self.store.find(entry.key)
        if row is not None and row.get("status") == "ok":
            return TaskState(entry, "done", collected=True)
        result = read_json(entry.folder / RESULT_FILE)
        if result is not None:
            if result["status"] == "ok":
                return TaskState(entry, "done")
            return TaskState(
                entry, "failed", result.get("reason", ""), collected=row is not None
            )
        if row is not None:  # failed row without a file (e.g. a copied database)
            return TaskState(entry, "failed", row.get("reason", ""), collected=True)
        if entry.task.atoms is None:  # nothing ran, so nothing to collect
            return TaskState(
                entry, "failed", f"builder: {entry.task.build_error}", collected=True
            )
        running = read_json(entry.folder / RUNNING_FILE)
        if running is not None:
            here = running.get("host") == socket.gethostname()
            if not here or _pid_alive(int(running.get("pid", -1))):
                where = "" if here else f" on {running.get('host')}"
                progress = task_progress(entry.folder)
                return TaskState(
                    entry,
                    "running",
                    f"since {running.get('started')}{where}"
                    + (f"; {progress}" if progress else ""),
                )
            return TaskState(entry, "pending", "interrupted (its process is gone)")
        submitted = read_json(entry.folder / SUBMITTED_FILE)
        if submitted is not None:
            return TaskState(
                entry,
                "queued",
                f"submitted {submitted.get('time')} to {submitted.get('backend')}",
            )
        return TaskState(entry, "pending")

    def status(self) -> list[TaskState]:
        return [self.state_of(e) for e in self.entries()]

    def status_report(self) -> str:
        """Counts per state, then the failed, running and queued tasks with reasons."""
        states = self.status()
        counts = Counter(s.state for s in states)
        uncollected = sum(
            1 for s in states if s.state in ("done", "failed") and not s.collected
        )
        lines = [
            f"{self.spec.name}: {len(states)} tasks: "
            + ", ".join(f"{counts.get(k, 0)} {k}" for k in STATES)
            + (
                f"; {uncollected} finished but not collected (alkali-layers collect)"
                if uncollected
                else ""
            )
        ]
        pending = [s.entry for s in states if s.state == "pending"]
        bars_only = [
            e for e in pending if finished_without_error_bars(e, self.store) is not None
        ]
        if bars_only:
            lines.append(
                f"  {len(bars_only)} pending tasks need only their BEEF-vdW ensemble "
                "(the same task without error bars finished; a run adopts it)"
            )
        elsewhere = [
            e.task.label
            for e in pending
            if e not in bars_only and self.store.rows(label=e.task.label)
        ]
        if elsewhere:
            lines.append(
                f"  {len(elsewhere)} pending tasks have rows of the same label under "
                "another key (another structure or settings, or a key of the code "
                "before 2026-12-02: alkali-layers rekey)"
            )
        for s in states:
            if s.state in ("failed", "running", "queued") or s.reason:
                lines.append(f"  {s.state:8s} {s.entry.label}: {s.reason}")
        return "\n".join(lines)

    # -- collecting (the only writer of the database) ------------------------------
    @staticmethod
    def _builder_values(entry: Entry) -> dict:
        """What the builder gave the task: ``atoms.info``, or the parameters of a
        task without atoms (less ``builder``).  Their keys are the row's builder
        metadata (``row.data["builder_keys"]``, read back by
        :func:`~alkali_layers.campaigns.tasks.builder_metadata`)."""
        task = entry.task
        if task.atoms is not None:
            return dict(task.atoms.info)
        return {k: v for k, v in task.params.items() if k != "builder"}

    def _values(self, entry: Entry, outcome: TaskOutcome | None) -> dict:
        task = entry.task
        values = {"label": task.label, "role": task.role}
        built = self._builder_values(entry)
        if task.atoms is not None:  # gallery_height_A: the relaxed one, if any
            values["gallery_height_initial_A"] = built.pop("gallery_height_A", None)
        values.update(built)
        values["builder"] = task.params.get("builder", "")
        values["task_kind"] = task.kind
        if outcome is not None:
            values.update(
                wall_s=round(outcome.wall_s, 3),
                n_steps=outcome.n_steps,
                compute_host=outcome.host,
            )
        return {**values, **provenance(entry.engine, entry.settings)}

    def _record_failure(self, entry: Entry, outcome: TaskOutcome | None, reason: str):
        self.store.record_failure(
            entry.key, entry.task.atoms, self._values(entry, outcome), reason
        )

    def _record(self, entry: Entry, outcome: TaskOutcome) -> str:
        """Import one finished outcome as it is (no physics here: formation energies
        and capacities are computed from the database by :meth:`model_rows`);
        returns "ok" or "failed"."""
        if not outcome.ok:
            self._record_failure(entry, outcome, outcome.reason)
            return "failed"
        if entry.task.role == "reference" and not outcome.converged:
            self._record_failure(
                entry, outcome, f"reference not converged in {outcome.n_steps} steps"
            )
            return "failed"
        values = {
            **self._values(entry, outcome),
            "converged": outcome.converged,
            "fmax_final_eV_A": outcome.fmax_final_eV_A,
            "cell_mode": outcome.cell_mode,
            "gallery_height_A": outcome.gallery_height_A,
            "prescan_delta_A": outcome.prescan_delta_A,
            **outcome.values,
        }
        data = settings_data(entry.engine, entry.settings)
        data[BUILDER_KEYS] = sorted(self._builder_values(entry))
        if outcome.data:
            data["outcome"] = outcome.data
        self.store.record(entry.key, outcome.atoms, values, data)
        return "ok"

    @staticmethod
    def _reference_values(row) -> dict:
        """Energy per unit (atom of a bulk metal, carbon atom of a host), the unit
        count and, for a bulk metal, the relaxed bcc lattice constant, from a
        reference row."""
        symbols = row.toatoms().get_chemical_symbols()
        bulk = row.get("host") == "bulk"
        unit = len(symbols) if bulk else symbols.count("C")
        values = {"energy_per_unit_eV": float(row.energy) / unit, "n_units": unit}
        if bulk:
            values["bcc_a_relaxed_A"] = float(np.cbrt(2 * row.volume / row.natoms))
        return values

    def _finished_references(self):
        """(entry, database row, :meth:`_reference_values`) of every reference task
        that finished, in entry order."""
        for e in self.entries():
            if e.task.role != "reference":
                continue
            row = self.store.find(e.key)
            if row is not None and row.get("status") == "ok":
                yield e, row, self._reference_values(row)

    def _references(self) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """(energy per unit, BEEF ensemble per unit where the engine computed one
        (``error_bars``)) of every finished reference, by label: one pass over the
        database (see :meth:`_reference_values`)."""
        energies, ensembles = {}, {}
        for e, row, ref in self._finished_references():
            energies[e.label] = ref["energy_per_unit_eV"]
            ensemble = row.data.get("outcome", {}).get("beef_ensemble_eV")
            if ensemble is not None:
                ensembles[e.label] = np.asarray(ensemble) / ref["n_units"]
        return energies, ensembles

    def collect(self, entries: list[Entry] | None = None) -> Counter:
        """Import finished result files into the database (under its lock).

        A finished row is never replaced (only ``--force`` reruns do that).
        """
        counts: Counter = Counter()
        entries = self.entries() if entries is None else entries
        with self.store.lock():
            for role in ("reference", "model"):
                for e in entries:
                    if e.task.role != role:
                        continue
                    row = self.store.find(e.key)
                    if row is not None and row.get("status") == "ok":
                        continue
                    result = read_json(e.folder / RESULT_FILE)
                    if result is None:
                        if e.task.atoms is None and row is None:
                            self._record_failure(
                                e, None, f"builder: {e.task.build_error}"
                            )
                            counts["failed"] += 1
                        continue
                    if row is not None and result["status"] == "failed":
                        continue  # this failure is already in the database
                    counts[self._record(e, result_outcome(result))] += 1
        return counts

    # -- running ------------------------------------------------------------------
    def todo(self, force: bool = False, retry_failed: bool = False) -> list[Entry]:
        """Tasks to run: pending ones, failed ones if asked, finished ones if forced."""
        out = []
        for s in self.status():
            if s.entry.task.atoms is None:
                continue  # a builder error does not go away by rerunning
            if (
                s.state == "pending"
                or (s.state == "failed" and retry_failed)
                or (force and s.state in ("done", "failed", "queued"))
            ):
                out.append(s.entry)
        return out

    def run(
        self, backend=None, force: bool = False, retry_failed: bool = False
    ) -> list[dict]:
        """Run what is missing on ``backend`` (default: local, in-process)."""
        from .backends import LocalBackend

        backend = backend or LocalBackend()
        t0 = time.perf_counter()
        spec = self.spec
        entries = self.entries()
        self.write_task_files()
        self.collect()  # results finished elsewhere (or before an interruption)
        todo = self.todo(force, retry_failed)
        if force:  # an explicit request: keep the old result file, drop its row
            with self.store.lock():
                for e in todo:
                    archive_result(e.folder)
                    discard_kept_results(e.folder)
                    (e.folder / SUBMITTED_FILE).unlink(missing_ok=True)
                    self.store.delete(e.key)
        else:  # error bars switched on: the finished energies are reused
            adopted = sum(adopt_finished(e, self.store) for e in todo)
            if adopted:
                self.log(
                    f"{adopted} tasks reuse their finished result without error bars "
                    "and compute only the BEEF-vdW ensemble"
                )
        n_models = sum(1 for e in entries if e.task.role == "model")
        self.log(
            f"{spec.name}: {n_models} models + {len(entries) - n_models} references; "
            f"engine {spec.engine.describe()} [{spec.engine.settings_hash()}], "
            f"relaxation {spec.relax.describe()}; {len(todo)} to run on {backend}, "
            f"{len(entries) - len(todo)} done, failed or queued"
        )
        t1 = time.perf_counter()
        backend.run(self, todo)
        self.timings["run_s"] = time.perf_counter() - t1
        if not backend.asynchronous:
            t2 = time.perf_counter()
            table = self.write_outputs()
            self.timings["outputs_s"] = time.perf_counter() - t2
            self.log(self.status_report().splitlines()[0])
            self.log(
                f"done in {(time.perf_counter() - t0) / 60:.1f} min; "
                f"table: {self.root / 'table.md'}"
            )
            return table
        return []

    # -- analysis (from the database only) ---------------------------------------
    def model_rows(self) -> tuple[list[dict], list[tuple[str, str]]]:
        """(successful model rows as dicts, [(label, reason)] of failed models).

        Each row holds the database key-value pairs, ``n_atoms``, ``formula``,
        ``energy_eV`` and the kind's ``data``; for models of a ``formation_energy``
        group also the formation energy per metal atom against the references in
        the database (see :func:`~alkali_layers.calculators.energetics.
        formation_from_energy`) and the capacities.  A model whose references are
        not finished yet has no formation energy.
        """
        rows, failed = [], []
        refs, ensembles = self._references()
        for e in self.entries():
            if e.task.role != "model":
                continue
            row = self.store.find(e.key)
            if row is None:
                continue
            if row.get("status") != "ok":
                failed.append((e.label, row.get("reason", "")))
                continue
            values = {
                **row.key_value_pairs,
                "n_atoms": row.natoms,
                "formula": row.formula,
                "energy_eV": row.get("energy"),
                "data": row.data.get("outcome", {}),
            }
            try:
                values.update(self._formation_values(e, row, refs))
            except ModelFailure as err:
                failed.append((e.label, err.reason))
                continue
            values.update(self._formation_ensemble(e, values, ensembles))
            if self.spec.relax.slab_cell == "ab":
                values.update(in_plane_geometry(row.toatoms()))
            values.update(self._gallery_force(row, values["data"]))
            rows.append(values)
        return rows, failed

    @staticmethod
    def _gallery_force(row, outcome: dict) -> dict:
        """``gallery_force_eV_A`` (:func:`~alkali_layers.geometry.gallery_force_eV_A`)
        of a bilayer model whose DFT forces at the final geometry are stored."""
        forces = outcome.get("dft_forces_eV_A")
        if forces is None:
            return {}
        try:
            return {"gallery_force_eV_A": gallery_force_eV_A(row.toatoms(), forces)}
        except ValueError:
            return {}  # not a bilayer model

    @staticmethod
    def _formation_ensemble(
        entry: Entry, values: dict, ensembles: dict[str, np.ndarray]
    ) -> dict:
        """The BEEF ensemble of the formation energy (eV per metal atom) and its
        standard deviation, when model and references carry ensembles: each member
        is the same formula as E_f with that member's energies."""
        model = values["data"].get("beef_ensemble_eV")
        if model is None or entry.references is None:
            return {}
        metal_label, host_label = entry.references
        if metal_label not in ensembles or host_label not in ensembles:
            return {}
        atoms = entry.task.atoms
        symbols = atoms.get_chemical_symbols()
        n_metal = symbols.count(atoms.info["metal"])
        ensemble = formation_energy_eV_per_metal_atom(
            np.asarray(model),
            n_metal,
            symbols.count("C") * ensembles[host_label],
            ensembles[metal_label],
        )
        return {
            "formation_energy_ensemble_eV": ensemble,
            "formation_energy_std_eV": float(np.std(ensemble)),
        }

    def _formation_values(self, entry: Entry, row, refs: dict[str, float]) -> dict:
        """Formation energy (eV per metal atom) and capacities of a model row."""
        values: dict = {}
        atoms = row.toatoms()
        metal = entry.task.atoms.info.get("metal") or ""
        if entry.references is not None:
            metal_label, host_label = entry.references
            if metal_label in refs and host_label in refs and row.get("energy"):
                ef, host_energy = formation_from_energy(
                    float(row.energy),
                    entry.task.atoms,
                    refs[host_label],
                    refs[metal_label],
                )
                values.update(
                    formation_energy_eV_per_metal_atom=ef,
                    mu_metal_eV=refs[metal_label],
                    host_energy_eV=host_energy,
                    host_energy_per_carbon_eV=refs[host_label],
                )
        if metal and any(x != metal for x in atoms.get_chemical_symbols()):
            values["capacity_total_mAh_g"] = atoms_capacity_mAh_g(atoms, metal, "total")
            values["capacity_host_mAh_g"] = atoms_capacity_mAh_g(atoms, metal, "host")
        return values

    def reference_lines(self) -> list[str]:
        lines = []
        for e, row, ref in self._finished_references():
            if "bcc_a_relaxed_A" in ref:
                extra, unit = f", relaxed a = {ref['bcc_a_relaxed_A']:.3f} A", "atom"
            else:
                extra, unit = f", sheet spacing {row['gallery_height_A']:.3f} A", "C"
            lines.append(
                f"- {e.label}: {ref['energy_per_unit_eV']:.4f} eV per {unit}{extra}"
            )
        return lines

    def table(
        self, model_rows: tuple[list[dict], list[tuple[str, str]]] | None = None
    ) -> list[dict]:
        """Write table.csv and table.md from the database; return the table rows.

        ``model_rows`` is :meth:`model_rows`' result when the caller has read it
        already (one database read for all outputs); read here otherwise.
        """
        spec = self.spec
        rows, failed = self.model_rows() if model_rows is None else model_rows
        if spec.analysis == "bilayer":
            table, columns = bilayer_table(rows), BILAYER_COLUMNS
        else:
            table, columns = formation_table(rows), FORMATION_COLUMNS
        columns = with_error_columns(columns, table)
        write_csv(table, self.root / "table.csv", columns)
        notes = [
            f"{spec.description}".strip(),
            "",
            f"Engine: {spec.engine.describe()} "
            f"(settings hash {spec.engine.settings_hash()}); "
            f"relaxation: {spec.relax.describe()}"
            + "; references relaxed to "
            + f"{reference_settings(spec.relax).fmax_eV_A} eV/A.",
            "",
            "Conventions: formation energy per metal atom "
            "E_f = [E(host+nM) - E(host) - n mu_M]/n vs the relaxed bcc metal and the "
            "relaxed pristine host of the same stacking in the same supercell; "
            "voltage_step_V is the average voltage (V vs M+/M) of the step from n-1 to "
            "n layers (from the empty host for n = 1), computed per carbon atom; "
            "capacities in mAh/g per total mass (metal included) and per host (carbon) "
            "mass; supercell is the graphene supercell matrix (rows; ';' separates); "
            "metal_strain_pct is the largest principal in-plane strain of the metal; "
            "gallery_height_A is the relaxed carbon-plane to carbon-plane distance.",
            "",
            "References:",
            *self.reference_lines(),
        ]
        at = notes.index("References:") - 1
        for column, note in COLUMN_NOTES.items():
            if column in columns:
                notes[at:at] = ["", note]
                at += 2
        if "formation_energy_std_eV" in columns:
            notes[1:1] = [
                "",
                "Error bars: *_std_eV and *_std_V are standard deviations over the "
                "2000-member BEEF-vdW ensemble (ase.dft.bee; Wellendorff et al., PRB "
                "85, 235149 (2012)) of one BEEF-vdW calculation per structure at its "
                "final geometry: the sensitivity of each number to the exchange-"
                "correlation functional, not a statistical error.",
            ]
        if failed:
            notes += [
                "",
                "Failed models (not in the table):",
                *[f"- {label}: {reason}" for label, reason in failed],
            ]
        pending = [
            s.entry.label
            for s in self.status()
            if s.entry.task.role == "model" and s.state not in ("done", "failed")
        ]
        if pending:
            notes += ["", f"Not finished yet: {', '.join(pending)}"]
        write_markdown(table, self.root / "table.md", spec.title, notes, columns)
        return table

    def plot(self, rows: list[dict] | None = None) -> Path | None:
        """Write formation_energy.png (+ .csv) from the database (bilayer layout);
        ``rows``: the model rows when already read (see :meth:`table`)."""
        if rows is None:
            rows, _ = self.model_rows()
        if self.spec.analysis != "bilayer" or not rows:
            return None
        table = bilayer_table(rows)
        spec = self.spec
        return plot_formation_vs_layers(
            table,
            self.root / "formation_energy.png",
            f"{spec.engine.describe()}, fmax {spec.relax.fmax_eV_A} eV/A",
        )

    def formation_outputs(self) -> list[dict]:
        """The ``bilayer`` and ``formation`` layouts: table.md/.csv and the figure;
        for ``bilayer`` also vs_study.md (the sign pattern of the multilayer-alkali
        study, :mod:`~alkali_layers.analysis.sign_pattern`)."""
        model_rows = self.model_rows()
        rows = model_rows[0]
        table = self.table(model_rows)
        self.plot(rows)
        if self.spec.analysis == "bilayer":
            if any(
                r.get("formation_energy_eV_per_metal_atom") is not None for r in rows
            ):
                write_sign_pattern(rows, self.root / "vs_study.md", self.spec.title)
        return table

    def write_outputs(self) -> list[dict]:
        """Tables and figures of the spec's layout (``analysis``), from the database."""
        return LAYOUTS[self.spec.analysis](self)
