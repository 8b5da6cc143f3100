"""Convergence scans of the GPAW settings: cutoff and k-point density.

For one structure (and, if it holds a metal in a carbon host, its formation energy)
two one-dimensional scans are run at fixed geometry:

* cutoff scan at the densest k-point sampling of the scan,
* k-point-density scan at the highest cutoff of the scan,

and every point is compared with the most accurate one (highest cutoff and density):
``dE_meV_per_atom`` = change of the total energy per atom, ``dEf_meV`` = change of the
formation energy per metal atom (meV).  The formation energy uses the bcc metal and
the pristine primitive host of the model at the same cutoff, at fixed geometries
(docs/science/energies.md); the references use at least the reference k-point
density (their own k convergence is scanned on the bcc metal itself), so the k scan
measures the model's own k-point error.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, replace
from pathlib import Path

from ase import Atoms
from ase.parallel import parprint, world

from ..analysis.voltage import formation_energy_eV_per_metal_atom
from ..engines import REFERENCE_KPT_DENSITY, GPAWSettings
from ..engines.gpaw import gpaw_calculator, kpoint_grid, with_scf_retry
from ..settings import stable_hash, structure_hash

COLUMNS = (
    "scan",
    "ecut_eV",
    "kpt_density",
    "kpts",
    "energy_eV_per_atom",
    "dE_meV_per_atom",
    "formation_energy_eV_per_metal_atom",
    "dEf_meV",
    "scf_iterations",
    "wall_s",
)


@dataclass
class ScanPoint:
    """One setting of a scan and its energies (eV) and errors (meV)."""

    scan: str
    ecut_eV: float
    kpt_density: float
    kpts: str
    energy_eV_per_atom: float
    formation_energy_eV_per_metal_atom: float | None
    scf_iterations: int
    wall_s: float
    dE_meV_per_atom: float = 0.0
    dEf_meV: float | None = None


def single_point(atoms: Atoms, settings: GPAWSettings, txt: str | None = None):
    """(energy eV, SCF iterations) of ``atoms`` with one SCF retry."""
    from ..engines.gpaw import SCFCounter

    work = atoms.copy()

    def attempt(s: GPAWSettings):
        calc, dft = gpaw_calculator(s, work, txt=txt)
        counter = SCFCounter(dft)
        work.calc = calc
        return float(work.get_potential_energy()), counter.iterations

    (energy, iterations), _ = with_scf_retry(settings, attempt)
    return energy, iterations


def convergence_scan(
    atoms: Atoms,
    base: GPAWSettings,
    cutoffs_eV=(300.0, 400.0, 500.0, 600.0),
    kpt_densities=(2.0, 3.0, 4.0, 5.0),
    metal_reference: Atoms | None = None,
    host_reference: Atoms | None = None,
    log_dir: Path | None = None,
    checkpoint: Path | None = None,
) -> list[ScanPoint]:
    """Run the two scans (see the module docstring) and return every point.

    Parameters
    ----------
    atoms : ase.Atoms
        The structure, at a fixed (e.g. ML-relaxed) geometry.
    base : GPAWSettings
        Every other setting (xc, dispersion, smearing, SCF criteria).
    metal_reference, host_reference : ase.Atoms, optional
        bcc metal and pristine primitive host: with both, the formation energy per
        metal atom is scanned too.
    log_dir : path, optional
        GPAW text logs go here.
    checkpoint : path, optional
        CSV file to which every finished point is appended (rank 0) and from which
        a rerun takes the points it already has (same structure, references and
        base settings), so an interrupted scan resumes.  Every rank must get it.
    """
    cutoffs = sorted(float(c) for c in cutoffs_eV)
    densities = sorted(float(k) for k in kpt_densities)
    settings_list = [
        ("cutoff", replace(base, ecut_eV=c, kpt_density=densities[-1])) for c in cutoffs
    ]
    settings_list += [
        ("kpoints", replace(base, ecut_eV=cutoffs[-1], kpt_density=k))
        for k in densities[:-1]
    ]
    metal = atoms.info.get("metal") or ""
    symbols = atoms.get_chemical_symbols()
    n_metal, n_carbon = symbols.count(metal) if metal else 0, symbols.count("C")
    if log_dir is not None:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
    with_ef = metal_reference is not None and host_reference is not None and n_metal > 0
    key = scan_key(atoms, base, metal_reference, host_reference)
    # points stored before 2026-12-02 carry the signed-zero structure hashes
    legacy = scan_key(atoms, base, metal_reference, host_reference, signed_zeros=True)
    done = _read_checkpoint(checkpoint, {key, legacy})
    points = []
    for scan, s in settings_list:
        if (scan, s.ecut_eV, s.kpt_density) in done:
            point = done[(scan, s.ecut_eV, s.kpt_density)]
            points.append(point)
            parprint(
                f"  {scan:8s} {point.ecut_eV:g} eV k {point.kpts}: from checkpoint"
            )
            continue
        t0 = time.perf_counter()
        tag = f"{int(s.ecut_eV)}eV-k{s.kpt_density:g}"
        txt = str(Path(log_dir) / f"gpaw-{tag}.txt") if log_dir else None
        energy, iterations = single_point(atoms, s, txt)
        ef = None
        if with_ef:
            # references at the reference k-point density (their own convergence);
            # same cutoff (cutoff errors cancel only at equal cutoff)
            ref = replace(s, kpt_density=max(s.kpt_density, REFERENCE_KPT_DENSITY))
            mu, _ = single_point(metal_reference, ref)
            e_host, _ = single_point(host_reference, ref)
            host = n_carbon * e_host / host_reference.get_chemical_symbols().count("C")
            ef = formation_energy_eV_per_metal_atom(
                energy, n_metal, host, mu / len(metal_reference)
            )
        grid = "x".join(map(str, kpoint_grid(atoms, s.kpt_density)))
        point = ScanPoint(
            scan,
            s.ecut_eV,
            s.kpt_density,
            grid,
            energy / len(atoms),
            ef,
            iterations,
            round(time.perf_counter() - t0, 1),
        )
        points.append(point)
        _append_checkpoint(checkpoint, key, point)
        parprint(
            f"  {scan:8s} {tag:12s} k {grid:8s} E {point.energy_eV_per_atom:.6f}"
            " eV/atom"
            + (f"  E_f {ef:+.4f} eV" if ef is not None else "")
            + f"  ({iterations} SCF iterations, {point.wall_s:.0f} s)",
            flush=True,
        )
    best = points[len(cutoffs) - 1]  # highest cutoff at the highest density
    for p in points:
        p.dE_meV_per_atom = 1000 * (p.energy_eV_per_atom - best.energy_eV_per_atom)
        if p.formation_energy_eV_per_metal_atom is not None:
            p.dEf_meV = 1000 * (
                p.formation_energy_eV_per_metal_atom
                - best.formation_energy_eV_per_metal_atom
            )
    return points


CHECKPOINT_COLUMNS = ("key", *COLUMNS)


def scan_key(
    atoms: Atoms,
    base: GPAWSettings,
    metal_reference: Atoms | None = None,
    host_reference: Atoms | None = None,
    signed_zeros: bool = False,
) -> str:
    """Identity of a scan's points: structures and every setting but cutoff and k.

    The settings enter as :meth:`GPAWSettings.hash_fields`: a field added to
    GPAWSettings later (``setups``) counts only away from its default, so points
    computed before it existed keep their key (runs/convergence/Na3L_BLG_AA).
    ``signed_zeros``: the key of points stored before 2026-12-02
    (:func:`~alkali_layers.settings.structure_hash` with ``signed_zeros``).
    """

    def hash_of(a: Atoms) -> str:
        return structure_hash(a, signed_zeros=signed_zeros)

    return stable_hash(
        {
            "structure": hash_of(atoms),
            "refs": [
                hash_of(r) if r is not None else None
                for r in (metal_reference, host_reference)
            ],
            "base": replace(base, ecut_eV=1.0, kpt_density=1.0).hash_fields(),
        }
    )


def _read_checkpoint(path: Path | None, keys: set[str]) -> dict:
    """{(scan, ecut, density): ScanPoint} of ``path`` rows with one of ``keys``."""
    if path is None or not Path(path).exists():
        return {}
    done = {}
    with Path(path).open() as fh:
        for row in csv.DictReader(fh):
            if row["key"] not in keys:
                continue
            p = _point(row)
            done[(p.scan, p.ecut_eV, p.kpt_density)] = p
    return done


def _append_checkpoint(path: Path | None, key: str, point: ScanPoint) -> None:
    if path is None or world.rank != 0:
        return
    path = Path(path)
    new = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", newline="") as fh:
        writer = csv.writer(fh)
        if new:
            writer.writerow(CHECKPOINT_COLUMNS)
        writer.writerow([key, *(getattr(point, c) for c in COLUMNS)])


def _number(value: str) -> float | None:
    return float(value) if value not in ("", "None") else None


def read_scan(path: Path) -> list[ScanPoint]:
    """The points of a ``scan.csv`` written by :func:`write_scan`."""
    with Path(path).open() as fh:
        return [_point(row) for row in csv.DictReader(fh)]


def _point(row: dict) -> ScanPoint:
    return ScanPoint(
        row["scan"],
        _number(row["ecut_eV"]),
        _number(row["kpt_density"]),
        row["kpts"],
        _number(row["energy_eV_per_atom"]),
        _number(row["formation_energy_eV_per_metal_atom"]),
        int(row["scf_iterations"]),
        _number(row["wall_s"]),
        _number(row["dE_meV_per_atom"]) or 0.0,
        _number(row["dEf_meV"]),
    )


def write_scan(points: list[ScanPoint], out: Path, title: str, notes: str = "") -> None:
    """scan.csv, scan.md and scan.png in ``out`` (rank 0 only)."""
    if world.rank != 0:
        return
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [{c: getattr(p, c) for c in COLUMNS} for p in points]
    with (out / "scan.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)

    formats = {
        "ecut_eV": "{:.0f}",
        "kpt_density": "{:g}",
        "energy_eV_per_atom": "{:.6f}",
        "dE_meV_per_atom": "{:.2f}",
        "formation_energy_eV_per_metal_atom": "{:.4f}",
        "dEf_meV": "{:.2f}",
        "wall_s": "{:.0f}",
    }

    def fmt(column, v):
        if v is None or v == "":
            return ""
        return formats.get(column, "{}").format(v)

    lines = [
        f"# {title}",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(fmt(c, r[c]) for c in COLUMNS) + " |" for r in rows]
    lines += [
        "",
        "dE_meV_per_atom and dEf_meV (formation energy per metal atom) are "
        "relative to the highest cutoff at the densest k sampling.",
        "",
        notes,
    ]
    (out / "scan.md").write_text("\n".join(lines).rstrip() + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4))
    for ax, scan, x, label in (
        (axes[0], "cutoff", "ecut_eV", "cutoff (eV)"),
        (axes[1], "kpoints", "kpt_density", "k-point density (1/A^-1)"),
    ):
        pts = [
            p
            for p in points
            if p.scan == scan
            or (
                scan == "kpoints"
                and p is points[sum(1 for q in points if q.scan == "cutoff") - 1]
            )
        ]
        pts = sorted(pts, key=lambda p: getattr(p, x))
        ax.plot(
            [getattr(p, x) for p in pts],
            [abs(p.dE_meV_per_atom) for p in pts],
            "o-",
            label="|dE| (meV/atom)",
        )
        if pts and pts[0].dEf_meV is not None:
            ax.plot(
                [getattr(p, x) for p in pts],
                [abs(p.dEf_meV) for p in pts],
                "s--",
                label="|dE_f| (meV/metal atom)",
            )
        ax.axhline(5.0, color="0.5", lw=0.8, ls=":")
        ax.set_yscale("symlog", linthresh=0.1)
        ax.set_xlabel(label)
        ax.legend(frameon=False, fontsize=7)
    axes[0].set_ylabel("error vs best setting (meV)")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "scan.png", dpi=130)
    plt.close(fig)
