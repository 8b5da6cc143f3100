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
``thermo.csv``; when a twin campaign ``<name>_ml`` exists (the same models with the
fast engine), the mode-by-mode comparison with it (``modes.md``/``modes.csv`` and
the marked section of the README, :func:`write_mode_comparison`).  Units: THz, eV,
eV per metal atom, V vs M+/M.

The ``pore_phonons`` layout adds the voltage steps of hard-carbon pore fillings at
0 K and 300 K with F_vib (:func:`write_pore_voltage_outputs`); the builder
``filling_structure`` reads one step of a stored filling.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read, write

from ...analysis.thermo import formation_rows_at_temperature
from ...calculators.phonons import (
    DEFAULT_DISPLACEMENT_A,
    DEFAULT_IMAGINARY_TOLERANCE_THZ,
    DEFAULT_MIN_LENGTH_A,
    PhononResult,
    PhononSettings,
    phonons,
    phonopy_inputs,
    write_phonopy_inputs,
)
from ...jsonio import write_json_atomic
from ..registry import (
    TaskKind,
    register_builder,
    register_layout,
    register_task_kind,
)
from ..tasks import TaskOutcome
from .relax import run_relax, run_single_point

TASK_KIND_PHONONS = "phonons"
RELAXED_FILE = "relaxed.json"
RESULT_FILE = "phonons.json"
PHONOPY_DIR = "phonopy"
#: database data entry with the force sets of a finished phonons task
PHONOPY_INPUTS = "phonopy_inputs"
#: Band-structure q-points per segment stored in the database (full in the folder).
DB_BAND_POINTS = 21
#: Options added after tasks existed: in the task key only when set.
LATE_OPTIONS = ("dft_kpt_density", "dft_ecut_eV")


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
    dft_kpt_density : float or None
        GPAW only: k-point density of the displaced supercells (points per
        reciprocal-length unit, the engine's convention) instead of the campaign's
        ``final`` preset.  A hexagonal supercell needs an odd in-plane grid: GPAW's
        even Monkhorst-Pack grids are not symmetric under 60 degree rotations, and
        phonopy, which rebuilds the force constants from symmetry-reduced
        displacements, then gets forces of the wrong symmetry (measured here: a
        -29.9 THz mode in 2x2x1 graphite with a 4x4x3 grid).  Ignored by ML engines.
    dft_ecut_eV : float or None
        GPAW only: plane-wave cutoff (eV) of the displaced supercells instead of the
        ``final`` preset's.  Ignored by ML engines.

    The two ``dft_*`` fields came after tasks had been computed: they enter the
    task key only when set (:meth:`key_dict`), so existing keys stay valid.
    """

    supercell: list | None = None
    min_length_A: float = DEFAULT_MIN_LENGTH_A
    displacement_A: float = DEFAULT_DISPLACEMENT_A
    relax_first: bool = True
    imaginary_tolerance_THz: float = DEFAULT_IMAGINARY_TOLERANCE_THZ
    dft_kpt_density: float | None = None
    dft_ecut_eV: float | None = None

    def __post_init__(self) -> None:
        if self.supercell is not None:
            object.__setattr__(self, "supercell", [int(n) for n in self.supercell])
        for name in LATE_OPTIONS:
            value = getattr(self, name)
            if value is not None:
                if isinstance(value, bool) or not float(value) > 0:
                    raise ValueError(f"{name} must be a positive number, got {value!r}")
                object.__setattr__(self, name, float(value))
        self.phonon_settings()  # validates

    def key_dict(self) -> dict:
        """The options that enter the task key: every field, ``dft_*`` when set."""
        out = asdict(self)
        for name in LATE_OPTIONS:
            if out[name] is None:
                del out[name]
        return out

    def dft_engine(self, engine):
        """``engine`` (a DFTProtocol) with the ``dft_*`` overrides in its final preset.

        Returns ``engine`` itself when nothing is overridden or it is not GPAW.
        """
        changes = {}
        if self.dft_kpt_density is not None:
            changes["kpt_density"] = self.dft_kpt_density
        if self.dft_ecut_eV is not None:
            changes["ecut_eV"] = self.dft_ecut_eV
        if not changes or getattr(engine, "engine", None) != "gpaw":
            return engine
        return replace(engine, final=replace(engine.final, **changes))

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
    source = (
        calc
        if engine is None or engine.engine == "mlip"
        else options.dft_engine(engine)
    )
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
    if folder is not None:  # the force sets travel with the committed database
        outcome.data[PHONOPY_INPUTS] = phonopy_inputs(folder / PHONOPY_DIR)
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
    "formation_energy_eV_per_metal_atom",
    "formation_energy_eV_per_metal_atom_300K",
    "delta_300K_eV_per_metal_atom",
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
    store_phonopy_inputs(campaign)
    write_mode_comparison(campaign)
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


#: Suffix of the twin campaign (same models, the fast engine) a DFT phonon campaign
#: is compared with mode by mode: ``runs/phonons_gpaw`` -> ``runs/phonons_gpaw_ml``.
TWIN_SUFFIX = "_ml"
#: The q-points of the mode-by-mode comparison (labels of ASE's special points).
COMPARED_POINTS = ("Γ", "M", "K", "A")
README_BEGIN = "<!-- mode comparison: begin (written by alkali-layers run/table) -->"
README_END = "<!-- mode comparison: end -->"


def _task_phonopy_folder(campaign, key: str) -> Path | None:
    """The phonopy checkpoint folder of task ``key`` among the task folders (any
    label it was run under), or None."""
    found = sorted(Path(campaign.tasks_dir).glob(f"*.{key}/{PHONOPY_DIR}"))
    found = [f for f in found if (f / "phonopy_disp.yaml").exists()]
    return found[0] if found else None


def _phonopy_folder(campaign, key: str) -> Path | None:
    """The checkpoint folder of the task ``key`` (any label it was run under).

    Task folders are scratch (not committed): where it is gone, it is recreated
    from the force sets stored in the task's database row
    (``data["phonopy_inputs"]``), as ``tasks/from-db.<key>/phonopy``.
    """
    found = _task_phonopy_folder(campaign, key)
    if found is not None:
        return found
    row = campaign.store.find(key)
    inputs = row.data.get(PHONOPY_INPUTS) if row is not None else None
    if not inputs:
        return None
    folder = Path(campaign.tasks_dir) / f"from-db.{key}" / PHONOPY_DIR
    return write_phonopy_inputs(inputs, folder)


def store_phonopy_inputs(campaign) -> list[str]:
    """Add the force sets (:func:`~alkali_layers.calculators.phonons.
    phonopy_inputs`) to finished phonons rows stored before rows carried them,
    from their task folders where these still exist; adds a data entry, changes
    nothing stored.  Returns the labels updated."""
    done = []
    for entry in campaign.entries():
        if entry.task.kind != TASK_KIND_PHONONS:
            continue
        row = campaign.store.find(entry.key)
        if row is None or row.get("status") != "ok" or PHONOPY_INPUTS in row.data:
            continue
        found = _task_phonopy_folder(campaign, entry.key)
        if found is None:
            continue
        try:
            inputs = phonopy_inputs(found)
        except ValueError:  # an unfinished folder
            continue
        campaign.store.db.update(row.id, data={PHONOPY_INPUTS: inputs})
        done.append(entry.label)
    return done


def _finished_phonon_entries(campaign) -> dict[str, tuple[object, Path]]:
    """{spec label: (entry, phonopy folder)} of the finished phonons tasks."""
    out = {}
    for entry in campaign.entries():
        if entry.task.kind != TASK_KIND_PHONONS:
            continue
        row = campaign.store.find(entry.key)
        if row is None or row.get("status") != "ok":
            continue
        folder = _phonopy_folder(campaign, entry.key)
        if folder is not None:
            out[entry.label] = (entry, folder)
    return out


def mode_comparison_rows(campaign, twin) -> tuple[list[dict], list[str]]:
    """Mode-by-mode comparison of the models two campaigns share (by label).

    ``campaign`` (the reference, e.g. GPAW) and ``twin`` (e.g. the fast engine at
    the same geometries and supercells): :class:`Campaign` objects.  Force
    constants are rebuilt from the task folders
    (:func:`~alkali_layers.calculators.phonons.load_phonopy`); modes are paired by
    eigenvector overlap (:func:`~alkali_layers.analysis.phonon_modes.
    compare_modes_matched`) at Γ, M, K and A (hexagonal cells).  A point that is
    not commensurate with the supercell and has a component along an axis the
    supercell does not repeat is left out (interpolating from one cell is
    meaningless: M and K in a 1x1xn supercell, A in an nxnx1 one); otherwise an
    interpolated point is kept and flagged (``commensurate`` False).  Returns
    ``(rows, notes)``; each row has ``label``, ``supercell`` and the comparison's
    columns.
    """
    from ...analysis.phonon_modes import compare_modes_matched
    from ...calculators.phonons import load_phonopy, modes_at, special_qpoints

    mine = _finished_phonon_entries(campaign)
    theirs = _finished_phonon_entries(twin)
    rows, notes = [], []
    for label, (entry, folder) in mine.items():
        if label not in theirs:
            notes.append(f"{label}: not finished in {twin.root}")
            continue
        other_options = theirs[label][0].task.options
        if any(
            entry.task.options.get(k) != other_options.get(k)
            for k in ("supercell", "displacement_A", "relax_first")
        ):
            notes.append(f"{label}: other supercell or displacement in the twin")
            continue
        a, b = load_phonopy(folder), load_phonopy(theirs[label][1])
        supercell = [int(round(x)) for x in np.diag(a.supercell_matrix)]
        special = special_qpoints(a)
        ref, other = {}, {}
        for point in COMPARED_POINTS:
            if point not in special:
                continue
            ra = modes_at(a, special[point])
            single = [
                abs(q) > 1e-9 and n == 1
                for q, n in zip(special[point], supercell, strict=True)
            ]
            if not ra[2] and any(single):
                continue  # interpolated across a direction of one cell: meaningless
            ref[point], other[point] = ra, modes_at(b, special[point])
        overrides = ", ".join(
            f"{k} {entry.task.options[k]:g}"
            for k in LATE_OPTIONS
            if entry.task.options.get(k) is not None
        )
        for r in compare_modes_matched(ref, other):
            rows.append(
                {
                    "label": label,
                    "supercell": " ".join(map(str, supercell)),
                    "reference_overrides": overrides,
                    **r,
                }
            )
    return rows, notes


def write_mode_comparison(campaign) -> list[dict]:
    """``modes.md``/``modes.csv`` and the README section comparing a campaign with
    its twin ``<name>_ml`` mode by mode; nothing when there is no twin."""
    root = Path(campaign.root)
    twin_dir = root.parent / f"{root.name}{TWIN_SUFFIX}"
    if not (twin_dir / "campaign.toml").exists():
        return []
    twin = type(campaign)(twin_dir, stream=False)  # no import of campaigns.campaign
    rows, notes = mode_comparison_rows(campaign, twin)
    if not rows:
        return []
    columns = list(rows[0])
    with (root / "modes.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        f"Reference: `{root.name}` ({campaign.spec.engine.describe()}); other: "
        f"`{twin_dir.name}` "
        f"({twin.spec.engine.describe()}).  Modes paired by eigenvector overlap "
        "(1 = the same motion); branch = order of the reference's frequencies; "
        "Δ = other − reference; % of |reference| (blank below 0.5 THz); "
        "exact = q commensurate with the supercell, interp. = Fourier-interpolated.",
        "",
    ]
    for label in dict.fromkeys(r["label"] for r in rows):
        mine = [r for r in rows if r["label"] == label]
        lines += [
            f"### {label} (supercell {mine[0]['supercell']}"
            + (
                f"; reference supercells at {mine[0]['reference_overrides']}"
                if mine[0]["reference_overrides"]
                else ""
            )
            + ")",
            "",
            "| q | branch | reference (THz) | other (THz) | Δ (THz) | Δ (%) "
            "| overlap | at q |",
            "|---|---|---|---|---|---|---|---|",
        ]
        exact = {True: "exact", False: "interp."}
        for r in mine:
            pct = "" if r["difference_pct"] is None else f"{r['difference_pct']:+.1f}"
            lines.append(
                f"| {r['point']} | {r['branch']} | {r['reference_THz']:.2f} "
                f"| {r['other_THz']:.2f} | {r['difference_THz']:+.2f} | {pct} "
                f"| {r['overlap']:.2f} | {exact[r['commensurate']]} |"
            )
        lines.append("")
    if notes:
        lines += ["Not compared: " + "; ".join(notes), ""]
    text = "\n".join(lines)
    (root / "modes.md").write_text(text)
    readme = root / "README.md"
    if readme.exists():
        old = readme.read_text()
        if README_BEGIN in old and README_END in old:
            head, rest = old.split(README_BEGIN, 1)
            _, tail = rest.split(README_END, 1)
            readme.write_text(f"{head}{README_BEGIN}\n\n{text}\n{README_END}{tail}")
    return rows


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


def filling_structure(
    filling: str, n_metal: int, results: str = "runs/hard_carbon/results"
) -> Atoms:
    """The relaxed structure with ``n_metal`` metal atoms of a stored pore filling.

    Reads ``<results>/<filling>.traj`` (one frame per filling step, written by the
    ``fill`` task kind; paths relative to the working directory, the repository
    root for ``alkali-layers run``).  ``atoms.info`` keeps the filling's metadata
    and gains ``filling``, ``n_metal`` and ``source``.
    """
    path = Path(results) / f"{filling}.traj"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: run the filling first (alkali-layers run "
            "runs/hard_carbon), from the repository root"
        )
    frames = read(path, ":")
    found = [a for a in frames if int(a.info.get("n_metal", -1)) == int(n_metal)]
    if len(found) != 1:
        known = sorted({int(a.info.get("n_metal", -1)) for a in frames})
        raise ValueError(
            f"{path}: {len(found)} steps with n_metal = {n_metal}; steps: {known}"
        )
    atoms = found[0].copy()
    atoms.calc = None
    atoms.info.update(
        filling=filling, n_metal=int(n_metal), source=f"{path}#n_metal={n_metal}"
    )
    return atoms


register_builder("filling_structure", filling_structure)

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


def write_pore_phonon_outputs(campaign) -> list[dict]:
    """The ``phonons`` outputs, then the pore voltage steps at 0 K and 300 K."""
    table = write_phonon_outputs(campaign)
    rows, _ = campaign.model_rows()
    write_pore_voltage_outputs(Path(campaign.root), rows)
    return table


def _fmt_v(value) -> str:
    return "n/a" if value is None else f"{value:+.3f}"


def write_pore_voltage_outputs(
    root: Path, rows: list[dict], temperature_K: float = 300.0
) -> list[dict]:
    """Voltage steps of pore fillings at 0 K and ``temperature_K`` with F_vib.

    ``rows``: the campaign's model rows: bcc metals (``host = "bulk"``) and
    ``filling_structure`` models (``filling``, ``n_metal``, ``source``: the
    filling's ``.traj``, whose ``.json`` holds the energies).  F_vib of each pore
    structure two ways: phonopy's q mesh (force constants of the 1x1x1 cell,
    Fourier-interpolated) and at the q commensurate with the supercell only (for
    1x1x1 the cell's 3N Γ modes; "n/a" for results stored before those were,
    :func:`~alkali_layers.analysis.thermo.harmonic_free_energy_eV`).  Writes
    ``pore_voltage_<T>K.md/.csv`` (one row per hull step) and ``.png`` (0 K hull,
    lattice gas only, F_vib + lattice gas).
    """
    import json

    from ...analysis.figures_phonons import plot_pore_profiles
    from ...analysis.thermo import (
        capacity_between_mAh_g,
        filling_profiles_vibrational,
        harmonic_free_energy_eV,
        profile_at_temperature,
    )

    tag = f"{temperature_K:g}K"
    metals, fillings = {}, {}
    for row in rows:
        data = (row.get("data") or {}).get("phonons")
        if not data:
            continue
        result = PhononResult.from_dict(data)
        if row.get("host") == "bulk" and row.get("metal"):
            metals[row["metal"]] = (
                result.free_energy_at(temperature_K) / row["n_atoms"],
                row["energy_eV"] / row["n_atoms"],
            )
        elif row.get("filling") is not None:
            f_mesh = result.free_energy_at(temperature_K)
            # the supercell's commensurate q (1x1x1: the cell's Γ modes), per cell
            comm = [f for q in result.commensurate_frequencies_THz for f in q]
            cells = abs(round(float(np.linalg.det(result.supercell_matrix))))
            f_gamma = (
                harmonic_free_energy_eV(comm, temperature_K) / cells if comm else None
            )
            entry = fillings.setdefault(row["filling"], {"rows": {}})
            entry["rows"][int(row["n_metal"])] = (f_mesh, f_gamma, row)
            entry["source"] = str(row["source"]).split("#")[0]
    table = []
    for name, entry in fillings.items():
        path = Path(entry["source"]).with_suffix(".json")
        if not path.exists() or 0 not in entry["rows"]:
            continue
        filling = json.loads(path.read_text())
        metal = filling["metal"]
        if metal not in metals:
            continue
        f_m, mu = metals[metal]
        fv = {n: v[0] for n, v in entry["rows"].items()}
        fg = {n: v[1] for n, v in entry["rows"].items()}
        # static energies of the re-relaxed structures and of this campaign's bcc
        # metal: E and F_vib of one geometry
        relaxed = {n: v[2]["energy_eV"] for n, v in entry["rows"].items()}
        again = {"energies_eV": relaxed, "mu_metal_eV": mu}
        static, hot, curve = filling_profiles_vibrational(
            filling, fv, f_m, temperature_K, **again
        )
        hot_g = static  # placeholder steps when the Γ-only F_vib is unknown
        if all(v is not None for v in fg.values()):
            _, hot_g, _ = filling_profiles_vibrational(
                filling, fg, f_m, temperature_K, **again
            )
        gamma_known = hot_g is not static
        original, _, _ = filling_profiles_vibrational(
            filling, {n: 0.0 for n in fv}, 0.0, temperature_K
        )
        curve_lg = profile_at_temperature(
            [s for s in static.steps if s.voltage_V > static.cutoff_V], temperature_K
        )
        steps = zip(original.steps, static.steps, hot.steps, hot_g.steps, strict=False)
        for so, s0, s1, sg in steps:
            same = (so.n1, so.n2) == (s0.n1, s0.n2) == (s1.n1, s1.n2) == (sg.n1, sg.n2)
            table.append(
                {
                    "filling": name,
                    "n1": int(s0.n1),
                    "n2": int(s0.n2),
                    "same_hull_step": same,
                    "voltage_V_filling": so.voltage_V,
                    "voltage_V": s0.voltage_V,
                    f"voltage_V_{tag}": s1.voltage_V,
                    f"delta_V_{tag}": s1.voltage_V - s0.voltage_V,
                    f"voltage_V_{tag}_gamma": sg.voltage_V if gamma_known else None,
                    f"delta_V_{tag}_gamma": (
                        sg.voltage_V - s0.voltage_V if gamma_known else None
                    ),
                    "sign_change": (s0.voltage_V > 0) != (s1.voltage_V > 0),
                    "capacity_mAh_g_above_0V_0K": capacity_between_mAh_g(
                        *static.curve()
                    ),
                    f"capacity_mAh_g_above_0V_{tag}_lattice_gas": (
                        capacity_between_mAh_g(*curve_lg)
                    ),
                    f"capacity_mAh_g_above_0V_{tag}_fvib_lattice_gas": (
                        capacity_between_mAh_g(*curve)
                    ),
                    f"f_vib_metal_{tag}_eV_per_atom": f_m,
                }
            )
        plot_pore_profiles(
            {
                "0 K (static hull)": static.curve(),
                f"{temperature_K:g} K, ideal lattice gas only": curve_lg,
                f"{temperature_K:g} K, F_vib + ideal lattice gas": curve,
            },
            temperature_K,
            root / f"pore_voltage_{tag}_{name}.png",
        )
    if not table:
        return []
    with (root / f"pore_voltage_{tag}.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    lines = [
        f"| filling | step n1 → n2 | V 0 K, filling (V) | V 0 K (V) | V {tag} (V) "
        "| ΔV (V) "
        f"| V {tag}, Γ-only F_vib | sign change | Q > 0 V, 0 K "
        f"| Q > 0 V, {tag} lattice gas | Q > 0 V, {tag} F_vib + lattice gas |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        lines.append(
            f"| {r['filling']} | {r['n1']} → {r['n2']} "
            f"| {r['voltage_V_filling']:+.3f} | {r['voltage_V']:+.3f} "
            f"| {r[f'voltage_V_{tag}']:+.3f} | {r[f'delta_V_{tag}']:+.3f} "
            f"| {_fmt_v(r[f'voltage_V_{tag}_gamma'])} "
            f"| {'YES' if r['sign_change'] else 'no'} "
            f"| {r['capacity_mAh_g_above_0V_0K']:.0f} "
            f"| {r[f'capacity_mAh_g_above_0V_{tag}_lattice_gas']:.0f} "
            f"| {r[f'capacity_mAh_g_above_0V_{tag}_fvib_lattice_gas']:.0f} |"
        )
    lines += [
        "",
        "V vs M+/M; Q in mAh per g of host. 'filling': the step from the filling's "
        "energies (fmax 0.05 eV/A); '0 K' and later columns: the structures "
        "re-relaxed before their phonons (this campaign's [relax]) and this "
        f"campaign's bcc metal.  {tag}: E(n) -> E(n) + F_vib(n) of each "
        "pore structure (harmonic, zero-point energy included), mu_M -> mu_M + "
        "f_vib(bcc metal); F_vib from phonopy's q mesh interpolated from the 1x1x1 "
        "pore cell's force constants (Γ-only column: the cell's 3N Γ modes); "
        "'lattice gas': each hull step filled as an ideal lattice gas of its sites "
        "(broadens a step, does not move its midpoint).  Only the 0 K hull "
        "structures have phonons, so the hull is not re-derived at temperature.",
    ]
    (root / f"pore_voltage_{tag}.md").write_text("\n".join(lines) + "\n")
    return table


register_layout("pore_phonons", write_pore_phonon_outputs)


def phonon_options(**options) -> dict:
    """The options dict of a phonons task (defaults filled in), as a spec makes it."""
    return PhononOptions(**options).key_dict()
