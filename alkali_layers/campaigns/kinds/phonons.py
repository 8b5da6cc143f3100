"""The ``phonons`` task kind and the ``phonons`` layout.

One task relaxes a model (optional, the campaign's ``[relax]`` settings; ML, or the
staged GPAW protocol) and computes its harmonic phonons by finite displacements
through phonopy (:func:`alkali_layers.calculators.phonons.phonons`).  Options
(:class:`PhononOptions`, ``[models.options]`` of a spec) enter the task key.

Files in the task folder
    ``relaxed.json``: the relaxed structure and its energy (written once the
    relaxation ends; a rerun skips the relaxation); ``relax.log``;
    ``phonopy/``: phonopy's displacement set and the forces of every displaced
    supercell, one file each, so a killed task (a GPAW run on a cluster) loses at
    most the displacement it was computing; ``phonons.json``: the full result
    (band structure at full resolution).

The layout writes ``table.md``/``table.csv`` (lowest frequency and its q-point,
stability verdict, F_vib(300 K), zero-point energy; formation energies and voltage
steps at 0 K and 300 K where the campaign holds the references), one band-structure
+ DOS figure per model (``bands/<label>.png``), ``fvib.png`` (F_vib(T) per atom) and
``thermo.csv``.  Units: THz, eV, eV per metal atom, V vs M+/M.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ase.io import read, write

from ...analysis.thermo import formation_rows_at_temperature
from ...calculators.phonons import (
    DEFAULT_DISPLACEMENT_A,
    DEFAULT_IMAGINARY_TOLERANCE_THZ,
    DEFAULT_MIN_LENGTH_A,
    PhononResult,
    PhononSettings,
    phonons,
)
from ...jsonio import write_json_atomic
from ..registry import TaskKind, register_layout, register_task_kind
from ..tasks import TaskOutcome
from .relax import run_relax, run_single_point

TASK_KIND_PHONONS = "phonons"
RELAXED_FILE = "relaxed.json"
RESULT_FILE = "phonons.json"
PHONOPY_DIR = "phonopy"
#: Band-structure q-points per segment stored in the database (full in the folder).
DB_BAND_POINTS = 21


@dataclass(frozen=True)
class PhononOptions:
    """Options of a ``phonons`` task.

    Attributes
    ----------
    supercell : list of int or None
        Repetitions along a, b, c; None (default): at least ``min_length_A`` along
        periodic directions, 1 along vacuum.
    min_length_A : float
        Minimum supercell width (A).
    displacement_A : float
        Finite displacement (A).
    relax_first : bool
        Relax with the campaign's ``[relax]`` settings before the displacements
        (default); False: phonons at the built geometry.
    imaginary_tolerance_THz : float
        Frequencies above ``-tolerance`` count as real.
    """

    supercell: list | None = None
    min_length_A: float = DEFAULT_MIN_LENGTH_A
    displacement_A: float = DEFAULT_DISPLACEMENT_A
    relax_first: bool = True
    imaginary_tolerance_THz: float = DEFAULT_IMAGINARY_TOLERANCE_THZ

    def __post_init__(self) -> None:
        if self.supercell is not None:
            object.__setattr__(self, "supercell", [int(n) for n in self.supercell])
        self.phonon_settings()  # validates

    def phonon_settings(self) -> PhononSettings:
        return PhononSettings(
            supercell=tuple(self.supercell) if self.supercell else None,
            min_length_A=self.min_length_A,
            displacement_A=self.displacement_A,
            imaginary_tolerance_THz=self.imaginary_tolerance_THz,
        )


def _relaxed(task, engine, calc, settings, folder: Path | None, relax_first: bool):
    """(atoms, outcome of the relaxation or single point), read back when done."""
    path = folder / RELAXED_FILE if folder is not None else None
    if path is not None and path.exists():
        atoms = read(path)
        energy = float(atoms.get_potential_energy())
        base = TaskOutcome(label=task.label, ok=True, atoms=atoms, energy_eV=energy)
        base.converged = bool(atoms.info.get("relax_converged", True))
        return atoms, base
    run = run_relax if relax_first else run_single_point
    outcome = run(task, engine, calc, settings, folder)
    if path is not None:
        atoms = outcome.atoms.copy()
        atoms.calc = outcome.atoms.calc
        atoms.info["relax_converged"] = bool(outcome.converged)
        write(path, atoms, format="json")
    return outcome.atoms, outcome


def run_phonons(task, engine, calc, settings, folder: Path | None) -> TaskOutcome:
    """Relax (optionally), then phonons; every stage resumes from the folder."""
    options = PhononOptions(**task.options)
    folder = Path(folder) if folder is not None else None
    atoms, outcome = _relaxed(task, engine, calc, settings, folder, options.relax_first)
    source = calc if engine is None or engine.engine == "mlip" else engine
    result = phonons(
        atoms,
        source,
        settings=options.phonon_settings(),
        folder=folder / PHONOPY_DIR if folder is not None else None,
    )
    if folder is not None:
        write_json_atomic(folder / RESULT_FILE, result.to_dict())
    f300 = result.free_energy_at(300.0)
    i300 = result.temperatures_K.index(300.0) if 300.0 in result.temperatures_K else 0
    n = len(atoms)
    outcome.values = {
        "lowest_frequency_THz": result.lowest_frequency_THz,
        "lowest_q": " ".join(f"{x:g}" for x in result.lowest_qpoint),
        "dynamically_stable": result.dynamically_stable,
        "stability": result.stability,
        "lowest_commensurate_THz": result.lowest_commensurate_THz,
        "imaginary_tolerance_THz": result.imaginary_tolerance_THz,
        "n_imaginary_qpoints": result.n_imaginary_qpoints,
        "gamma_acoustic_max_abs_THz": result.gamma_acoustic_max_abs_THz,
        "max_frequency_THz": result.max_frequency_THz,
        "n_displacements": result.n_displacements,
        "phonon_supercell": " ".join(
            str(row[i]) for i, row in enumerate(result.supercell_matrix)
        ),
        "zpe_eV": result.zero_point_energy_eV,
        "f_vib_300K_eV": f300,
        "f_vib_300K_eV_per_atom": f300 / n,
        "s_vib_300K_eV_K": result.entropy_eV_K[i300],
    }
    outcome.data = {"phonons": _compact(result).to_dict()}
    return outcome


def _compact(result: PhononResult) -> PhononResult:
    """The result with a coarser band structure (every k-th point) for the database."""
    band = dict(result.band)
    step = max(1, math.ceil(len(band["qpoints"][0]) / DB_BAND_POINTS))
    for key in ("qpoints", "distances", "frequencies_THz"):
        band[key] = [
            seg[::step] + ([seg[-1]] if (len(seg) - 1) % step else [])
            for seg in band[key]
        ]
    return replace(result, band=band)


# --------------------------------------------------------------------------- layout
TABLE_COLUMNS = (
    "label",
    "formula",
    "n_atoms",
    "phonon_supercell",
    "n_displacements",
    "lowest_frequency_THz",
    "lowest_q",
    "dynamically_stable",
    "stability",
    "lowest_commensurate_THz",
    "f_vib_300K_eV_per_atom",
    "zpe_eV_per_atom",
    "formation_energy_eV_per_atom",
    "formation_energy_eV_per_atom_300K",
    "delta_300K_eV_per_atom",
    "voltage_step_V",
    "voltage_step_V_300K",
)


def write_phonon_outputs(campaign) -> list[dict]:
    """table.md/.csv, thermo.csv, bands/<label>.png, fvib.png from the database."""
    from ...analysis.figures_phonons import (
        plot_bands_dos,
        plot_free_energies,
        plot_voltage_steps_temperature,
    )

    rows, failed = campaign.model_rows()
    root = Path(campaign.root)
    thermo = {r["label"]: r for r in formation_rows_at_temperature(rows, 300.0)}
    table = []
    for row in rows:
        if "lowest_frequency_THz" not in row:
            continue
        result = PhononResult.from_dict(row["data"]["phonons"])
        out = {c: row.get(c) for c in TABLE_COLUMNS[:10]}
        out["f_vib_300K_eV_per_atom"] = row["f_vib_300K_eV_per_atom"]
        out["zpe_eV_per_atom"] = row["zpe_eV"] / row["n_atoms"]
        out.update(
            {
                k: v
                for k, v in thermo.get(row["label"], {}).items()
                if k in TABLE_COLUMNS
            }
        )
        table.append(out)
        plot_bands_dos(result, row["label"], root / "bands" / f"{row['label']}.png")
    plot_free_energies(
        {
            r["label"]: PhononResult.from_dict(r["data"]["phonons"])
            for r in rows
            if "data" in r and "phonons" in r["data"]
        },
        {r["label"]: r["n_atoms"] for r in rows},
        root / "fvib.png",
    )
    _write_table(root, table, failed)
    if thermo:
        plot_voltage_steps_temperature(
            list(thermo.values()), 300.0, root / "voltage_300K.png"
        )
        _hard_carbon_outputs(root)  # a thermo study: the closed pore at 300 K too
        with (root / "thermo.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=_thermo_fields(thermo))
            writer.writeheader()
            for r in thermo.values():
                writer.writerow(r)
    return table


def _hard_carbon_outputs(root: Path, temperature_K: float = 300.0) -> None:
    """The closed-pore profiles of the sibling hard-carbon study at 0 K and 300 K.

    Reads ``../hard_carbon/results/closed*-strict.json`` (finished fillings) when
    present; writes ``hard_carbon_300K.png`` and ``.csv`` (configurational entropy
    of each hull step as an ideal lattice gas; no vibrational term).
    """
    import json

    from ...analysis.figures_phonons import plot_profiles_temperature
    from ...analysis.hard_carbon import PLATEAU_THRESHOLD_V
    from ...analysis.thermo import capacity_between_mAh_g, filling_profiles

    results = root.parent / "hard_carbon" / "results"
    files = sorted(results.glob("closed*-strict.json")) if results.is_dir() else []
    curves = {}
    for path in files:
        filling = json.loads(path.read_text())
        profile, curve = filling_profiles(filling, temperature_K)
        if curve[0]:
            curves[path.stem] = (profile, curve)
    if not curves:
        return
    plot_profiles_temperature(curves, temperature_K, root / "hard_carbon_300K.png")
    lines = [
        f"| filling | Q > 0 V, 0 K | Q > 0 V, {temperature_K:g} K "
        f"| Q 0-0.1 V, 0 K | Q 0-0.1 V, {temperature_K:g} K |",
        "|---|---|---|---|---|",
    ]
    for label, (profile, (q, v)) in curves.items():
        q0, v0 = profile.curve()
        cells = [
            capacity_between_mAh_g(q0, v0),
            capacity_between_mAh_g(q, v),
            capacity_between_mAh_g(q0, v0, 0.0, PLATEAU_THRESHOLD_V),
            capacity_between_mAh_g(q, v, 0.0, PLATEAU_THRESHOLD_V),
        ]
        lines.append(f"| {label} | " + " | ".join(f"{c:.0f}" for c in cells) + " |")
    lines += [
        "",
        "Capacities in mAh per g of host (C + H); each hull step of the 0 K profile "
        "filled as an ideal lattice gas of its added sites, "
        "V(c) = V0 - (k_B T/e) ln(c/(1-c)); vibrational free energies not included.",
    ]
    (root / "hard_carbon_300K.md").write_text("\n".join(lines) + "\n")
    with (root / "hard_carbon_300K.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["filling", "T_K", "capacity_host_mAh_g", "voltage_V"])
        for label, (profile, (q, v)) in curves.items():
            for a, b in zip(*profile.curve(), strict=True):
                writer.writerow([label, 0, round(a, 2), round(b, 5)])
            for a, b in zip(q, v, strict=True):
                writer.writerow([label, temperature_K, round(a, 2), round(b, 5)])


def _thermo_fields(thermo: dict) -> list[str]:
    names: list[str] = []
    for r in thermo.values():
        names += [k for k in r if k not in names]
    return names or ["label"]


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _write_table(root: Path, table: list[dict], failed) -> None:
    with (root / "table.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(TABLE_COLUMNS))
        writer.writeheader()
        for r in table:
            writer.writerow({c: r.get(c) for c in TABLE_COLUMNS})
    lines = [
        "| " + " | ".join(TABLE_COLUMNS) + " |",
        "|" + "---|" * len(TABLE_COLUMNS),
    ]
    lines += [
        "| " + " | ".join(_fmt(r.get(c)) for c in TABLE_COLUMNS) + " |" for r in table
    ]
    if failed:
        lines += ["", "Failed: " + "; ".join(f"{a}: {b}" for a, b in failed)]
    (root / "table.md").write_text("\n".join(lines) + "\n")


register_task_kind(
    TaskKind(
        TASK_KIND_PHONONS,
        "relax (optional), then harmonic phonons by finite displacements (phonopy)",
        run_phonons,
        uses_relax_settings=True,
        options=PhononOptions,
    )
)
register_layout("phonons", write_phonon_outputs)


def phonon_options(**options) -> dict:
    """The options dict of a phonons task (defaults filled in), as a spec makes it."""
    return asdict(PhononOptions(**options))
