"""Validation campaign specs (tiny GPAW settings) and fabricated checkpoints of the
retired ``alkali-layers validate``, shared by the validation tests."""

import json
import textwrap
from pathlib import Path

from ase.io.jsonio import encode

from alkali_layers.builders import graphite, graphite_intercalation

#: GPAW settings of the tests: seconds per SCF, not converged physics
TINY_ENGINE = """
[engine]
name = "gpaw"
setups = "paw"
final = "final"
relax = "final"
prerelax = "none"
ecut_eV = 250.0
kpt_density = 1.5
scf_energy_eV = 1e-4
scf_density = 1e-3
{extra}
"""

SPEC = """
name = "{name}"
analysis = "validation"
{engine}
[relax]
fmax_eV_A = 0.01
max_steps = 200
gallery_prescan = false

[[models]]
builder = "bulk_metal"
tasks = ["cohesive_energy"]
[models.grid]
metal = ["Na"]
{options}
[[models]]
builder = "graphite"
tasks = ["graphite_binding"]
[models.grid]
stacking = ["AB"]

[[models]]
builder = "graphite"
tasks = ["relax"]
[models.grid]
stacking = ["AA"]

[[models]]
builder = "graphite_intercalation"
tasks = ["relax"]
[models.grid]
metal = ["Na"]
stoichiometry = ["NaC8"]
{compound_engine}
"""


def write_validation_spec(
    directory: Path,
    name: str = "pbe",
    extra: str = 'xc = "PBE"\ndispersion = "d3bj"',
    options: str = "",
    compound_engine: str = "",
) -> Path:
    """A validation campaign (bcc Na, AB/AA graphite, NaC8; c-only cells) in
    ``directory``; returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    text = SPEC.format(
        name=name,
        engine=TINY_ENGINE.format(extra=extra),
        options=options,
        compound_engine=compound_engine,
    )
    (directory / "campaign.toml").write_text(textwrap.dedent(text))
    return directory


def write_checkpoint(
    logs: Path, gpaw_hash: str, relax_hash: str, name: str, data: dict
) -> Path:
    """One checkpoint as the retired command wrote it."""
    path = Path(logs) / f"done-{gpaw_hash}-{relax_hash}" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"data": data, "provenance": {"version": "0.1.0"}}))
    return path


def atoms_json(atoms) -> dict:
    work = atoms.copy()
    work.calc = None
    return json.loads(encode(work))


def c_scaled(atoms, c_A: float):
    """``atoms`` with its c axis (and the positions) scaled to ``c_A``: a
    structure the c-only relaxation may produce."""
    out = atoms.copy()
    cell = out.cell.array.copy()
    cell[2] *= c_A / cell[2, 2]
    out.set_cell(cell, scale_atoms=True)
    return out


#: hand-chosen energies (eV) of the fabricated checkpoints; E_f(NaC8) by hand:
#: vs AB: -75.26 - 8 (-9.22) - (-1.30) = -0.20 eV per Na
#: vs AA: -75.26 - 8 (-9.21) - (-1.30) = -0.28 eV per Na
FABRICATED = {
    "mu_Na_eV": -1.30,
    "e_AB_eV_per_C": -9.22,
    "e_AA_eV_per_C": -9.21,
    "e_sheet_eV_per_C": -9.17,
    "E_NaC8_eV": -75.26,
    "ef_vs_AB_eV": -0.20,
    "ef_vs_AA_eV": -0.28,
}


def fabricate_checkpoints(logs: Path, gpaw_hash: str, relax_hash: str, tag: str):
    """Checkpoints of bcc Na (no atoms, as the early ones), AB graphite (no atoms),
    graphene, AA graphite and NaC8 (with atoms) in the retired command's format."""
    f = FABRICATED
    write_checkpoint(
        logs,
        gpaw_hash,
        relax_hash,
        f"{tag}-bcc-Na",
        {
            "a_A": 4.20,
            "a_exp_A": 4.23,
            "cohesive_eV": 1.10,
            "cohesive_exp_eV": 1.113,
            "energy_eV": f["mu_Na_eV"],
            "converged": True,
            "wall_s": 12.0,
        },
    )
    write_checkpoint(
        logs,
        gpaw_hash,
        relax_hash,
        f"{tag}-graphite-AB",
        {"spacing_A": 3.40, "energy_eV_per_C": f["e_AB_eV_per_C"], "converged": True},
    )
    write_checkpoint(
        logs,
        gpaw_hash,
        relax_hash,
        f"{tag}-graphene",
        {"energy_eV_per_C": f["e_sheet_eV_per_C"]},
    )
    aa = c_scaled(graphite("AA"), 3.60)
    write_checkpoint(
        logs,
        gpaw_hash,
        relax_hash,
        f"{tag}-graphite-AA",
        {
            "spacing_A": 3.60,
            "energy_eV_per_C": f["e_AA_eV_per_C"],
            "converged": True,
            "atoms": atoms_json(aa),
        },
    )
    nac8 = c_scaled(graphite_intercalation("Na", "NaC8"), 4.50)
    write_checkpoint(
        logs,
        gpaw_hash,
        relax_hash,
        f"{tag}-NaC8",
        {
            "energy_eV": f["E_NaC8_eV"],
            "n_C": 8,
            "c_A": 4.50,
            "converged": True,
            "atoms": atoms_json(nac8),
        },
    )
