"""Take a stage-1 formation energy apart, one factor at a time.

``E_f = E(MC_n) - n E_C(graphite) - mu_M`` (eV per metal atom, vs bcc metal and AB
graphite) is recomputed by GPAW single points at the relaxed PBE + D3(BJ)
geometries of the validation (``runs/validation/results.json``), first as they
are (the baseline), then with exactly one factor changed per row: the dispersion
correction, the functional, the PAW setup of Li, the smearing and its 0 K
extrapolation, the k points of compound and metal, the metal's crystal structure,
the graphite stacking, the compound's c and in-plane lattice constant.  Each row
reports ``Delta E_f`` in meV against the baseline, so that the factors that move
the number are measured, not guessed.

Dispersion-only rows (no dispersion, D3 zero damping, D4) change only the
dispersion energy at fixed geometry and need no new DFT: the dispersion energies of
the three structures are computed by the ``dftd3``/``dftd4`` packages and swapped.
Functional rows (vdW-DF2, vdW-optPBE, optB88-vdW, BEEF-vdW) are single points at the
same (PBE + D3(BJ)) geometry: they measure the functional at fixed structure; the
relaxed values are in the validation table.  BEEF-vdW rows carry the standard
deviation of E_f over the 2000-member BEEF ensemble (``ase.dft.bee``), the usual
functional error estimate (Wellendorff et al., PRB 85, 235149 (2012)).

Every single point is checkpointed under ``<out>/diagnosis/`` by a hash of its
structure and settings: a rerun computes only what is missing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.parallel import parprint, world

from ..builders import bulk_metal, graphite, graphite_intercalation
from ..elements import GIC_C_EXPERIMENT_A, PUBLISHED_FORMATION_EV
from ..engines import GPAWSettings, gpaw_settings
from ..engines.dispersion import dispersion_calculator
from ..engines.gpaw import beef_ensemble_energies, gpaw_calculator, with_scf_retry
from ..jsonio import write_json_atomic
from ..provenance import provenance
from ..settings import stable_hash, structure_hashes
from .validation import TREATMENTS

ROLES: tuple[str, ...] = ("compound", "graphite", "metal")


@dataclass(frozen=True)
class Factor:
    """One row: what changes, for which of the three structures.

    ``settings`` maps a role to GPAWSettings field overrides; ``structure`` maps a
    role to a function returning the changed structure.  Roles not named keep the
    baseline.  ``dispersion`` swaps the dispersion energy of every structure (no
    new DFT).  ``energy`` = "free" reads the smearing free energy instead of GPAW's
    0 K extrapolation.
    """

    name: str
    settings: dict = field(default_factory=dict)
    structure: dict = field(default_factory=dict)
    dispersion: str | None = None
    energy: str = "extrapolated"
    group: str = ""
    metals: tuple[str, ...] = ()  # only for these metals (empty: all)


def baseline_structures(metal: str, formula: str, geometry: dict) -> dict[str, Atoms]:
    """The relaxed PBE + D3(BJ) structures: compound (c), AB graphite, bcc metal."""
    compound = graphite_intercalation(metal, formula)
    cell = compound.cell.array.copy()
    cell[2] *= geometry["c_A"] / np.linalg.norm(cell[2])
    compound.set_cell(cell, scale_atoms=True)
    host = graphite("AB", interlayer_A=geometry["graphite_AB_spacing_A"])
    metal_atoms = bulk_metal(metal, a_A=geometry["bcc_a_A"])
    return {"compound": compound, "graphite": host, "metal": metal_atoms}


def _scaled_c(c_A: float) -> Callable[[Atoms], Atoms]:
    def change(atoms: Atoms) -> Atoms:
        out = atoms.copy()
        cell = out.cell.array.copy()
        cell[2] *= c_A / np.linalg.norm(cell[2])
        out.set_cell(cell, scale_atoms=True)
        return out

    return change


def _scaled_in_plane(factor: float) -> Callable[[Atoms], Atoms]:
    def change(atoms: Atoms) -> Atoms:
        out = atoms.copy()
        cell = out.cell.array.copy()
        cell[:2] *= factor
        out.set_cell(cell, scale_atoms=True)
        return out

    return change


def _close_packed(kind: str) -> Callable[[Atoms], Atoms]:
    """fcc or ideal hcp metal at the volume per atom of the given bcc cell."""

    def change(atoms: Atoms) -> Atoms:
        volume = atoms.get_volume() / len(atoms)
        symbol = atoms.get_chemical_symbols()[0]
        if kind == "fcc":
            out = bulk(symbol, "fcc", a=(4 * volume) ** (1 / 3))
        else:
            a = (np.sqrt(2) * volume) ** (1 / 3)  # V = (sqrt3/4) a^2 c, c/a = sqrt(8/3)
            out = bulk(symbol, "hcp", a=a, c=a * np.sqrt(8 / 3))
        out.info.update(atoms.info, packing=kind)
        return out

    return change


def _aa_graphite(spacing_A: float) -> Callable[[Atoms], Atoms]:
    def change(atoms: Atoms) -> Atoms:
        return graphite("AA", interlayer_A=spacing_A)

    return change


def factors(geometry: dict, c_exp_A: float | None) -> list[Factor]:
    """The rows of the diagnosis (see the module notes)."""
    rows = [
        Factor("no dispersion (plain PBE)", dispersion="none", group="dispersion"),
        Factor("D3(BJ) -> D3(zero damping)", dispersion="d3zero", group="dispersion"),
        Factor("D3(BJ) -> D4 (dftd4)", dispersion="d4", group="dispersion"),
    ]
    for xc, name in (
        ("vdW-DF2", "vdW-DF2"),
        ("optPBE-vdW", "vdW-optPBE"),
        ("optB88-vdW", "optB88-vdW"),
        ("BEEF-vdW", "BEEF-vdW"),
    ):
        over = {"xc": xc, "dispersion": "none"}
        rows.append(
            Factor(
                f"PBE + D3(BJ) -> {name} (same geometry)",
                settings={r: over for r in ROLES},
                group="functional",
            )
        )
    rows += [
        Factor(
            "Li setup: 1s frozen -> 1s in valence (Li.sc, 3 e)",
            settings={"compound": {"setups": "li-sc"}, "metal": {"setups": "li-sc"}},
            group="PAW setup",
            metals=("Li",),
        ),
        Factor(
            "plane-wave cutoff 600 -> 800 eV (all three)",
            settings={r: {"ecut_eV": 800.0} for r in ROLES},
            group="cutoff",
        ),
        Factor(
            "Li 1s in valence at 800 eV (compare with the 800 eV row)",
            settings={
                "compound": {"setups": "li-sc", "ecut_eV": 800.0},
                "graphite": {"ecut_eV": 800.0},
                "metal": {"setups": "li-sc", "ecut_eV": 800.0},
            },
            group="cutoff",
            metals=("Li",),
        ),
        Factor(
            "smearing FD 0.1 -> 0.05 eV",
            settings={r: {"smearing_eV": 0.05} for r in ROLES},
            group="smearing",
        ),
        Factor(
            "smearing FD 0.1 -> 0.2 eV",
            settings={r: {"smearing_eV": 0.2} for r in ROLES},
            group="smearing",
        ),
        Factor(
            "0 K extrapolated energy -> smearing free energy",
            energy="free",
            group="smearing",
        ),
        Factor(
            "k points of the compound: density 5 -> 8",
            settings={"compound": {"kpt_density": 8.0}},
            group="k points",
        ),
        Factor(
            "k points of the metal: density 5 -> 10",
            settings={"metal": {"kpt_density": 10.0}},
            group="k points",
        ),
        Factor(
            "k points of the metal: density 5 -> 15",
            settings={"metal": {"kpt_density": 15.0}},
            group="k points",
        ),
        Factor(
            "metal reference bcc -> fcc (same volume per atom)",
            structure={"metal": _close_packed("fcc")},
            group="metal reference",
        ),
        Factor(
            "metal reference bcc -> ideal hcp (same volume per atom)",
            structure={"metal": _close_packed("hcp")},
            group="metal reference",
        ),
        Factor(
            "graphite reference AB -> AA (relaxed AA spacing)",
            structure={"graphite": _aa_graphite(geometry["graphite_AA_spacing_A"])},
            group="graphite reference",
        ),
        Factor(
            "compound in-plane a +0.5 % (2.46 -> 2.472 A)",
            structure={"compound": _scaled_in_plane(1.005)},
            group="compound structure",
        ),
        Factor(
            "compound in-plane a +1.0 % (2.46 -> 2.485 A, LiC6 measured: 2.485)",
            structure={"compound": _scaled_in_plane(1.010)},
            group="compound structure",
        ),
        Factor(
            "compound in-plane a +1.5 % (2.46 -> 2.497 A)",
            structure={"compound": _scaled_in_plane(1.015)},
            group="compound structure",
        ),
        Factor(
            "compound in-plane a +2.0 % (2.46 -> 2.509 A)",
            structure={"compound": _scaled_in_plane(1.020)},
            group="compound structure",
        ),
        Factor(
            "compound in-plane a +2.5 % (2.46 -> 2.522 A)",
            structure={"compound": _scaled_in_plane(1.025)},
            group="compound structure",
        ),
        Factor(
            "graphite in-plane a +0.5 % (alone)",
            structure={"graphite": _scaled_in_plane(1.005)},
            group="compound structure",
        ),
    ]
    for pct in (0.5, 1.0, 1.5):
        scale = _scaled_in_plane(1 + pct / 100)
        rows.append(
            Factor(
                f"compound and graphite both at in-plane a +{pct:.1f} % (graphite "
                "strained off its own optimum)",
                structure={"compound": scale, "graphite": scale},
                group="compound structure",
            )
        )
    rows.append(
        Factor(
            "combined: Li 1s in valence and compound in-plane a +1.0 %",
            settings={"compound": {"setups": "li-sc"}, "metal": {"setups": "li-sc"}},
            structure={"compound": _scaled_in_plane(1.010)},
            group="combined",
            metals=("Li",),
        )
    )
    if c_exp_A is not None:
        rows.append(
            Factor(
                f"compound c: relaxed {geometry['c_A']:.3f} -> experiment "
                f"{c_exp_A:.2f} A",
                structure={"compound": _scaled_c(c_exp_A)},
                group="compound structure",
            )
        )
    return rows


class SinglePoints:
    """GPAW single points (energies, free energies, BEEF ensembles), checkpointed.

    Each is stored as ``<directory>/<label>.<key>.json`` with key = hash(structure,
    settings): a rerun reads it back instead of recomputing.
    """

    def __init__(self, directory: Path, log=parprint):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.log = log

    def __call__(self, label: str, atoms: Atoms, settings: GPAWSettings) -> dict:
        def key(structure: str) -> str:
            return stable_hash(
                {
                    "kind": "single_point",
                    "structure": structure,
                    "settings": settings.settings_hash(),
                }
            )

        today, signed_zero = structure_hashes(atoms)
        path = self.directory / f"{label}.{key(today)}.json"
        # a point stored before 2026-12-02 carries the signed-zero structure hash
        legacy = path.with_name(f"{label}.{key(signed_zero)}.json")
        for done in (path, legacy):
            if done.exists():
                return json.loads(done.read_text())
        t0 = time.perf_counter()
        txt = str(path.with_suffix(".txt"))

        def attempt(s: GPAWSettings) -> dict:
            work = atoms.copy()
            calc, dft = gpaw_calculator(s, work, txt=txt)
            work.calc = calc
            energy = float(work.get_potential_energy())
            # the dispersion part has no smearing: free energy = total - GPAW's 0 K
            # extrapolated energy + GPAW's free energy
            smearing_part = float(
                dft.get_property("free_energy", work) - dft.get_property("energy", work)
            )
            data = {
                "energy_eV": energy,
                "free_energy_eV": energy + smearing_part,
                "n_atoms": len(work),
                "settings": s.hash_fields(),
            }
            if s.xc == "BEEF-vdW":
                data["beef_ensemble_eV"] = beef_ensemble_energies(dft)
            return data

        data, _ = with_scf_retry(settings, attempt)
        data["wall_s"] = round(time.perf_counter() - t0, 1)
        data["provenance"] = provenance()
        if world.rank == 0:
            write_json_atomic(path, data)
        world.barrier()
        self.log(f"  {label}: {data['energy_eV']:.5f} eV ({data['wall_s']:.0f} s)")
        return data


def dispersion_energy(atoms: Atoms, dispersion: str) -> float:
    """Dispersion energy (eV) of ``atoms`` alone ("none" -> 0)."""
    if dispersion == "none":
        return 0.0
    work = atoms.copy()
    work.calc = dispersion_calculator(dispersion)
    return float(work.get_potential_energy())


def formation_from_parts(parts: dict[str, float], units: dict[str, float]) -> float:
    """``E(compound) - n_C E_C - mu_M`` from total energies and unit counts.

    ``parts`` are total energies of compound, graphite and metal cells; ``units`` are
    the number of carbon atoms of the compound and the atoms of the graphite and
    metal cells (energies per unit are total / count).
    """
    return (
        parts["compound"]
        - units["n_C"] * parts["graphite"] / units["graphite"]
        - parts["metal"] / units["metal"]
    )


#: Li setup of every baseline: GPAW's default, Li 1s frozen.  The diagnosed geometries
#: (runs/validation/results.json) were relaxed with it and the "PAW setup" rows change
#: exactly this; the code default has been "li-sc" since 2026-12-01, which the NaC6 and
#: KC8 runs of 2026-12-03/04 picked up (no effect on cells without Li: "li-sc" only
#: swaps the Li setup, engines.gpaw).
BASELINE_SETUPS = "paw"


def baseline_settings(treatment: str = "PBE+D3(BJ)") -> GPAWSettings:
    """The settings of a diagnosis baseline: the validation's "final" preset.

    Parameters
    ----------
    treatment : str
        A key of :data:`alkali_layers.workflows.validation.TREATMENTS`.

    Returns
    -------
    GPAWSettings
        PW 600 eV, k-point density 5, FD 0.1 eV, the treatment's functional and
        dispersion, Li 1s frozen (:data:`BASELINE_SETUPS`).
    """
    if treatment not in TREATMENTS:
        raise ValueError(
            f"unknown treatment {treatment!r}; allowed: {', '.join(TREATMENTS)}"
        )
    return gpaw_settings("final", **TREATMENTS[treatment], setups=BASELINE_SETUPS)


def diagnose(
    metal: str,
    formula: str,
    geometry: dict,
    out_dir: Path,
    base: GPAWSettings,
    only_groups: tuple[str, ...] = (),
    treatment: str = "PBE+D3(BJ)",
) -> dict:
    """All rows of the diagnosis of ``formula``; writes its JSON (see below).

    Parameters
    ----------
    geometry : dict
        ``c_A`` of the compound, ``graphite_AB_spacing_A``, ``graphite_AA_spacing_A``
        and ``bcc_a_A``: the relaxed geometry of the baseline treatment.
    base : GPAWSettings
        The baseline settings (the validation's "final" preset with the
        treatment's functional and dispersion).
    only_groups : tuple of str
        Compute only these groups of rows (all when empty); rows of other groups
        already stored in the JSON are kept.
    treatment : str
        Name of the baseline treatment (a key of the validation's TREATMENTS);
        the result goes to ``diagnosis-<formula>.json`` for PBE + D3(BJ) and to
        ``diagnosis-<formula>-<treatment>.json`` otherwise.  Rows that swap the
        dispersion correction are skipped for a baseline without one.
    """
    out_dir = Path(out_dir)
    sp = SinglePoints(out_dir / "diagnosis")
    structures = baseline_structures(metal, formula, geometry)
    units_base = {
        "n_C": structures["compound"].get_chemical_symbols().count("C"),
        "graphite": len(structures["graphite"]),
        "metal": len(structures["metal"]),
    }
    parprint(f"[diagnosis {formula}] baseline single points", flush=True)
    baseline = {
        role: sp(f"{formula}-{role}", atoms, base) for role, atoms in structures.items()
    }
    e0 = {r: baseline[r]["energy_eV"] for r in ROLES}
    ef0 = formation_from_parts(e0, units_base)
    d3 = {r: dispersion_energy(structures[r], base.dispersion) for r in ROLES}
    rows = []
    for factor in factors(geometry, GIC_C_EXPERIMENT_A.get(formula)):
        if factor.metals and metal not in factor.metals:
            continue
        if only_groups and factor.group not in only_groups:
            continue
        if factor.dispersion is not None and base.dispersion == "none":
            continue
        parprint(f"[diagnosis {formula}] {factor.name}", flush=True)
        atoms = {r: factor.structure.get(r, lambda a: a)(structures[r]) for r in ROLES}
        units = dict(
            units_base, graphite=len(atoms["graphite"]), metal=len(atoms["metal"])
        )
        energies: dict[str, float] = {}
        ensembles: dict[str, np.ndarray] = {}
        for role in ROLES:
            over = factor.settings.get(role)
            changed = over is not None or role in factor.structure
            if factor.dispersion is not None:
                swapped = dispersion_energy(atoms[role], factor.dispersion)
                energies[role] = e0[role] - d3[role] + swapped
                continue
            if not changed and factor.energy == "extrapolated":
                energies[role] = e0[role]
                continue
            settings = replace(base, **(over or {}))
            data = (
                sp(f"{formula}-{role}", atoms[role], settings)
                if changed
                else baseline[role]
            )
            key = "free_energy_eV" if factor.energy == "free" else "energy_eV"
            energies[role] = data[key]
            if "beef_ensemble_eV" in data:
                ensembles[role] = np.asarray(data["beef_ensemble_eV"])
        ef = formation_from_parts(energies, units)
        row = {
            "group": factor.group,
            "factor": factor.name,
            "formation_eV": ef,
            "delta_meV": 1000 * (ef - ef0),
        }
        if len(ensembles) == len(ROLES):
            ensemble = formation_from_parts(ensembles, units)
            row["ensemble_std_eV"] = float(np.std(ensemble))
        rows.append(row)
        parprint(f"    E_f {ef:+.3f} eV, Delta {row['delta_meV']:+.0f} meV", flush=True)
    stored = out_dir / diagnosis_filename(formula, treatment)
    rows_now = rows
    if only_groups and stored.exists():  # keep the rows of the other groups
        names = {row["factor"] for row in rows}
        order = [f.name for f in factors(geometry, GIC_C_EXPERIMENT_A.get(formula))]
        earlier = json.loads(stored.read_text()).get("rows", [])
        # rows of factors that no longer exist (renamed, dropped) are not kept
        rows = [r for r in earlier if r["factor"] not in names and r["factor"] in order]
        rows += [r for r in rows_now if r["factor"] in order]
        rows.sort(key=lambda r: order.index(r["factor"]))
    result = {
        "metal": metal,
        "formula": formula,
        "treatment": treatment,
        "geometry": geometry,
        "baseline_settings": base.hash_fields(),
        "baseline_formation_eV": ef0,
        "published_vdW_optPBE_eV": PUBLISHED_FORMATION_EV.get(formula),
        "rows": rows,
    }
    if world.rank == 0:
        write_json_atomic(stored, result)
    return result


def diagnosis_filename(formula: str, treatment: str = "PBE+D3(BJ)") -> str:
    """``diagnosis-<formula>[-<treatment>].json`` (no suffix for PBE + D3(BJ))."""
    if treatment == "PBE+D3(BJ)":
        return f"diagnosis-{formula}.json"
    tag = treatment.replace("+", "_").replace("(", "").replace(")", "")
    return f"diagnosis-{formula}-{tag}.json"


def geometry_from_validation(
    results: dict, metal: str, formula: str, treatment: str = "PBE+D3(BJ)"
) -> dict:
    """The relaxed geometry of ``formula`` with ``treatment`` from the validation."""
    if treatment not in results:
        raise ValueError(
            f"the validation has no {treatment!r} results yet (has: "
            f"{', '.join(results)}); run `alkali-layers validate --treatments "
            f"{treatment}` first"
        )
    done = results[treatment]
    if formula not in done["compounds"] or metal not in done["metals"]:
        raise ValueError(f"the {treatment} validation has no {formula} or bcc {metal}")
    return {
        "c_A": done["compounds"][formula]["c_A"],
        "graphite_AB_spacing_A": done["graphite_AB"]["spacing_A"],
        "graphite_AA_spacing_A": done["graphite_AA"]["spacing_A"],
        "bcc_a_A": done["metals"][metal]["a_A"],
    }
