"""MPI start-up for GPAW runs (``mpiexec -n N python -m alkali_layers...``)."""

from __future__ import annotations

import os

_MPI_SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS")


def under_mpi() -> bool:
    """True when started by mpiexec/srun with more than one rank."""
    for name in _MPI_SIZE_VARIABLES:
        value = os.environ.get(name, "1")
        if value.isdigit() and int(value) > 1:
            return True
    return False


def init_mpi() -> None:
    """Bring up GPAW's MPI before ``ase.parallel.world`` is first used.

    ASE picks its communicator when ``world`` is first touched; under mpiexec that
    must be GPAW's (cgpaw backend), or every rank would think it is alone.
    """
    if under_mpi():
        os.environ.setdefault("GPAW_MPI_BACKEND", "cgpaw")
        import gpaw.mpi  # noqa: F401
