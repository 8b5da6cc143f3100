"""GPAW tasks through the campaign machinery, serial and under MPI (tiny settings)."""

import json
import re
import shutil

import pytest

from alkali_layers.cli import main

from .conftest import TINY_GPAW_ENGINE, write_spec

pytestmark = pytest.mark.slow  # GPAW campaigns under mpiexec (minutes)

GPAW_SPEC = (
    """
name = "gpaw_tiny"
analysis = "formation"
"""
    + TINY_GPAW_ENGINE
    + """
[relax]
fmax_eV_A = 0.05

[[models]]
builder = "bulk_metal"
tasks = ["relax"]
[models.grid]
metal = ["Na"]
"""
)

needs_mpi = pytest.mark.skipif(shutil.which("mpiexec") is None, reason="no mpiexec")


def result_of(spec):
    (path,) = (spec.parent / "tasks").glob("*/result.json")
    return json.loads(path.read_text())


@needs_mpi
def test_two_mpi_ranks_give_the_serial_energy(tmp_path):
    serial = write_spec(tmp_path / "serial", text=GPAW_SPEC)
    parallel = write_spec(tmp_path / "parallel", text=GPAW_SPEC)
    assert main(["run", str(serial), "--workers", "1"]) == 0
    assert main(["run", str(parallel), "--mpi", "2"]) == 0
    one, two = result_of(serial), result_of(parallel)
    assert one["status"] == two["status"] == "ok"
    assert one["provenance"]["mpi_ranks"] == 1 and two["provenance"]["mpi_ranks"] == 2
    assert two["energy_eV"] == pytest.approx(one["energy_eV"], abs=1e-5)
    assert two["scf_iterations"]["final"] > 0
    folder = next((parallel.parent / "tasks").glob("*"))
    assert (folder / "gpaw-final.txt").exists()  # the GPAW log beside the result
    # the two ranks shared out k-points (the only layout without ScaLAPACK)
    assert re.search(r"kpt:\s+2\b", (folder / "gpaw-final.txt").read_text())


@needs_mpi
def test_a_cell_with_fewer_kpoints_than_ranks_fails_with_what_to_do(tmp_path):
    from gpaw.utilities import compiled_with_sl

    if compiled_with_sl():
        pytest.skip("GPAW with ScaLAPACK parallelizes over domains and bands too")
    gamma_only = GPAW_SPEC.replace("kpt_density = 1.5", "kpt_density = 0.1")
    spec = write_spec(tmp_path / "gamma", text=gamma_only)
    assert main(["run", str(spec), "--mpi", "2"]) == 0
    result = result_of(spec)
    # before: an AssertionError deep inside GPAW's BLACSDistribution
    assert result["status"] == "failed"
    assert "built without ScaLAPACK" in result["reason"]
    assert "fewer ranks" in result["reason"]
    assert "--mpi 1" in result["reason"] and ".." not in result["reason"]
    assert result["reason"].count("GPAW cannot use these MPI ranks") == 1


def test_ml_engine_refuses_mpi_ranks(tmp_path, capsys):
    spec = write_spec(tmp_path / "ml")
    assert main(["run", str(spec), "--mpi", "2"]) == 2
    assert "does not run under MPI" in capsys.readouterr().err


ERROR_BARS_SPEC = (
    """
name = "gpaw_error_bars"
analysis = "formation"
"""
    + TINY_GPAW_ENGINE
    + """error_bars = true
reference_kpt_density = 1.5

[relax]
fmax_eV_A = 0.1

[[models]]
builder = "graphite_intercalation"
tasks = ["single_point", "formation_energy"]
[models.grid]
metal = ["K"]
stoichiometry = ["KC8"]
"""
)


def test_error_bars_give_the_beef_ensemble_spread_of_each_formation_energy(tmp_path):
    """One BEEF-vdW calculation per structure: E_f of every ensemble member from
    the members' energies (model, graphite per C, bcc K per atom), its standard
    deviation in the table next to E_f."""
    import csv

    import numpy as np

    from alkali_layers.campaigns.campaign import Campaign
    from alkali_layers.engines.gpaw import BEEF_ENSEMBLE_SIZE

    spec = write_spec(tmp_path / "bars", text=ERROR_BARS_SPEC)
    assert main(["run", str(spec), "--workers", "1"]) == 0
    campaign = Campaign(spec, stream=False)
    (row,), failed = campaign.model_rows()
    assert not failed
    model = np.asarray(row["data"]["beef_ensemble_eV"])
    assert model.shape == (BEEF_ENSEMBLE_SIZE,)
    refs = {}
    for e in campaign.entries():
        if e.task.role == "reference":
            stored = campaign.store.find(e.key)
            ensemble = np.asarray(stored.data["outcome"]["beef_ensemble_eV"])
            symbols = stored.toatoms().get_chemical_symbols()
            unit = len(symbols) if stored.get("host") == "bulk" else symbols.count("C")
            refs[stored.get("host")] = ensemble / unit
    by_hand = model - 8 * refs["graphite"] - refs["bulk"]
    assert row["formation_energy_std_eV"] == pytest.approx(np.std(by_hand))
    assert 0.0 < row["formation_energy_std_eV"] < 1.0
    with open(spec.parent / "table.csv") as fh:
        (line,) = list(csv.DictReader(fh))
    assert float(line["formation_energy_std_eV"]) == pytest.approx(
        row["formation_energy_std_eV"], abs=1e-3
    )
    assert "BEEF-vdW ensemble" in (spec.parent / "table.md").read_text()
    # the checkpoint kept during each BEEF-vdW step goes with the finished result
    assert not list((spec.parent / "tasks").glob("*/result_before_error_bars.json"))
