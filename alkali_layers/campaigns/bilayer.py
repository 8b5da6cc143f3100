"""The bilayer-graphene campaign: Li-Cs x 1-4 layers x AA/AB, relaxed and tabulated.

``run_bilayer_campaign`` builds every model and its references, relaxes what is not
already in ``<out>/results.db`` (content-addressed: a rerun reuses finished results),
stores one row per model with its metadata, engine-settings hash and package
versions, and writes ``table.csv``, ``table.md`` and ``formation_energy.png`` (+ CSV).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..analysis.capacity import atoms_capacity_mAh_g
from ..analysis.figures import plot_formation_vs_layers
from ..analysis.tables import bilayer_table, write_csv, write_markdown
from ..builders.intercalation import DEFAULT_MAX_STRAIN, bilayer_graphene, pristine_host
from ..calculators.energetics import formation_from_energy
from ..calculators.engines import MLIPSettings
from ..calculators.guards import ModelFailure
from ..calculators.references import metal_reference_atoms, reference_settings
from ..calculators.relax import RelaxSettings
from ..elements import (
    ALKALI_METALS,
    check_metal,
    check_n_layers,
    check_packing,
    check_stacking,
)
from .backends import LocalBackend, Progress, run_tasks
from .store import ResultStore
from .tasks import RelaxTask, TaskOutcome, provenance, settings_data

DEFAULT_OUT = Path("runs") / "bilayer_graphene"


@dataclass(frozen=True)
class BilayerCampaign:
    """The grid of bilayer models and the settings they are computed with."""

    metals: tuple[str, ...] = ALKALI_METALS
    layers: tuple[int, ...] = (1, 2, 3, 4)
    stackings: tuple[str, ...] = ("AA", "AB")
    packing: str = "fcc"
    max_strain: float = DEFAULT_MAX_STRAIN
    engine: MLIPSettings = field(default_factory=MLIPSettings)
    relax: RelaxSettings = field(default_factory=RelaxSettings)

    def __post_init__(self) -> None:
        for m in self.metals:
            check_metal(m)
        for n in self.layers:
            check_n_layers(n, allow_zero=False)
        for s in self.stackings:
            check_stacking(s)
        check_packing(self.packing)
        if not (self.metals and self.layers and self.stackings):
            raise ValueError(
                "the campaign needs at least one metal, layer count and stacking"
            )


def model_label(metal: str, n_layers: int, stacking: str) -> str:
    return f"{metal}-{n_layers}L-{stacking}"


def model_tasks(campaign: BilayerCampaign) -> list[RelaxTask]:
    """One task per grid point; a builder error becomes a task that fails with it."""
    tasks = []
    for metal in campaign.metals:
        for stacking in campaign.stackings:
            for n in campaign.layers:
                params = dict(
                    builder="bilayer_graphene",
                    metal=metal,
                    n_layers=n,
                    stacking=stacking,
                    packing=campaign.packing,
                    max_strain=campaign.max_strain,
                )
                label = model_label(metal, n, stacking)
                try:
                    atoms = bilayer_graphene(
                        metal,
                        n,
                        stacking,
                        campaign.packing,
                        max_strain=campaign.max_strain,
                    )
                    tasks.append(RelaxTask(label, "model", atoms, params))
                except ValueError as err:
                    tasks.append(
                        RelaxTask(label, "model", None, params, build_error=str(err))
                    )
    return tasks


def reference_tasks(campaign: BilayerCampaign) -> list[RelaxTask]:
    """Relaxed bcc metals and the pristine bilayer (primitive cell) per stacking."""
    tasks = [
        RelaxTask(f"bulk-{m}", "reference", metal_reference_atoms(m), {"metal": m})
        for m in campaign.metals
    ]
    for s in campaign.stackings:
        host = pristine_host(bilayer_graphene(None, 0, s))
        tasks.append(
            RelaxTask(f"bilayer_graphene-{s}", "reference", host, {"stacking": s})
        )
    return tasks


def _common_values(task: RelaxTask, outcome: TaskOutcome | None) -> dict:
    values = {"label": task.label, "role": task.role}
    if task.atoms is not None:
        info = task.atoms.info
        values.update({k: v for k, v in info.items() if k != "gallery_height_A"})
        values["gallery_height_initial_A"] = info.get("gallery_height_A")
    else:
        values.update({k: v for k, v in task.params.items() if k != "builder"})
    if outcome is not None:
        values.update(
            wall_s=round(outcome.wall_s, 3),
            n_steps=outcome.n_steps,
            compute_host=outcome.host,
        )
    return values


class BilayerRunner:
    """Runs a :class:`BilayerCampaign` into a directory; see the module docstring."""

    def __init__(
        self,
        campaign: BilayerCampaign,
        out_dir=DEFAULT_OUT,
        workers: int = 1,
        retry_failed: bool = False,
        stream=None,
    ):
        self.campaign = campaign
        self.out = Path(out_dir)
        self.store = ResultStore(self.out / "results.db")
        self.backend = LocalBackend(campaign.engine, campaign.relax, workers)
        self.ref_backend = LocalBackend(
            campaign.engine, reference_settings(campaign.relax), 1
        )
        self.retry_failed = retry_failed
        self.stream = sys.stdout if stream is None else stream
        self.provenance = provenance(campaign.engine, campaign.relax)
        self.ref_provenance = provenance(
            campaign.engine, reference_settings(campaign.relax)
        )
        self.data = settings_data(campaign.engine, campaign.relax)
        self.counts = {"computed": 0, "reused": 0, "failed": 0, "skipped_failed": 0}
        self.timings: dict[str, float] = {}

    def log(self, text: str) -> None:
        if self.stream:
            print(text, file=self.stream, flush=True)

    def key(self, task: RelaxTask) -> str:
        settings = self.campaign.relax
        if task.role == "reference":
            settings = reference_settings(settings)
        return task.key(self.campaign.engine, settings)

    def pending(self, tasks: list[RelaxTask]) -> list[RelaxTask]:
        """Tasks without a finished row; failed ones only with ``retry_failed``."""
        todo = []
        for task in tasks:
            row = self.store.find(self.key(task))
            if row is None:
                todo.append(task)
            elif row.get("status") == "ok":
                self.counts["reused"] += 1
            elif self.retry_failed:
                todo.append(task)
            else:
                self.counts["skipped_failed"] += 1
        return todo

    # -- writers (the only place the database is written) -------------------------
    def _record_failure(self, task: RelaxTask, outcome: TaskOutcome) -> None:
        self.counts["failed"] += 1
        self.store.record_failure(
            self.key(task),
            task.atoms,
            {**_common_values(task, outcome), **self.provenance},
            outcome.reason,
        )

    def record_reference(self, task: RelaxTask, outcome: TaskOutcome) -> None:
        if not outcome.ok or not outcome.converged:
            if outcome.ok:
                outcome.reason = f"reference not converged in {outcome.n_steps} steps"
            self._record_failure(task, outcome)
            return
        atoms = outcome.atoms
        symbols = atoms.get_chemical_symbols()
        unit = len(symbols) if atoms.info.get("host") == "bulk" else symbols.count("C")
        values = {
            **_common_values(task, outcome),
            **self.ref_provenance,
            "converged": True,
            "energy_per_unit_eV": outcome.energy_eV / unit,
            "fmax_final_eV_A": outcome.fmax_final_eV_A,
            "cell_mode": outcome.cell_mode,
            "gallery_height_A": outcome.gallery_height_A,
        }
        if atoms.info.get("host") == "bulk":
            values["bcc_a_relaxed_A"] = float(np.cbrt(2 * atoms.get_volume()))
        self.store.record(self.key(task), atoms, values, self.data)
        self.counts["computed"] += 1

    def record_model(self, task: RelaxTask, outcome: TaskOutcome, refs: dict) -> None:
        if not outcome.ok:
            self._record_failure(task, outcome)
            return
        info = task.atoms.info
        metal = info["metal"]
        try:
            mu = refs[f"bulk-{metal}"]
            e_c = refs[f"bilayer_graphene-{info['stacking']}"]
        except KeyError as err:
            outcome.ok, outcome.reason = False, f"reference {err} failed or missing"
            self._record_failure(task, outcome)
            return
        try:
            ef, host_energy = formation_from_energy(
                outcome.energy_eV, task.atoms, e_c, mu
            )
        except ModelFailure as err:
            outcome.ok, outcome.reason = False, err.reason
            self._record_failure(task, outcome)
            return
        values = {
            **_common_values(task, outcome),
            **self.provenance,
            "converged": outcome.converged,
            "fmax_final_eV_A": outcome.fmax_final_eV_A,
            "cell_mode": outcome.cell_mode,
            "gallery_height_A": outcome.gallery_height_A,
            "formation_energy_eV_per_atom": ef,
            "mu_metal_eV": mu,
            "host_energy_eV": host_energy,
            "host_energy_per_carbon_eV": e_c,
            "capacity_total_mAh_g": atoms_capacity_mAh_g(task.atoms, metal, "total"),
            "capacity_host_mAh_g": atoms_capacity_mAh_g(task.atoms, metal, "host"),
        }
        self.store.record(self.key(task), outcome.atoms, values, self.data)
        self.counts["computed"] += 1

    # -- the run ---------------------------------------------------------------
    def reference_energies(self, tasks: list[RelaxTask]) -> dict[str, float]:
        refs = {}
        for task in tasks:
            row = self.store.find(self.key(task))
            if row is not None and row.get("status") == "ok":
                refs[task.label] = float(row["energy_per_unit_eV"])
        return refs

    def run(self) -> list[dict]:
        """Compute what is missing, write the table and figure; return the table."""
        t0 = time.perf_counter()
        c = self.campaign
        self.log(
            f"bilayer-graphene campaign -> {self.out}: {len(c.metals)} metals x "
            f"layers {list(c.layers)} x {list(c.stackings)}, packing {c.packing}; "
            f"engine {c.engine.describe()} [{c.engine.settings_hash()}], "
            f"fmax {c.relax.fmax_eV_A} eV/A, {self.backend.workers} worker(s)"
        )
        refs_t = reference_tasks(c)
        models_t = model_tasks(c)
        t1 = time.perf_counter()
        self.timings["build_s"] = t1 - t0
        todo_refs = self.pending(refs_t)
        if todo_refs:
            self.log(f"references: {len(todo_refs)} to relax")
            run_tasks(
                self.ref_backend,
                todo_refs,
                self.record_reference,
                Progress(todo_refs, self.stream, "  ref "),
            )
        refs = self.reference_energies(refs_t)
        t2 = time.perf_counter()
        self.timings["references_s"] = t2 - t1
        todo = self.pending(models_t)
        self.log(
            f"models: {len(models_t)} in the grid, {len(todo)} to relax, "
            f"{len(models_t) - len(todo)} already in {self.store.path.name}"
        )
        if todo:
            run_tasks(
                self.backend,
                todo,
                lambda t, o: self.record_model(t, o, refs),
                Progress(todo, self.stream, "  "),
            )
        t3 = time.perf_counter()
        self.timings["models_s"] = t3 - t2
        table = self.write_outputs(models_t, refs_t)
        self.timings["outputs_s"] = time.perf_counter() - t3
        self.timings = {k: round(v, 2) for k, v in self.timings.items()}
        self.log(
            f"done in {(time.perf_counter() - t0) / 60:.1f} min: "
            + ", ".join(f"{k} {v}" for k, v in self.counts.items())
        )
        return table

    def write_outputs(
        self, models_t: list[RelaxTask], refs_t: list[RelaxTask]
    ) -> list[dict]:
        """table.csv, table.md and formation_energy.png(+csv) from the database rows."""
        rows, failed = [], []
        for task in models_t:
            row = self.store.find(self.key(task))
            if row is None:
                continue
            if row.get("status") == "ok":
                rows.append({**row.key_value_pairs, "n_atoms": row.natoms})
            else:
                failed.append((task.label, row.get("reason", "")))
        table = bilayer_table(rows)
        write_csv(table, self.out / "table.csv")
        c = self.campaign
        ref_lines = []
        for task in refs_t:
            row = self.store.find(self.key(task))
            if row is not None and row.get("status") == "ok":
                extra = (
                    f", relaxed a = {row['bcc_a_relaxed_A']:.3f} A"
                    if "bcc_a_relaxed_A" in row
                    else f", sheet spacing {row['gallery_height_A']:.3f} A"
                )
                ref_lines.append(
                    f"- {task.label}: {row['energy_per_unit_eV']:.4f} eV per "
                    f"{'atom' if task.label.startswith('bulk') else 'C'}{extra}"
                )
        notes = [
            f"Engine: {c.engine.describe()} "
            f"(settings hash {c.engine.settings_hash()}); "
            f"relaxation: {c.relax.optimizer}, fmax {c.relax.fmax_eV_A} eV/A, at most "
            f"{c.relax.max_steps} steps; metal packing {c.packing} for 2-4 layers, "
            "sqrt3 x sqrt3 R30 (C6MC6) for one layer.",
            "",
            "Conventions: formation energy per metal atom "
            "E_f = [E(BLG+nM) - E(BLG) - n mu_M]/n vs the relaxed bcc metal and the "
            "relaxed pristine bilayer of the same stacking in the same supercell; "
            "voltage_step_V is the average voltage (V vs M+/M) of the step from n-1 to "
            "n layers (from the empty bilayer for n = 1), computed per carbon atom; "
            "capacities in mAh/g per total mass (metal included) and per host (carbon) "
            "mass; supercell is the graphene supercell matrix (rows; ';' separates); "
            "metal_strain_pct is the largest principal in-plane strain of the metal; "
            "gallery_height_A is the relaxed carbon-plane to carbon-plane distance.",
            "",
            "References:",
            *ref_lines,
        ]
        if failed:
            notes += [
                "",
                "Failed models (not in the table):",
                *[f"- {label}: {reason}" for label, reason in failed],
            ]
        write_markdown(
            table,
            self.out / "table.md",
            "Multilayer alkali metals in bilayer graphene",
            notes,
        )
        if table:
            plot_formation_vs_layers(
                table,
                self.out / "formation_energy.png",
                f"{c.engine.describe()}, fmax {c.relax.fmax_eV_A} eV/A",
            )
        return table


def run_bilayer_campaign(
    out_dir=DEFAULT_OUT,
    workers: int = 1,
    retry_failed: bool = False,
    stream=None,
    **campaign_kwargs,
) -> list[dict]:
    """Run (or resume) the bilayer-graphene campaign and write its outputs.

    Parameters
    ----------
    out_dir : path
        Directory for results.db, table.csv, table.md and formation_energy.png.
    workers : int
        Worker processes (1 = in-process).
    retry_failed : bool
        Recompute models whose stored result is a failure.
    **campaign_kwargs
        Fields of :class:`BilayerCampaign` (metals, layers, stackings, packing,
        max_strain, engine, relax).
    """
    campaign = BilayerCampaign(**campaign_kwargs)
    return BilayerRunner(campaign, out_dir, workers, retry_failed, stream).run()
