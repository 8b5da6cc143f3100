"""Small campaign specs written into temporary directories."""

import textwrap
from pathlib import Path

import pytest

#: the [engine] table of the GPAW campaign tests: seconds per SCF, not converged physics
#: (a spec adds keys of its own on the lines after it, before its next table)
TINY_GPAW_ENGINE = """
[engine]
name = "gpaw"
xc = "PBE"
dispersion = "d3bj"
setups = "paw"
final = "fast"
relax = "fast"
prerelax = "none"
ecut_eV = 250.0
kpt_density = 1.5
scf_energy_eV = 1e-4
scf_density = 1e-3
"""

SMALL = """
name = "{name}"
title = "Na in bilayer graphene (test)"
analysis = "bilayer"

[engine]
name = "mlip"

[relax]
fmax_eV_A = 0.05
max_steps = 200

[[models]]
builder = "bilayer_graphene"
tasks = ["formation_energy"]
[models.grid]
metal = {metals}
n_layers = {layers}
stacking = ["AA"]
[models.params]
max_strain = {max_strain}
"""


def write_spec(
    directory: Path,
    name="small",
    metals='["Na"]',
    layers="[1, 2]",
    max_strain=0.02,
    text=None,
) -> Path:
    """Write a campaign.toml into ``directory`` and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "campaign.toml"
    body = (
        text
        if text is not None
        else SMALL.format(
            name=name, metals=metals, layers=layers, max_strain=max_strain
        )
    )
    path.write_text(textwrap.dedent(body))
    return path


@pytest.fixture
def small_spec(tmp_path):
    """Na 1 and 2 layers in AA bilayer graphene: 2 models + 2 references."""
    return write_spec(tmp_path / "small")
