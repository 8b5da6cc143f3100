"""GPAW tasks through the campaign machinery, serial and under MPI (tiny settings)."""

import json
import re
import shutil

import pytest

from alkali_layers.cli import main

from .conftest import write_spec

pytestmark = pytest.mark.slow  # GPAW campaigns under mpiexec (minutes)

GPAW_SPEC = """
name = "gpaw_tiny"
analysis = "formation"

[engine]
name = "gpaw"
final = "fast"
relax = "fast"
prerelax = "none"
ecut_eV = 250.0
kpt_density = 1.5
scf_energy_eV = 1e-4
scf_density = 1e-3

[relax]
fmax_eV_A = 0.05

[[models]]
builder = "bulk_metal"
tasks = ["relax"]
[models.grid]
metal = ["Na"]
"""

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


def test_ml_engine_refuses_mpi_ranks(tmp_path, capsys):
    spec = write_spec(tmp_path / "ml")
    assert main(["run", str(spec), "--mpi", "2"]) == 2
    assert "does not run under MPI" in capsys.readouterr().err
